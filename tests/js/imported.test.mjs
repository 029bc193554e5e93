import { test } from "node:test";
import assert from "node:assert/strict";
import * as imported from "../../static/js/imported.js";
import { stepView, inputLabel, charLabels, gradLabel } from "../../static/js/view.js";

const bidi = { bidirectional: true, hidden_size: [4, 3], num_layers: 2 };

test("a bidirectional trace's entries are [l0, l0 reverse, l1, l1 reverse] with per-layer widths", () => {
  assert.equal(imported.entryIndex(bidi, 1, "reverse"), 3);
  assert.deepEqual(imported.entryParts(bidi, 2), { layer: 1, direction: "forward" });
  assert.deepEqual([0, 1, 2, 3].map((k) => imported.widthOf(bidi, k)), [4, 4, 3, 3]);
  assert.equal(imported.layerName(bidi, 3), "layer 1 reverse (3 units)");
  const plain = { hidden_size: 5, num_layers: 2 };
  assert.equal(imported.entryIndex(plain, 1, "forward"), 1);
  assert.equal(imported.widthOf(plain, 1), 5);
});

test("a reverse direction's previous state is the next row, zero at the last step", () => {
  const tr = {
    cell: "rnn", bidirectional: true, steps: 2, inputs: [[1], [2]],
    layers: [{ gates: {}, c: null, h: [[0.1], [0.2]] }, { gates: {}, c: null, h: [[0.3], [0.4]] }],
  };
  assert.equal(stepView(tr, { t: 0, unit: "0", layer: 1 }).hPrev, 0.4);
  assert.equal(stepView(tr, { t: 0, unit: "0", layer: 1 }).prevStep, "t+1");
  assert.equal(stepView(tr, { t: 0, unit: "0", layer: 0 }).prevStep, "t−1");
  assert.equal(stepView(tr, { t: 1, unit: "0", layer: 1 }).hPrev, 0);
  assert.equal(stepView(tr, { t: 1, unit: "0", layer: 0 }).hPrev, 0.1);
  assert.match(inputLabel(tr, 0, 1), /reverse: it reads the sequence from the end/);
});

test("token ids or one-hot rows over a vocabulary label the steps with their tokens", () => {
  const vocab = ["<unk>", "the", "cat"];
  assert.deepEqual(imported.tokenLabels({ tokens: [1, 2, 0] }, vocab), ["the", "cat", "<unk>"]);
  assert.deepEqual(imported.tokenLabels({ tokens: [1] }, null), ["#1"]);
  const onehot = { input_size: 3, inputs: [[0, 0, 1], [0, 1, 0]] };
  assert.deepEqual(imported.tokenLabels(onehot, vocab), ["cat", "the"]);
  assert.equal(imported.tokenLabels({ input_size: 2, inputs: [[1, 0]] }, vocab), null);
  const tr = { labels: ["the", "cat"], inputs: [[0.3, 0.1], [0.2, 0.5]], layers: [] };
  assert.equal(inputLabel(tr, 1), "Step 1: input “cat”");
  assert.deepEqual(charLabels(tr), ["the", "cat"]);
});

test("text goes through the vocabulary; a model with an embedding needs its vocabulary", () => {
  assert.deepEqual(imported.textInput({ text: "ab" }, null, null, "char"), { text: "ab" });
  assert.deepEqual(imported.textInput({ text: "the cat" }, {}, ["the", "cat"], "word"),
    { text: "the cat", vocab: ["the", "cat"], level: "word" });
  assert.throws(() => imported.textInput({ text: "bab" }, { embedding: {} }, null, "char"),
    /upload its vocabulary/);
  assert.deepEqual(imported.textInput({ sequence: [[1]] }, { embedding: {} }, ["a"], "char"),
    { sequence: [[1]] });
  const fields = imported.modelFields({ cell: "lstm", bidirectional: true, file: "m.keras" });
  assert.deepEqual(fields, { cell: "lstm", bidirectional: true });
});

test("an exact zero gradient reads 0, not 'not yet'", () => {
  const tr = { layers: [{ grad_h_log10_norm: [null, -1], grad_h_norm: [0, 0.1], grad_c_log10_norm: null }] };
  assert.equal(gradLabel(tr, { t: 0, layer: 0 }, 0), "At step 0: ‖∂L/∂h‖ = 0");
  assert.equal(gradLabel(tr, { t: 0, layer: 0 }, 1), "At step 0: ‖∂L/∂h‖ = not yet");
});

test("a model is described as a practitioner would check it: cell, widths, directions, embedding", () => {
  assert.equal(
    imported.describeModel({ cell: "lstm", num_layers: 2, hidden_size: [64, 32], bidirectional: true,
      embedding: { num_embeddings: 1000, embedding_dim: 16 }, output_size: 10 }),
    "LSTM, 2 layers of 64 and 32 units, bidirectional, reading token ids through an embedding (1000 tokens × 16), 10 outputs",
  );
  assert.equal(imported.describeModel({ cell: "rnn", nonlinearity: "relu", hidden_size: 8, input_size: 3 }),
    "ReLU RNN, 1 layer of 8 units, 3 inputs");
  assert.equal(imported.describeModel({ cell: "lstm", variant: "no_forget_gate", num_layers: 3, hidden_size: [4, 4, 2], input_size: 1, output_size: 1 }),
    "LSTM (no forget gate), 3 layers of 4, 4 and 2 units, 1 input, 1 output");
});
