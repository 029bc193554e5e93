import { test } from "node:test";
import assert from "node:assert/strict";
import { cellText, clampCell, heatmapLabel, keyedCell } from "../../static/js/charts.js";

test("the keyboard cursor stays inside the grid", () => {
  assert.deepEqual(clampCell({ t: 12, unit: -1 }, 11, 4), { t: 10, unit: 0 });
  assert.deepEqual(clampCell({ t: 3, unit: 2 }, 11, 4), { t: 3, unit: 2 });
  assert.deepEqual(clampCell({ t: 5, unit: 5 }, 0, 0), { t: 0, unit: 0 }); // before the first plot
});

test("arrows move step and unit, Home and End go to the first and last step", () => {
  const at = { t: 3, unit: 1 };
  assert.deepEqual(keyedCell(at, "ArrowRight", 11, 4), { t: 4, unit: 1 });
  assert.deepEqual(keyedCell(at, "ArrowLeft", 11, 4), { t: 2, unit: 1 });
  assert.deepEqual(keyedCell(at, "ArrowUp", 11, 4), { t: 3, unit: 0 }); // unit 0 is the top row
  assert.deepEqual(keyedCell(at, "ArrowDown", 11, 4), { t: 3, unit: 2 });
  assert.deepEqual(keyedCell(at, "Home", 11, 4), { t: 0, unit: 1 });
  assert.deepEqual(keyedCell(at, "End", 11, 4), { t: 10, unit: 1 });
  assert.deepEqual(keyedCell({ t: 10, unit: 3 }, "ArrowRight", 11, 4), { t: 10, unit: 3 });
  assert.deepEqual(keyedCell({ t: 0, unit: 0 }, "ArrowUp", 11, 4), { t: 0, unit: 0 });
  assert.equal(keyedCell(at, "Tab", 11, 4), null); // not the heatmap's key
  assert.equal(keyedCell(at, "Enter", 11, 4), null); // a jump, not a move
});

test("a screen reader hears the step, its input, the unit and the value", () => {
  const rows = [[0.5, -0.25], [null, 0.125]];
  assert.equal(cellText("f", rows, ["a", " "], { t: 0, unit: 1 }, 2), "step 0 of 0 to 1, input “a”, unit 1: f = −0.25");
  assert.equal(cellText("h", rows, ["a", " "], { t: 1, unit: 1 }, 2), "step 1 of 0 to 1, input space, unit 1: h = 0.125");
  assert.equal(cellText("c", rows, null, { t: 1, unit: 0 }, 2), "step 1 of 0 to 1, unit 0: c = not computed yet");
});

test("a heatmap's name says what it is and how to use it", () => {
  assert.equal(heatmapLabel("f"), "Forget gate f, steps by units: arrow keys move the cursor, Enter jumps");
  assert.equal(heatmapLabel("c"), "Cell state c, steps by units: arrow keys move the cursor, Enter jumps");
});

test("long runs: heatmap columns become means of k steps, centred on their steps", async () => {
  const { binSteps } = await import("../../static/js/charts.js");
  const rows = Array.from({ length: 10 }, (_, t) => [t, -t]);
  const small = binSteps(rows, 10, 2, 20);
  assert.equal(small.k, 1);
  assert.equal(small.x, undefined);
  assert.deepEqual(small.z[0], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const binned = binSteps(rows, 10, 2, 4); // k = 3: steps 0-2, 3-5, 6-8, 9
  assert.equal(binned.k, 3);
  assert.deepEqual(binned.x, [1, 4, 7, 9]);
  assert.deepEqual(binned.z[0], [1, 4, 7, 9]);
  assert.deepEqual(binned.z[1], [-1, -4, -7, -9]);
  rows[4] = null; // a step not streamed yet is left out of its mean
  assert.deepEqual(binSteps(rows, 10, 2, 4).z[0], [1, 4, 7, 9]);
});
