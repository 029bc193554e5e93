import { test } from "node:test";
import assert from "node:assert/strict";
import { pick, stepView, readingRows, inputLabel, charLabels } from "../../static/js/view.js";

const tiny = {
  cell: "lstm", alphabet: "ab", inputs: [[1, 0], [0, 1]],
  layers: [{
    gates: { i: [[0.5, 0.005], [0.96, 0.2]], f: [[0.1, 0.2], [0.3, 0.4]], g: [[0, 0], [0, 0]], o: [[1, 1], [1, 1]] },
    c: [[0.25, -0.5], [0.75, 1]], h: [[0.1, 0.2], [0.3, null]],
  }],
};

test("a step view picks one unit, or the mean, and zero before the first step", () => {
  const v = stepView(tiny, { t: 1, unit: "0", layer: 0 });
  assert.deepEqual([v.gates.i, v.cPrev, v.c, v.hPrev, v.h], [0.96, 0.25, 0.75, 0.1, 0.3]);
  const first = stepView(tiny, { t: 0, unit: "1", layer: 0 });
  assert.deepEqual([first.cPrev, first.hPrev], [0, 0]);
  assert.equal(stepView(tiny, { t: 0, unit: "mean", layer: 0 }).c, -0.125);
  assert.equal(pick([0.5, null], "mean"), null); // a non-finite unit makes the mean unknown
});

test("gate reading rows count units per sigmoid gate; text inputs label the steps", () => {
  const rows = readingRows(tiny, { t: 0, layer: 0, lo: 0.01, hi: 0.95 });
  assert.deepEqual(rows.map((r) => r.gate), ["i", "f", "o"]); // g is a tanh, not a gate
  assert.deepEqual(rows[0].counts, { closed: 1, "partly open": 1, open: 0, unknown: 0 });
  assert.equal(inputLabel(tiny, 1), "Step 1: input “b”");
  assert.deepEqual(charLabels(tiny), ["a", "b"]);
});

import { normText, gradLabel } from "../../static/js/view.js";

test("gradient norms read as numbers, even far below the float range", () => {
  assert.equal(normText(Math.log10(0.0631)), "0.0631");
  assert.equal(normText(-500.5), "3.16×10^\u2212501");
  assert.equal(normText(null), "not yet");
  const tr = { layers: [{ grad_h_log10_norm: [-2, 0], grad_c_log10_norm: null }] };
  assert.equal(gradLabel(tr, { t: 0, layer: 0 }, 0), "At step 0: ‖∂L/∂h‖ = 0.01");
  assert.equal(gradLabel(tr, { t: 0, layer: 0 }, 1), "At step 0: ‖∂L/∂h‖ = not yet");
});
