import { test } from "node:test";
import assert from "node:assert/strict";
import { colourAt, rangeOf, sparkPath, unitSeries, valueColours } from "../../static/js/gallery-view.js";
import { metricText, stepState } from "../../static/js/gallery.js";
import { labState } from "../../static/js/compare-gallery.js";
import { CIVIDIS, DIVERGING } from "../../static/js/encodings.js";
import { parse, serialise } from "../../static/js/state.js";

test("unitSeries reads a gate, c or h of one unit of a trace", () => {
  const trace = { layers: [{ gates: { f: [[0.1, 0.9], [0.2, 0.8]] }, c: [[1, 2], [3, 4]], h: [[5, 6], [7, 8]] }] };
  assert.deepEqual(unitSeries(trace, { layer: 0, unit: 1, field: "f" }), [0.9, 0.8]);
  assert.deepEqual(unitSeries(trace, { layer: 0, unit: 0, field: "c" }), [1, 3]);
  assert.deepEqual(unitSeries(trace, { layer: 0, unit: 1, field: "h" }), [6, 8]);
});

test("a sigmoid gate is drawn on [0, 1], c and h symmetric about 0", () => {
  assert.deepEqual(rangeOf("f", [0.2, 0.3]), [0, 1]);
  assert.deepEqual(rangeOf("c", [-3, 2]), [-3, 3]);
});

test("sparkPath puts the low end at the bottom and spans the width", () => {
  assert.equal(sparkPath([0, 1], 100, 50, [0, 1]), "M0.0 50.0 L100.0 0.0");
  assert.equal(sparkPath([2, -5, 0], 10, 10, [-1, 1]), "M0.0 0.0 L5.0 10.0 L10.0 5.0"); // clipped
});

test("colourAt hits the stops and interpolates between them", () => {
  assert.equal(colourAt(CIVIDIS, 0), CIVIDIS[0][1]);
  assert.equal(colourAt(CIVIDIS, 1), CIVIDIS.at(-1)[1]);
  assert.equal(colourAt(DIVERGING, 0.5), "#f7f7f7");
  assert.equal(colourAt([[0, "#000000"], [1, "#ffffff"]], 0.5), "#808080");
});

test("dark backgrounds get white text, light ones dark text", () => {
  assert.equal(valueColours("f", 0, [0, 1]).fg, "#ffffff");
  assert.equal(valueColours("f", 1, [0, 1]).fg, "#1b2a3a");
  assert.equal(valueColours("c", 0, [-1, 1]).bg, "#f7f7f7");
});

const card = {
  slug: "latch-lstm", cell: "lstm", hidden_size: 8, step: 0, task: "latch",
  units: [{ layer: 0, unit: 7, field: "f" }], example: { sequence: [[-1], [0.25]] },
  training: { length: 100 }, metric: { name: "accuracy", value: 0.984375, baseline: 0.5 },
};

test("a card's step-page state holds its example, step and unit, and survives the URL", () => {
  const s = { ...parse(""), ...stepState(card) };
  assert.equal(s.kind, "custom");
  assert.equal(s.seq, "-1;0.25");
  assert.equal(s.unit, "7");
  const again = parse(serialise(s));
  assert.equal(again.model, "latch-lstm");
  assert.equal(again.seq, "-1;0.25");
  const text = stepState({ ...card, example: { text: "SabT" } });
  assert.equal(text.kind, "text");
  assert.equal(text.text, "SabT");
});

test("the lab generates a task it knows, and reads a text model's example as one-hot rows", () => {
  assert.deepEqual(labState(card), { hidden: 8, model: "latch-lstm", kind: "latch", len: 100 });
  const anbn = { ...card, slug: "anbn-lstm", task: "anbn", alphabet: "SabT", example: { text: "Sb" } };
  assert.equal(labState(anbn).seq, "1 0 0 0;0 0 1 0");
});

test("metricText names the metric and its baseline", () => {
  assert.equal(metricText(card.metric), "accuracy 0.984 (baseline 0.500)");
  assert.equal(metricText({ name: "mse", value: 0.0013, baseline: 1 / 6 }), "mean squared error 0.0013 (baseline 0.167)");
});
