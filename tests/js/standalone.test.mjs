import { test } from "node:test";
import assert from "node:assert/strict";
import { CIVIDIS, DIVERGING } from "../../static/js/encodings.js";
import { lut, ticks } from "../../static/js/mini-charts.js";
import { traceOf } from "../../static/js/standalone.js";
import { stepView } from "../../static/js/view.js";

const f32 = (values) => Buffer.from(new Float32Array(values).buffer).toString("base64");
const f64 = (values) => Buffer.from(new Float64Array(values).buffer).toString("base64");

test("a colour scale's table starts and ends on its end colours and passes its middle stop", () => {
  const hex = (table, n) => `#${[0, 1, 2].map((j) => table[3 * n + j].toString(16).padStart(2, "0")).join("")}`;
  const civ = lut(CIVIDIS);
  assert.equal(hex(civ, 0), CIVIDIS[0][1]);
  assert.equal(hex(civ, 255), CIVIDIS.at(-1)[1]);
  const div = lut(DIVERGING);
  assert.deepEqual([div[3 * 127], div[3 * 128]].map((v) => Math.abs(v - 0xf7) <= 2), [true, true]);
});

test("ticks: every label when few, else round steps inside the window", () => {
  assert.deepEqual(ticks(3, ["a", " ", "b"]), [[0, "a"], [1, "␣"], [2, "b"]]);
  assert.deepEqual(ticks(200, null).map(([, s]) => s), ["0", "50", "100", "150"]);
  const window = ticks(100, null, 2500); // steps 2500..2599
  assert.deepEqual(window[0], [0, "2500"]);
  assert.ok(window.every(([k]) => k >= 0 && k < 100));
});

test("the payload reads as a trace indexed by the run's own steps, the row before the window too", () => {
  // steps [2, 4) of a 5-step LSTM, width 2, with step 1 carried for c_{t-1} and h_{t-1}
  const rows = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]];
  const fields = Object.fromEntries(["i", "f", "g", "o", "c", "h"].map((k) => [k, f32(rows.flat())]));
  const data = {
    cell: "lstm", variant: "standard", total_steps: 5, t0: 2, steps: 2, first: 1, num_layers: 1,
    bidirectional: false, labels: ["x", "y", "z"], inputs: null, input_size: 3,
    layers: [{ name: "layer 0", width: 2, out_width: 2, fields,
      grad_h_norm: f64([1, 2, 3, 4, 5]), grad_h_log10_norm: f64([0, NaN, 1, 2, 3]), grad_c_norm: null, grad_c_log10_norm: null }],
  };
  const tr = traceOf(data);
  assert.equal(tr.layers[0].h[1][0], Math.fround(0.1));
  assert.equal(tr.layers[0].c[3][1], Math.fround(0.6));
  assert.equal(tr.layers[0].h[0], undefined); // before the data: not carried
  assert.deepEqual(tr.layers[0].grad_h_log10_norm, [0, null, 1, 2, 3]);
  assert.equal(tr.labels[2], "y");
  const v = stepView(tr, { t: 2, unit: "1", layer: 0 });
  assert.deepEqual([v.cPrev, v.c], [Math.fround(0.2), Math.fround(0.4)]);
});
