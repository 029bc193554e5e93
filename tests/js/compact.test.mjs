import { test } from "node:test";
import assert from "node:assert/strict";
import { addColumns, addReading, addStep, decodeFrame, hasExact, stepFrames, traceFromStart } from "../../static/js/api.js";
import { cellText } from "../../static/js/charts.js";
import { readingRows, stepView } from "../../static/js/view.js";
import { valueRows, valueText } from "../../static/js/units-view.js";

const TYPES = { float64: Float64Array, float32: Float32Array, int16: Int16Array, int32: Int32Array, uint16: Uint16Array };

// A binary frame laid out as app/api/binframes.py binary_frame writes it.
function encode(header, arrays) {
  const head = new TextEncoder().encode(JSON.stringify({ ...header, arrays: arrays.map(([n, k, d, v]) => [n, k, d, v.length]) }));
  const pad8 = (x) => x + ((8 - (x % 8)) % 8);
  let size = pad8(4 + head.length);
  for (const [, , dtype, v] of arrays) size = pad8(size + v.length * TYPES[dtype].BYTES_PER_ELEMENT);
  const buffer = new ArrayBuffer(size);
  new DataView(buffer).setUint32(0, head.length, true);
  new Uint8Array(buffer, 4, head.length).set(head);
  let offset = pad8(4 + head.length);
  for (const [, , dtype, v] of arrays) {
    new TYPES[dtype](buffer, offset, v.length).set(v);
    offset = pad8(offset + v.length * TYPES[dtype].BYTES_PER_ELEMENT);
  }
  return buffer;
}

// A one-layer LSTM trace of 2 steps and 3 units, streamed as the step page gets it.
function compactTrace() {
  const trace = traceFromStart({ cell: "lstm", num_layers: 1, hidden_size: 3, gates: ["i", "f", "g", "o"], inputs: [[1], [0]] });
  const rows = (n) => Array.from({ length: 6 }, (_, k) => n + k);
  const steps = decodeFrame(encode({ type: "steps", t: 0, n: 2, decimals: 4 }, [
    ...["i", "f", "g", "o"].map((g) => [`gates.${g}`, 0, "int16", rows(1000)]),
    ["c", 0, "int32", [40000, -2147483648, -32768, 2, 3, 4]],
    ["h", 0, "int16", [-32768, -5000, 313, 0, 1, 2]],
  ]));
  for (const frame of stepFrames(steps)) addStep(trace, frame);
  return trace;
}

test("every integer a heatmap can carry prints, to 4 decimals, its own digits", () => {
  // binframes.rounded sends n = the integer toFixed(4) prints of v; n / 10^4 must print n again
  for (let n = -32767; n <= 32767; n += 1) {
    const digits = `${n < 0 ? "-" : ""}${Math.floor(Math.abs(n) / 1e4)}.${String(Math.abs(n) % 1e4).padStart(4, "0")}`;
    assert.equal((n / 1e4).toFixed(4), digits === "-0.0000" ? "0.0000" : digits, String(n));
  }
});

test("a compact steps block fills the heatmaps' values and leaves the exact rows empty", () => {
  const trace = compactTrace();
  const L = trace.layers[0];
  assert.equal(L.heat.decimals, 4);
  assert.deepEqual(L.heat.h, [[null, -0.5, 0.0313], [0, 0.0001, 0.0002]]); // the smallest int16: null
  assert.deepEqual(L.heat.c[0], [4, null, -3.2768]); // int32, its own smallest value: null
  assert.deepEqual(L.h, [[null, null, null], [null, null, null]]); // nothing exact yet
  assert.deepEqual(L.gates.f, [[null, null, null], [null, null, null]]);
  // the views read nothing they could mistake for an exact number
  const view = stepView(trace, { t: 1, unit: "2", layer: 0 });
  assert.equal(view.h, null);
  assert.equal(view.gates.f, null);
  assert.equal(hasExact(trace, 0, "2"), false);
});

