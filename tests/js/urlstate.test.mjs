import { test } from "node:test";
import assert from "node:assert/strict";

import { bool, int, num, oneOf, parseKind, text, urlState } from "../../static/js/urlstate.js";

test("each kind parses valid values and refuses the rest", () => {
  assert.equal(parseKind(int(0, 10), "7"), 7);
  assert.equal(parseKind(int(0, 10), "11"), undefined);
  assert.equal(parseKind(int(0, 10), "7.5"), undefined);
  assert.equal(parseKind(num(-1, 1), "-0.25"), -0.25);
  assert.equal(parseKind(num(-1, 1), ""), undefined);
  assert.equal(parseKind(num(-1, 1), "NaN"), undefined);
  assert.equal(parseKind(oneOf("a", "b"), "b"), "b");
  assert.equal(parseKind(oneOf("a", "b"), "c"), undefined);
  assert.equal(parseKind(bool(), "1"), true);
  assert.equal(parseKind(bool(), "0"), false);
  assert.equal(parseKind(bool(), "yes"), undefined);
  assert.equal(parseKind(text(3), "abc"), "abc");
  assert.equal(parseKind(text(3), "abcd"), undefined);
  assert.equal(parseKind(int(0, 10), null), undefined);
});

test("a table round-trips through the URL and writes only what differs", () => {
  const table = { n: [1, int(0, 100)], x: [0.5, num(0, 1)], c: ["a", oneOf("a", "b")], f: [false, bool()] };
  const s = urlState(table);
  assert.equal(s.serialise(s.defaults()), "");
  const state = { n: 42, x: 0.25, c: "b", f: true };
  assert.equal(s.serialise(state), "n=42&x=0.25&c=b&f=1");
  assert.deepEqual(s.parse(s.serialise(state)), state);
  assert.deepEqual(s.parse("n=1000&c=z&unknown=1"), s.defaults()); // invalid values ignored
});
