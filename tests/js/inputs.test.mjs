import { test } from "node:test";
import assert from "node:assert/strict";
import { sine, random, adding, brackets, parseNumbers, rowsToUrl, urlToText, buildInput } from "../../static/js/inputs.js";
import { defaults } from "../../static/js/state.js";
import { formatDetail } from "../../static/js/api.js";
import { transpose } from "../../static/js/charts.js";
import { powerTicks } from "../../static/js/grad-chart.js";

test("generators are deterministic in their seed and have the asked length", () => {
  for (const gen of [sine, random, adding]) {
    assert.deepEqual(gen(20, 3), gen(20, 3));
    assert.notDeepEqual(gen(20, 3), gen(20, 4));
    assert.equal(gen(20, 3).length, 20);
  }
});

test("the adding problem marks exactly two steps, one in each half", () => {
  for (let seed = 0; seed < 20; seed += 1) {
    const rows = adding(30, seed);
    const marked = rows.map((r, t) => (r[1] === 1 ? t : -1)).filter((t) => t >= 0);
    assert.equal(marked.length, 2);
    assert.ok(marked[0] < 15 && marked[1] >= 15);
  }
});

test("bracket sequences are balanced", () => {
  for (let seed = 0; seed < 20; seed += 1) {
    const s = brackets(24, seed);
    assert.equal(s.length, 24);
    let depth = 0;
    for (const ch of s) {
      depth += ch === "(" ? 1 : -1;
      assert.ok(depth >= 0);
    }
    assert.equal(depth, 0);
  }
});

test("typed numbers parse, and errors name the line", () => {
  assert.deepEqual(parseNumbers("1 2\n 3,4 \n\n5 6"), [[1, 2], [3, 4], [5, 6]]);
  assert.throws(() => parseNumbers("1 2\n3"), /Line 2 has 1 numbers/);
  assert.throws(() => parseNumbers("1 x"), /Line 1 is not all numbers/);
  assert.throws(() => parseNumbers("  "), /at least one line/);
  const rows = [[1, 0], [0.5, -2]];
  assert.deepEqual(parseNumbers(urlToText(rowsToUrl(rows))), rows);
});

test("the request input follows the input kind", () => {
  const s = defaults();
  assert.deepEqual(buildInput({ ...s, kind: "text", text: "abc" }), { text: "abc" });
  const live = buildInput({ ...s, kind: "text", text: "", live: true });
  assert.equal(live.text, "");
  assert.ok(live.alphabet.includes("a") && live.alphabet.includes(" "));
  assert.equal(buildInput({ ...s, kind: "sine", len: 5 }).sequence.length, 5);
  assert.deepEqual(buildInput({ ...s, kind: "custom", seq: "1 2;3 4" }), { sequence: [[1, 2], [3, 4]] });
  assert.equal(buildInput({ ...s, kind: "brackets", len: 6 }).alphabet, "()");
  assert.throws(() => buildInput({ ...s, kind: "text", text: "" }), /Type some text/);
});

test("FastAPI error details become one readable message", () => {
  assert.equal(formatDetail("too long"), "too long");
  const detail = [{ loc: ["body", "model", "hidden_size"], msg: "must be <= 512" }];
  assert.equal(formatDetail(detail), "model.hidden_size: must be <= 512");
});

test("chart helpers: transpose to unit x time; log ticks label the norms", () => {
  assert.deepEqual(transpose([[1, 2], [3, 4], [5, 6]], 2), [[1, 3, 5], [2, 4, 6]]);
  const wide = powerTicks(-300.2, 0.4);
  assert.ok(wide.tickvals.length <= 8);
  assert.ok(wide.ticktext.every((t) => t === "1" || t.startsWith("10<sup>")));
  const narrow = powerTicks(-1.2, 0.2);
  assert.ok(narrow.ticktext.includes("0.1") && narrow.ticktext.includes("1"));
});

test("log-axis ticks use round strides of decades", () => {
  const { tickvals } = powerTicks(-68.4, 0.3);
  const steps = tickvals.slice(1).map((v, k) => tickvals[k] - v);
  assert.ok(steps.every((d) => d === steps[0]) && [10, 20].includes(steps[0]), String(tickvals));
  assert.ok(tickvals.every((v) => v % steps[0] === 0 && v >= -68.4 && v <= 0.3));
});
