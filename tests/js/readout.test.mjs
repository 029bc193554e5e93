// The step page's readouts, losses and tokens: the loss selector's choices and request, typed
// text through a vocabulary, the Predictions panel's rows and surprise strip, the text axis.
import assert from "node:assert/strict";
import { test } from "node:test";

import { axisMargin, niceStride, stepAxis } from "../../static/js/chart-frame.js";
import { defaultKind, lossBody, lossInfo, lossOptions, lossText } from "../../static/js/loss-choice.js";
import { nextToken, predictionRows, surpriseCells, surpriseColour } from "../../static/js/predictions.js";
import {
  completedText, completedWords, isCharVocab, placeholderTokens, targetsMisfit, tokenId, vocabMisfit,
} from "../../static/js/tokens.js";
import { spanText } from "../../static/js/units-view.js";

const LM = { cell: "lstm", output_size: 5, embedding: { num_embeddings: 5, embedding_dim: 3 } };
const CLASSIFIER = { cell: "lstm", output_size: 3, readout: "final", bidirectional: true };

test("the losses a model offers follow its readout, and the default follows the task", () => {
  const why = (model) => Object.fromEntries(lossOptions(lossInfo(model)).map((o) => [o.value, o.why]));
  assert.deepEqual(why({ cell: "lstm" }), {
    "": null, sum_last: null, next_token: "the model has no readout",
    cross_entropy: "the model has no readout", mse: "the model has no readout",
  });
  assert.equal(why(LM).next_token, null);
  assert.equal(why(CLASSIFIER).next_token, "the readout does not score the input's tokens");
  assert.equal(why({ ...LM, output_size: 1, embedding: null }).cross_entropy, "the readout has one output");
  assert.equal(defaultKind(lossInfo(LM)), "next_token");
  assert.equal(defaultKind(lossInfo(CLASSIFIER)), "cross_entropy");
  assert.equal(defaultKind(lossInfo({ cell: "gru" })), "sum_last");
  assert.equal(defaultKind(lossInfo({ output_size: 4 }, ["a", "b", "c", "d"])), "next_token"); // one-hot
});

test("the request's loss: the task's, a class or the model's own answer, a target for every output", () => {
  const info = lossInfo(CLASSIFIER);
  assert.deepEqual(lossBody({ loss: "" }, info), {});
  assert.deepEqual(lossBody({ loss: "cross_entropy", cls: 2 }, info), { kind: "cross_entropy", target: 2 });
  assert.deepEqual(lossBody({ loss: "cross_entropy", cls: -1 }, info), { kind: "cross_entropy" });
  assert.deepEqual(lossBody({ loss: "mse", mse: 0.5 }, info), { kind: "mse", target: [0.5, 0.5, 0.5] });
  assert.deepEqual(lossBody({ loss: "next_token" }, info), {}); // does not fit: the task's
  assert.match(lossText("cross_entropy", info, 2), /h_n .* against class 2/);
  assert.match(lossText("next_token"), /−log p\(token t\+1\)/);
  assert.match(lossText("sum_last"), /sum of the last hidden state/);
});

test("typed text becomes token ids: characters, or words once a space ends them", () => {
  const vocab = ["<unk>", "a", "b", "the", "cat"];
  assert.equal(tokenId(vocab, "b"), 2);
  assert.equal(tokenId(vocab, "zebra"), 0); // <unk> stands for it
  assert.equal(tokenId(["a"], "z"), -1);
  assert.deepEqual(completedWords("the cat sa"), { words: ["the", "cat"], consumed: 8 });
  assert.deepEqual(completedWords("  cat\n"), { words: ["cat"], consumed: 6 });
  assert.deepEqual(completedWords("ca"), { words: [], consumed: 0 });
  assert.equal(completedText("the cat sa"), "the cat ");
  assert.equal(completedText("cat"), "");
  assert.ok(isCharVocab(["<pad>", "a", " ", "\"", "[UNK]"]));
  assert.ok(!isCharVocab(["<pad>", "the", "a"]));
  assert.deepEqual(placeholderTokens(3), [0, 1, 2]);
  assert.equal(placeholderTokens(1000).length, 24);
});

test("a vocabulary that does not fit the model says why", () => {
  assert.equal(vocabMisfit(LM, ["a", "b", "c"]), null);
  assert.equal(vocabMisfit(LM, ["a", "b", "c", "d", "e", "f"]), "it has 6 tokens, the model's embedding 5 rows");
  assert.equal(vocabMisfit({ input_size: 2 }, ["a", "b", "c"]), "it has 3 tokens, the model reads 2 inputs a step");
  assert.equal(vocabMisfit(null, ["a"]), null);
});

