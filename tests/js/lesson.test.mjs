import { test } from "node:test";
import assert from "node:assert/strict";
import { answer, formatValue, holds, pageData, trainRun, value } from "../../static/js/lesson-eval.js";
import { parseLessonPath, stopUrl } from "../../static/js/lesson.js";

const ref = (r, add = 0) => ({ ref: r, add });
const num = (add) => ({ ref: null, add });
const q = (kind, name, args = [], extra = {}) => ({ kind, name, args, src: name, ...extra });

// Two steps, two units; the loss is the sum of h at the last step.
const trace = {
  cell: "lstm", steps: 2, hidden_size: 2, loss: 0.5, inputs: [[1, 0], [0, 1]],
  layers: [{
    gates: { i: [[0.5, 0.25], [0.8, 0.2]], f: [[0.9, 0.1], [0.96, 0.005]], g: [[0.5, -1], [0.25, 0.5]], o: [[0.5, 1], [0.25, 0.75]] },
    c: [[0.25, -0.25], [0.5, 0.1]], h: [[0.1, -0.2], [0.1, 0.07]],
    grad_h: [[0.2, 0.4], [1, 1]], grad_c: [[0.3, 0.1], [0.2, 0.6]],
    grad_h_log10_norm: [-1, 0.15], grad_c_log10_norm: [-2, -0.5],
  }],
};
const step = (t, unit = "0") => pageData("step", { lstmExplainer: { state: { t, unit, layer: 0, lo: 0.01, hi: 0.95 }, trace } });

test("step quantities follow the view's step and unit", () => {
  assert.equal(value(q("series", "f", [ref("t"), ref("u")]), step(1)), 0.96);
  assert.equal(value(q("series", "f", [ref("t"), ref("u")]), step(1, "1")), 0.005);
  assert.equal(value(q("series", "f", [ref("t", -1), num(1)]), step(1)), 0.1);
  assert.equal(value(q("series", "c", [ref("t"), ref("u")]), step(0, "mean")), 0);
});

test("kept, written and the split of dL/dc are the cell's equations", () => {
  const d = step(1);
  assert.equal(value(q("series", "kept", [num(1), num(0)]), d), 0.96 * 0.25);
  assert.equal(value(q("series", "written", [num(1), num(0)]), d), 0.8 * 0.25);
  assert.equal(value(q("series", "kept", [num(0), num(0)]), d), 0); // c before step 0 is 0
  assert.equal(value(q("series", "dL/dc_belt", [num(0), num(1)]), d), 0.005 * 0.6);
  assert.equal(value(q("series", "dL/dc_belt", [num(1), num(1)]), d), 0); // nothing after the last step
  const out = 0.25 * (1 - Math.tanh(0.5) ** 2) * 1;
  assert.equal(value(q("series", "dL/dc_out", [num(1), num(0)]), d), out);
});

test("norms and ratios come from the exact log10 norms; readings use the thresholds", () => {
  const d = step(1, "1");
  assert.equal(value(q("norm", "dL/dh", [num(0)]), d), 0.1);
  assert.ok(Math.abs(value(q("ratio", "dL/dc", [num(0), ref("T", -1)]), d) - 10 ** -1.5) < 1e-15);
  assert.equal(value(q("reading", "f", [ref("t"), ref("u")]), d), "closed");
  assert.equal(value(q("reading", "f", [num(1), num(0)]), d), "open");
  assert.equal(value(q("reading", "i", [num(0), num(0)]), d), "partly open");
});

test("an index outside the run, or a page without its numbers, is pending (null)", () => {
  assert.equal(value(q("series", "f", [ref("t", 1), ref("u")]), step(1)), null);
  assert.equal(pageData("step", {}), null);
  assert.equal(value(q("scalar", "loss"), null), null);
});

