import { test } from "node:test";
import assert from "node:assert/strict";
import {
  applies, describeHold, formatHolds, heldAt, holdSteps, parseHold, parseHolds, toClamp,
} from "../../static/js/holds.js";

test("the compact form parses into holds and formats back unchanged", () => {
  const text = "f:1@5-9/u2;i:0@*;g:-0.5@3/l1;o:0.25@0-0";
  const holds = parseHolds(text);
  assert.deepEqual(holds[0], { gate: "f", value: 1, from: 5, to: 9, unit: 2, layer: 0 });
  assert.deepEqual(holds[1], { gate: "i", value: 0, from: null, to: null, unit: null, layer: 0 });
  assert.deepEqual(holds[2], { gate: "g", value: -0.5, from: 3, to: 3, unit: null, layer: 1 });
  assert.equal(formatHolds(holds), "f:1@5-9/u2;i:0@*;g:-0.5@3/l1;o:0.25@0");
});

test("malformed or out-of-range entries are dropped, the rest kept", () => {
  for (const bad of ["x:1@*", "f:1.5@*", "f:-0.1@*", "g:-2@*", "f:1@9-5", "f:1@", "f1@*", "f:1@*/u", ""]) {
    assert.equal(parseHold(bad), null, bad);
  }
  assert.equal(parseHolds("f:2@*;z:1@4").length, 1);
});

test("a hold covers its steps, cut at the end of the run", () => {
  assert.deepEqual(holdSteps(parseHold("f:1@*"), 4), [0, 1, 2, 3]);
  assert.deepEqual(holdSteps(parseHold("f:1@2-9"), 5), [2, 3, 4]);
  assert.deepEqual(holdSteps(parseHold("f:1@7"), 5), []);
});

test("the clamp list names steps, gate, value, units and layer as /api/trace takes them", () => {
  const model = { gates: ["i", "f", "g", "o"], hidden: 4, layers: 2, steps: 6 };
  const clamp = toClamp(parseHolds("f:1@*;i:0@2-3/u1/l1;o:1@9;z:1@*;g:0.5@0/u7"), model);
  assert.deepEqual(clamp, [
    { t: [0, 1, 2, 3, 4, 5], gate: "f", value: 1, layer: 0 },
    { t: [2, 3], gate: "i", value: 0, layer: 1, units: [1] },
  ]);
  assert.equal(applies(parseHold("z:1@*"), model), false);
});

test("heldAt follows step, unit and layer; the mean view counts any unit", () => {
  const holds = parseHolds("f:1@5-9/u2");
  assert.ok(heldAt(holds, { gate: "f", t: 5, unit: "2", layer: 0 }));
  assert.ok(!heldAt(holds, { gate: "f", t: 10, unit: "2", layer: 0 }));
  assert.ok(!heldAt(holds, { gate: "f", t: 6, unit: "1", layer: 0 }));
  assert.ok(heldAt(holds, { gate: "f", t: 6, unit: "mean", layer: 0 }));
  assert.ok(!heldAt(holds, { gate: "i", t: 6, unit: "2", layer: 0 }));
  assert.ok(!heldAt(holds, { gate: "f", t: 6, unit: "2", layer: 1 }));
});

test("a hold reads as words", () => {
  assert.equal(describeHold(parseHold("f:1@5-9/u2")), "f = 1 (open) at steps 5–9, unit 2");
  assert.equal(describeHold(parseHold("i:0@*/l1"), 2), "i = 0 (closed) at every step, every unit, layer 1");
  assert.equal(describeHold(parseHold("g:0@3")), "g = 0 at step 3, every unit");
});