test("the ready-made unit targets need characters, and say why not", () => {
  const tokens = { tokens: [1, 2], labels: ["a", "b"] };
  assert.equal(targetsMisfit({ alphabet: "ab" }, null, "char"), null);
  assert.equal(targetsMisfit(tokens, ["<pad>", "a", "b"], "char"), null);
  assert.match(targetsMisfit(tokens, null, "char"), /upload the model's vocabulary/);
  assert.match(targetsMisfit(tokens, ["<pad>", "a", "b"], "word"), /holds words/);
  assert.match(targetsMisfit({ tokens: [0], labels: ["<unk>"] }, ["<unk>", "a"], "char"), /<unk>/);
  assert.match(targetsMisfit({ inputs: [[0.5]] }, null, "char"), /numbers/);
});

test("the predictions at step t: the top tokens, the one that came next marked, its surprise", () => {
  const trace = {
    steps: 3, tokens: [1, 2, 0], loss_kind: "next_token", loss_steps: [0.5, 2.25],
    predictions: { kind: "next_token", readout: "every_step", ids: [[2, 1], [1, 0], [0, 2]], p: [[0.6, 0.4], [0.7, 0.2], [0.9, 0.1]] },
  };
  const label = (id) => ["x", "y", " "][id];
  const at0 = predictionRows(trace, 0, label);
  assert.equal(at0.title, "After “y” (step 0), the model expects next:");
  assert.deepEqual(at0.rows, [{ label: "␣ (space)", p: 0.6, next: true }, { label: "y", p: 0.4, next: false }]);
  assert.equal(at0.note, "Next came “␣ (space)”: −log p = 0.5.");
  assert.equal(predictionRows(trace, 1, label).note, "Next came “x”: −log p = 2.25.");
  assert.equal(predictionRows(trace, 2, label).note, "The text ends here: nothing came next yet.");
  assert.equal(nextToken({ inputs: [[1, 0], [0, 1]] }, 0), 1); // one-hot rows
  assert.equal(predictionRows({ predictions: null }, 0, label), null);
});

test("a classifier reading h_n shows one row of class probabilities whatever the step", () => {
  const trace = { steps: 9, predictions: { kind: "classes", readout: "final", ids: [[2, 0, 1]], p: [[0.5, 0.3, 0.2]] } };
  const view = predictionRows(trace, 7, String);
  assert.match(view.title, /read once from h_n/);
  assert.deepEqual(view.rows.map((r) => r.label), ["class 2", "class 0", "class 1"]);
});

test("the surprise strip: a cell per token from the second on, binned past the limit", () => {
  const cells = surpriseCells(["a", "b", "c", "d"], [1, 2, 3]);
  assert.deepEqual(cells.map((c) => [c.from, c.to, c.text, c.loss]), [[1, 1, "b", 1], [2, 2, "c", 2], [3, 3, "d", 3]]);
  const binned = surpriseCells(["a", "b", "c", "d", "e"], [1, 2, 3, 4], 2);
  assert.deepEqual(binned.map((c) => [c.from, c.to, c.text, c.loss]), [[1, 2, "bc", 1.5], [3, 4, "de", 3.5]]);
  assert.equal(surpriseColour(0), "rgb(255, 255, 255)");
  assert.notEqual(surpriseColour(1), surpriseColour(0.5));
});

test("the step axis reads as text: every token up to 40 steps, then the text at round strides", () => {
  const short = stepAxis(3, ["a", " ", "b"]);
  assert.deepEqual(short.ticktext, ["a", "␣", "b"]);
  assert.equal(short.title.text, "input character");
  assert.equal(stepAxis(2, ["the", "cat"]).title.text, "input token");
  const text = "the quick brown fox ".repeat(60); // 1,200 steps
  const long = stepAxis(text.length, [...text], 900); // 10 ticks fit in 900 px
  assert.equal(niceStride(1200 / 10), 200);
  assert.equal(long.tickvals.length, 6);
  assert.equal(long.ticktext[1], "200<br>the␣qu");
  assert.equal(axisMargin(long), 72);
  assert.deepEqual(stepAxis(text.length, [...text], 200).tickvals, [0, 1000]); // a phone's heatmap
  assert.equal(stepAxis(100, null).tickvals, undefined);
});

test("a span of words reads with spaces between them", () => {
  assert.equal(spanText(["the", "cat", "sat"], [0, 2]), "steps 0–1: “the cat”");
});

test("a language model reading h_n predicts the token after the whole text", () => {
  const trace = { steps: 4, tokens: [0, 1, 2, 3], predictions: { kind: "next_token", readout: "final", ids: [[1, 0]], p: [[0.8, 0.2]] } };
  const view = predictionRows(trace, 2, (id) => "ab"[id]);
  assert.equal(view.title, "After the whole text (read once, from h_n), the model expects next:");
  assert.deepEqual(view.rows, [{ label: "b", p: 0.8, next: false }, { label: "a", p: 0.2, next: false }]);
});