test("conditions and computed answers", () => {
  const d = step(1);
  const f = q("series", "f", [ref("t"), ref("u")]);
  const n = (v) => ({ kind: "number", value: v });
  assert.equal(holds({ a: f, op: ">", b: n(0.95) }, d), true);
  assert.equal(holds({ a: f, op: "<=", b: n(0.95) }, d), false);
  assert.equal(holds({ a: f, op: "~=", b: n(0.96 + 1e-12) }, d), true);
  assert.equal(holds({ a: q("series", "f", [ref("t", 5), ref("u")]), op: ">", b: n(0) }, d), null);
  const question = {
    answer: null,
    choices: [{ text: "yes", when: { a: f, op: ">", b: n(0.5) } }, { text: "no", when: { a: f, op: "<=", b: n(0.5) } }],
  };
  assert.deepEqual(answer(question, d), ["yes"]);
  assert.deepEqual(answer({ answer: q("reading", "f", [ref("t"), ref("u")]), choices: [] }, d), ["open"]);
});

test("lab quantities are fractions of the end's gradient", () => {
  const lab = { lstmxLab: { state: { k: 2 }, answer: { steps: 3, hidden_size: 4, cells: { rnn: { grad_h_log10: [0, -1, -3], fit_h: { factor: 0.1 }, hochreiter: { typical: 0.2 } } } } } };
  const d = pageData("compare", lab);
  assert.equal(value(q("lab_curve", "rnn.dL/dh", [ref("k")], { cell: "rnn", field: "dL/dh" }), d), 0.001);
  assert.equal(value(q("lab_scalar", "rnn.hs", [], { cell: "rnn", field: "hs" }), d), 0.2);
  assert.equal(value(q("lab_scalar", "lstm.hs", [], { cell: "lstm", field: "hs" }), d), null);
});

test("a training run shows its latest step, loss and final metric", () => {
  const run = { card: { dataset: { step: "600" } }, losses: [[1, 0.3], [600, 0.002]], evals: [[575, 0.004]], doneMetric: 0.0019 };
  assert.deepEqual(trainRun(run), { step: 600, loss: 0.002, metric: 0.0019 });
  assert.deepEqual(trainRun({ card: { dataset: {} }, losses: [], evals: [] }), { step: null, loss: null, metric: null });
});

test("formats: percent, decimals, digits, powers, true minus signs", () => {
  assert.equal(formatValue(0.97312, { style: "percent", n: 0 }), "97%");
  assert.equal(formatValue(0.97312, { style: "percent", n: 1 }), "97.3%");
  assert.equal(formatValue(-0.26228, { style: "decimals", n: 2 }), "−0.26");
  assert.equal(formatValue(0.97312, { style: "digits", n: 3 }), "0.973");
  assert.equal(formatValue(1234.5, { style: "digits", n: 3 }), "1235");
  assert.equal(formatValue(1.7515e-7, { style: "power", n: 3 }), "1.75×10^−7");
  assert.equal(formatValue(9.996e-5, { style: "power", n: 3 }), "1.00×10^−4"); // the mantissa rounds up
  assert.equal(formatValue(2e-5, { style: "digits", n: 2 }), "2.0×10^−5");
  assert.equal(formatValue(0, { style: "power", n: 3 }), "0");
  assert.equal(formatValue(20, { style: "digits", n: 3 }), "20"); // a step is no measurement
  assert.equal(formatValue(1, { style: "digits", n: 3 }), "1");
  assert.equal(formatValue(null, { style: "digits", n: 3 }), "…");
  assert.equal(formatValue("open", { style: "digits", n: 3 }), "open");
});

test("stop URLs carry the view; own lessons carry their page", () => {
  const lesson = { slug: "s", stops: [{ page: "step", view: "t=2" }, { page: "compare", view: "" }] };
  assert.equal(stopUrl(lesson, 1, false), "/lessons/s/1?t=2");
  assert.equal(stopUrl(lesson, 2, false), "/lessons/s/2");
  assert.equal(stopUrl(lesson, 2, true), "/lessons/own/compare/2");
  assert.deepEqual(parseLessonPath("/lessons/s/3"), { slug: "s", k: 3, own: false });
  assert.deepEqual(parseLessonPath("/lessons/own/train/1"), { slug: null, k: 1, own: true });
  assert.equal(parseLessonPath("/compare"), null);
});
