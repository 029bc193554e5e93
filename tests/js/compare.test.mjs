// The gradient lab's pure modules: URL state, presets, request body, curves, ticks, card text.
import test from "node:test";
import assert from "node:assert/strict";

import {
  PRESETS, applyPreset, defaults, matchPreset, parse, parseSteps, requestBody, serialise, stepLink,
} from "../../static/js/compare-state.js";
import { curveSeries, curvesCsv, decadeTicks, figure, limitLines } from "../../static/js/compare-chart.js";
import { cardRows, fitText, powerText } from "../../static/js/compare-cards.js";

test("the URL round-trips every property and leaves defaults out", () => {
  const s = { ...defaults(), len: 2000, gain: 1.5, rinit: "orthogonal", zerob: true, clampf: "0-9", k: 12 };
  const q = serialise(s);
  assert.equal(serialise(defaults()), "");
  assert.deepEqual(parse(q), s);
});

test("invalid URL values fall back to the defaults", () => {
  const s = parse("len=20000&gain=abc&kind=evil&hidden=-3&zerob=maybe");
  assert.deepEqual(s, defaults());
});

test("every preset is matched back from its own state, and only by it", () => {
  for (const p of PRESETS) {
    const s = applyPreset(defaults(), p.id);
    assert.equal(matchPreset(s)?.id, p.id);
  }
  assert.equal(matchPreset(defaults()), null);
});

test("the carousel preset opens the forget gate and shuts the input gate", () => {
  const s = applyPreset({ ...defaults(), gain: 2.5, variant: "coupled" }, "carousel");
  assert.equal(s.fbias, 30);
  assert.equal(s.ibias, -30);
  assert.equal(s.gain, 1); // the preset starts from the defaults
  assert.equal(s.variant, "standard");
});

test("clamp steps are steps back k, sent as time steps t = T-1-k", () => {
  assert.deepEqual(parseSteps("3, 0-1", 10), { steps: [0, 1, 3] });
  assert.match(parseSteps("5-2", 10).error, /backwards/);
  assert.match(parseSteps("10", 10).error, /beyond/);
  assert.match(parseSteps("x", 10).error, /not a step/);
  const { body } = requestBody({ ...defaults(), len: 10, clampf: "0-1" });
  assert.deepEqual(body.clamp, [{ t: [8, 9], gate: "f", value: 1.0 }]);
});

test("the request body carries every model option", () => {
  const { body } = requestBody({ ...defaults(), kind: "latch", len: 50, iseed: 3, scale: 0.5 });
  assert.deepEqual(body.input, { task: { name: "latch", length: 50, seed: 3 } });
  assert.equal(body.input_scale, 0.5);
  assert.equal(body.clamp, undefined);
  assert.deepEqual(requestBody({ ...defaults(), kind: "text", text: "abc" }).body.input, { text: "abc" });
  assert.match(requestBody({ ...defaults(), kind: "text", text: "" }).error, /empty/);
});

test("a step-through link only when that page shows the same network", () => {
  const link = stepLink({ ...defaults(), len: 100 }, "lstm", 9);
  assert.match(link, /cell=lstm/);
  assert.match(link, /t=90/);
  assert.equal(stepLink({ ...defaults(), len: 2000 }, "rnn", 0), null);
  assert.equal(stepLink({ ...defaults(), zerob: true }, "rnn", 0), null);
});

const ANSWER = {
  steps: 3,
  hidden_size: 4,
  dtype: "float64",
  float_limits: { float32: { subnormal: -45.85, normal: -37.93, overflow: 38.53 },
    float64: { subnormal: -323.3, normal: -307.65, overflow: 308.25 } },
  cells: {
    rnn: { grad_h_log10: [0, -20, -40], grad_h_log10_end: 0.3 },
    lstm: { grad_h_log10: [0, -1, -2], grad_c_log10: [0, -0.5, null], belt_log10: [0, -0.4, -0.8], grad_h_log10_end: 0.3 },
  },
};

test("curves come out in a fixed order with the answer's numbers", () => {
  const series = curveSeries(ANSWER);
  assert.deepEqual(series.map((s) => s.key), ["rnn_h", "lstm_h", "lstm_c", "lstm_belt"]);
  const { data } = figure(ANSWER);
  assert.deepEqual(data[0].y, [0, -20, -40]);
  assert.deepEqual(data[0].x, [0, 1, 2]);
  assert.ok(data.every((d) => d.type === "scatter"));
  assert.equal(new Set(data.map((d) => d.line.dash)).size, data.length); // readable without colour
});

test("float limits are drawn where they fall inside the plotted range", () => {
  const lines = limitLines(ANSWER, [-50, 1]);
  assert.equal(lines.length, 1);
  assert.ok(Math.abs(lines[0].y - (-45.85 - 0.3)) < 1e-12);
  assert.match(lines[0].text, /float32/);
});

test("CSV has one row per step back, with t alongside", () => {
  const lines = curvesCsv(ANSWER).trim().split("\n");
  assert.equal(lines[0], "k,t,rnn_h_log10,lstm_h_log10,lstm_c_log10,lstm_belt_log10");
  assert.equal(lines[3], "2,0,-40,-2,,-0.8");
});

test("ticks are round decades including 1, far below float range", () => {
  const { tickvals, ticktext } = decadeTicks(-620, 5);
  assert.ok(tickvals.includes(0));
  assert.ok(tickvals.length <= 7);
  assert.equal(ticktext[tickvals.indexOf(0)], "1");
  assert.ok(tickvals.every((v) => v % 100 === 0));
});

test("card text: powers of ten, half-lives, doubling", () => {
  assert.equal(powerText(-602.5), "3.16×10^\u2212603");
  assert.equal(powerText(null), "0 (exactly)");
  assert.deepEqual(fitText({ factor: 0.5, half_life: 1, doubling: null })[0], "Half-life");
  assert.deepEqual(fitText({ factor: 1.5, half_life: null, doubling: 1.7 })[0], "Doubles every");
  const rows = cardRows("rnn", {
    grad_h_log10: [0, -1], fit_h: { factor: 0.1, half_life: 0.3, doubling: null },
    hochreiter: { typical: 0.5, max: 0.9, verdict: "vanishing" },
    pascanu: { matrix: "W_hh", sigma_max: 0.9, threshold: 1, verdict: "vanishing guaranteed", exact: true },
    float_h: { float32: { subnormal: null, underflow: 40, overflow: null }, float64: { subnormal: null, underflow: null, overflow: null } },
  }, 1);
  assert.deepEqual(rows[0], ["‖∂L/∂h‖ at k = 1", "0.1"]);
  assert.match(rows.at(-1)[1], /float32: 0 from k = 40; float64: fine/);
});
