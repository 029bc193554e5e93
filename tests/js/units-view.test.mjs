import assert from "node:assert/strict";
import { test } from "node:test";

import { activationColour, spanText, stepsOf, valueRows } from "../../static/js/units-view.js";

const textTrace = {
  steps: 4, alphabet: "\nab", inputs: [[0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]],
  layers: [{ h: [[1], [2], [3], [4]], c: [[5], [6], [7], [8]], gates: { f: [[0.1], [0.2], [0.3], [0.4]] } }],
};

test("steps are labelled by their characters, a newline as ↵, numbers by their index", () => {
  assert.deepEqual(stepsOf(textTrace), ["a", "b", "↵", "a"]);
  assert.deepEqual(stepsOf({ steps: 3, alphabet: null, inputs: [[0], [1], [2]] }), ["0", "1", "2"]);
});

test("a span reads as its steps and, for text, its characters", () => {
  assert.equal(spanText(["a", "b", "↵", "a"], [1, 3]), "steps 1–2: “b↵”");
  assert.equal(spanText(["a", "b"], [0, 1]), "step 0: “a”");
  assert.equal(spanText(["0", "1", "2"], [0, 2]), "steps 0–1");
});

test("activation colours run from sky blue through white to orange", () => {
  assert.equal(activationColour(0), "rgb(255, 255, 255)");
  assert.equal(activationColour(1), "rgb(230, 159, 0)");
  assert.equal(activationColour(-1), "rgb(86, 180, 233)");
  assert.equal(activationColour(5), activationColour(1)); // clipped
  assert.equal(activationColour(NaN), activationColour(0));
  assert.equal(activationColour(0.5), "rgb(243, 207, 128)");
});

test("value rows are the recorded field of the layer", () => {
  assert.equal(valueRows(textTrace, 0, "h")[1][0], 2);
  assert.equal(valueRows(textTrace, 0, "c")[3][0], 8);
  assert.equal(valueRows(textTrace, 0, "f")[2][0], 0.3);
});
