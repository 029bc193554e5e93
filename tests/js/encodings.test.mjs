import { test } from "node:test";
import assert from "node:assert/strict";
import {
  COLOURS, OKABE_ITO, GATES, SIGMOID, CIVIDIS, DIVERGING, THRESHOLDS, gateReading, readingCounts,
  openness, flowWidth, fmt, heatmapSeries, scaleFor,
} from "../../static/js/encodings.js";

test("every gate of every cell has its own Okabe-Ito colour within its cell", () => {
  const palette = new Set(Object.values(OKABE_ITO));
  for (const gates of Object.values(GATES)) {
    const colours = gates.map((g) => COLOURS[g]);
    assert.equal(new Set(colours).size, colours.length);
    for (const c of colours) assert.ok(palette.has(c), c);
  }
});

test("colour scales run from 0 to 1 in order", () => {
  for (const scale of [CIVIDIS, DIVERGING]) {
    assert.equal(scale[0][0], 0);
    assert.equal(scale.at(-1)[0], 1);
    for (let k = 1; k < scale.length; k += 1) assert.ok(scale[k][0] > scale[k - 1][0]);
  }
});

test("sigmoid heatmaps are on [0, 1]; tanh and states are centred on 0", () => {
  assert.deepEqual([scaleFor("unit").zmin, scaleFor("unit").zmax], [0, 1]);
  const s = scaleFor("signed", 2.5);
  assert.deepEqual([s.zmin, s.zmax, s.zmid], [-2.5, 2.5, 0]);
  assert.deepEqual(heatmapSeries("lstm").map((x) => x[0]), ["i", "f", "g", "o", "c", "h"]);
  assert.deepEqual(heatmapSeries("gru").map((x) => x[0]), ["r", "z", "n", "h"]);
  assert.deepEqual(heatmapSeries("rnn").map((x) => x[0]), ["h"]);
});

test("gate reading uses the thresholds: closed below, open above, partly open between", () => {
  assert.deepEqual([THRESHOLDS.closed, THRESHOLDS.open], [0.01, 0.95]);
  assert.equal(gateReading(0.005), "closed");
  assert.equal(gateReading(0.01), "partly open"); // on the threshold is not below it
  assert.equal(gateReading(0.5), "partly open");
  assert.equal(gateReading(0.95), "partly open");
  assert.equal(gateReading(0.951), "open");
  assert.equal(gateReading(0.3, 0.4, 0.9), "closed");
  assert.equal(gateReading(null), "unknown");
});

test("reading counts add up to the number of units", () => {
  const values = [0.001, 0.002, 0.5, 0.7, 0.96, 0.999, null];
  assert.deepEqual(readingCounts(values), { closed: 2, "partly open": 2, open: 2, unknown: 1 });
  assert.deepEqual(readingCounts(values, 0.6, 0.98), { closed: 3, "partly open": 2, open: 1, unknown: 1 });
});

test("openness: sigmoids as they are, tanh by magnitude, clamped to [0, 1]", () => {
  assert.ok(SIGMOID.has("f") && !SIGMOID.has("g"));
  assert.equal(openness("f", 0.25), 0.25);
  assert.equal(openness("g", -0.75), 0.75);
  assert.equal(openness("f", null), 0);
  assert.ok(flowWidth(1) > flowWidth(0.1));
});

test("numbers are formatted for reading, with a true minus sign", () => {
  assert.equal(fmt(0.83), "0.83");
  assert.equal(fmt(0.123456), "0.1235");
  assert.equal(fmt(-0.5), "\u22120.5");
  assert.equal(fmt(0), "0");
  assert.equal(fmt(null), "—");
  assert.equal(fmt(1.5e-7), "1.50e\u22127");
});
