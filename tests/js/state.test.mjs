import { test } from "node:test";
import assert from "node:assert/strict";
import { PROPERTIES, defaults, parse, serialise, parseValue, traceKey } from "../../static/js/state.js";

// A value different from the default for every property in the table.
const CHANGED = {
  cell: "gru", variant: "peephole", hidden: 64, layers: 3, seed: 1234, fbias: 1.5,
  rinit: "orthogonal", gain: 0.9, kind: "adding", text: "héllo & <b>wörld</b>?=;", live: true,
  len: 50, iseed: 7, seq: "1 0;0.5 -2;3e-3 4", t: 17, unit: "mean", layer: 2, speed: 15,
  lo: 0.05, hi: 0.9, hold: "f:1@5-9/u2;i:0@*", model: "latch-lstm",
};

test("the test covers every property of the table", () => {
  assert.deepEqual(Object.keys(CHANGED).sort(), Object.keys(PROPERTIES).sort());
  for (const [key, value] of Object.entries(CHANGED)) assert.notEqual(value, PROPERTIES[key][0], key);
});

test("every property survives a URL round trip", () => {
  const state = { ...defaults(), ...CHANGED };
  const query = serialise(state);
  assert.deepEqual(parse(query), state);
  // and through a real URL object, as the browser does it
  const url = new URL(`http://127.0.0.1/?${query}`);
  assert.deepEqual(parse(url.search.slice(1)), state);
});

test("each property round trips on its own", () => {
  for (const [key, value] of Object.entries(CHANGED)) {
    const state = { ...defaults(), [key]: value };
    assert.deepEqual(parse(serialise(state)), state, key);
  }
});

test("defaults serialise to an empty query and parse back", () => {
  assert.equal(serialise(defaults()), "");
  assert.deepEqual(parse(""), defaults());
});

test("invalid or out-of-range values fall back to the defaults", () => {
  const s = parse("cell=transformer&hidden=0&layers=9&t=-1&unit=x&speed=abc&lo=2&fbias=&live=maybe");
  assert.deepEqual(s, defaults());
});

test("numbers are parsed as numbers, not strings", () => {
  const s = parse("hidden=16&fbias=-2.5&unit=3");
  assert.equal(s.hidden, 16);
  assert.equal(s.fbias, -2.5);
  assert.equal(s.unit, "3");
  assert.equal(parseValue("hidden", "1.5"), undefined);
});

test("sequences up to the server's 10,000 steps fit in the URL state, and no longer", () => {
  assert.equal(parse("len=10000").len, 10000);
  assert.equal(parse("len=10001").len, defaults().len);
  assert.equal(parse(`text=${"a".repeat(10000)}`).text.length, 10000);
  assert.equal(parse(`text=${"a".repeat(10001)}`).text, defaults().text);
});

test("holds are part of the trace key: holding a gate recomputes the run", () => {
  const a = traceKey(defaults());
  assert.notEqual(traceKey({ ...defaults(), hold: "f:1@*" }), a);
});