test("a unit's columns come exact into the rows, and the view is complete once they have", () => {
  const trace = compactTrace();
  const fwd = decodeFrame(encode({ type: "columns", t: 0, n: 2, layer: 0, unit: 2, width: 3 }, [
    ["gates.f", 0, "float64", [0.1234567890123, 1 / 3]],
    ["h", 0, "float64", [NaN, -(2 ** -30)]],
  ]));
  addColumns(trace, fwd);
  const L = trace.layers[0];
  assert.deepEqual(L.gates.f, [[null, null, 0.1234567890123], [null, null, 1 / 3]]);
  assert.deepEqual(L.h.map((row) => row[2]), [null, -(2 ** -30)]);
  assert.equal(hasExact(trace, 0, "2"), true);
  assert.equal(hasExact(trace, 0, "mean"), false); // the mean needs every unit
  assert.equal(stepView(trace, { t: 1, unit: "2", layer: 0 }).gates.f, 1 / 3);
  // once the gradients have begun, the view waits for the unit's dL/dh and dL/dc as well
  trace.gradFrom = 1;
  assert.equal(hasExact(trace, 0, "2"), false);
  const back = decodeFrame(encode({ type: "columns", t: 0, n: 2, layer: 0, unit: 2, width: 3 }, [
    ["grad_h", 0, "float32", [0.5, Math.fround(0.1)]],
    ["grad_c", 0, "float32", [0.25, 0]],
  ]));
  addColumns(trace, back);
  assert.equal(hasExact(trace, 0, "2"), true);
  assert.deepEqual(L.grad_h, [[null, null, 0.5], [null, null, Math.fround(0.1)]]); // float32 as it is
});

test("the reading counts come from the server's block for the thresholds asked", () => {
  const trace = compactTrace();
  addReading(trace, decodeFrame(encode({ type: "reading", t: 0, n: 2, layer: 0, lo: 0.2, hi: 0.8 }, [
    ["closed.f", 0, "uint16", [1, 0]], ["partly.f", 0, "uint16", [2, 1]], ["open.f", 0, "uint16", [0, 2]],
  ])));
  const rows = readingRows(trace, { t: 1, layer: 0, lo: 0.2, hi: 0.8 });
  assert.deepEqual(rows, [{ gate: "f", counts: { closed: 0, "partly open": 1, open: 2 } }]);
  assert.deepEqual(readingRows(trace, { t: 1, layer: 0, lo: 0.1, hi: 0.8 }), []); // other thresholds: not yet
});

test("text from the heatmaps' values is printed to the decimals they were rounded to", () => {
  const trace = compactTrace();
  const rows = valueRows(trace, 0, "h");
  assert.deepEqual(rows[0], [null, -0.5, 0.0313]);
  assert.equal(valueText(trace, 0, rows[0][2]), "0.0313");
  assert.equal(cellText("h", rows, null, { t: 0, unit: 1 }, 2, 4), "step 0 of 0 to 1, unit 1: h = \u22120.5000");
  assert.equal(cellText("h", rows, null, { t: 0, unit: 0 }, 2, 4), "step 0 of 0 to 1, unit 0: h = not computed yet");
});

test("a lesson's quantities name the units whose exact numbers it reads", async () => {
  const { unitsRead } = await import("../../static/js/lesson-eval.js");
  const at = (ref, add = 0) => ({ ref, add });
  const qs = [
    { kind: "series", name: "f", args: [at("t"), at("u")] }, // the unit shown
    { kind: "reading", name: "o", args: [at("t"), at(null, 1)] }, // unit 1, named
    { kind: "series", name: "x", args: [at("t"), at(null, 2)] }, // an input, not a unit
    { kind: "norm", name: "dL/dh", args: [at("t")] },
    undefined,
  ];
  const data = { page: "step", refs: { t: 2, u: 0, T: 4 } };
  assert.deepEqual(unitsRead(qs, data), [0, 1]);
  assert.deepEqual(unitsRead(qs, { ...data, refs: { t: 2, u: null, T: 4 } }), [1]); // the mean: every unit comes anyway
  assert.deepEqual(unitsRead(qs, { page: "compare", refs: {} }), []);
});
