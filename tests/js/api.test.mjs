import { test } from "node:test";
import assert from "node:assert/strict";
import { addGrad, addStep, decodeFrame, stepFrames, traceFromStart } from "../../static/js/api.js";

// A binary frame laid out as app/api/binframes.py binary_frame writes it.
function encode(header, arrays) {
  const head = new TextEncoder().encode(JSON.stringify({ ...header, arrays: arrays.map(([n, k, d, v]) => [n, k, d, v.length]) }));
  const pad8 = (x) => x + ((8 - (x % 8)) % 8);
  let size = pad8(4 + head.length);
  for (const [, , dtype, v] of arrays) size = pad8(size + v.length * (dtype === "float64" ? 8 : 4));
  const buffer = new ArrayBuffer(size);
  new DataView(buffer).setUint32(0, head.length, true);
  new Uint8Array(buffer, 4, head.length).set(head);
  let offset = pad8(4 + head.length);
  for (const [, , dtype, v] of arrays) {
    const Type = dtype === "float64" ? Float64Array : Float32Array;
    new Type(buffer, offset, v.length).set(v);
    offset = pad8(offset + v.length * Type.BYTES_PER_ELEMENT);
  }
  return buffer;
}

test("a steps block becomes one step frame per step with exact rows", () => {
  const h = [0.1, 0.2, 1 / 3, NaN]; // 2 steps x 2 units
  const f = [0.5, 0.25, 0.125, 2 ** -40];
  const block = decodeFrame(encode({ type: "steps", t: 4, n: 2 }, [["gates.f", 0, "float64", f], ["h", 0, "float64", h]]));
  const frames = stepFrames(block);
  assert.deepEqual(frames.map((fr) => fr.t), [4, 5]);
  assert.deepEqual(frames[0].layers[0], { gates: { f: [0.5, 0.25] }, c: null, h: [0.1, 0.2] });
  assert.deepEqual(frames[1].layers[0].h, [1 / 3, null]); // non-finite: null, as in the JSON answer
  assert.equal(frames[1].layers[0].gates.f[1], 2 ** -40);
});

test("a grads block becomes grad frames from the last step down, norms per step", () => {
  const block = decodeFrame(
    encode({ type: "grads", t: 0, n: 3 }, [
      ["grad_h_log10_norm", 0, "float64", [-3, -2, -1]],
      ["grad_h_norm", 1, "float32", [0.5, 0.25, 0.125]],
    ]),
  );
  const frames = stepFrames(block);
  assert.deepEqual(frames.map((fr) => fr.t), [2, 1, 0]);
  assert.deepEqual(frames[0].layers, [{ grad_h_log10_norm: -1 }, { grad_h_norm: 0.125 }]);
});

test("frames from a block assemble into the trace a JSON stream gives", () => {
  const trace = traceFromStart({ cell: "rnn", num_layers: 1, hidden_size: 1, gates: [], inputs: [[1], [2]] });
  const steps = decodeFrame(encode({ type: "steps", t: 0, n: 2 }, [["h", 0, "float64", [0.75, -0.5]]]));
  for (const fr of stepFrames(steps)) addStep(trace, fr);
  trace.layers[0].grad_h_log10_norm = [null, null];
  const grads = decodeFrame(encode({ type: "grads", t: 0, n: 2 }, [["grad_h_log10_norm", 0, "float64", [-1, 0]]]));
  for (const fr of stepFrames(grads)) addGrad(trace, fr);
  assert.deepEqual(trace.layers[0].h, [[0.75], [-0.5]]); // H = 1: still one row per step
  assert.deepEqual(trace.layers[0].grad_h_log10_norm, [-1, 0]);
  assert.equal(trace.gradFrom, 0);
  assert.deepEqual(trace.inputs, [[1], [2]]);
});
