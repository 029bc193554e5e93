import { test } from "node:test";
import assert from "node:assert/strict";
import {
  backoff, followAction, forgetGatePoll, normaliseCode, parseChoices, splitUrl, tallyBars, thinned,
} from "../../static/js/class-state.js";

test("a typed code is upper-cased and loses spaces and dashes", () => {
  assert.equal(normaliseCode(" k7qx "), "K7QX");
  assert.equal(normaliseCode("k7-qx"), "K7QX");
  assert.equal(normaliseCode("AB CD 23"), "ABCD23");
});

test("what cannot be a code is refused", () => {
  for (const raw of ["", "K7Q", "K7QXABC", "K7Q!", "../x", null, undefined]) assert.equal(normaliseCode(raw), "");
});

test("a teacher url is split into the page and its URL state", () => {
  assert.deepEqual(splitUrl("/compare?T=200&k=40"), { path: "/compare", search: "T=200&k=40" });
  assert.deepEqual(splitUrl("/?t=3"), { path: "/", search: "t=3" });
  assert.deepEqual(splitUrl("/train"), { path: "/train", search: "" });
});

test("a follower never opens a url off this site, nor the join pages", () => {
  for (const url of ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "/\\evil", "compare",
    "/c/K7QX", "/join", "/a b", 42, null, `/?${"x".repeat(70001)}`]) {
    assert.equal(splitUrl(url), null, String(url).slice(0, 40));
  }
});

test("same page and same state: nothing to do", () => {
  const here = { path: "/", search: "t=3&unit=2", model: null };
  assert.equal(followAction(here, { url: "/?t=3&unit=2", model_key: null }), "none");
});

test("same page, other state or other model: apply through the page", () => {
  const here = { path: "/", search: "t=3", model: null };
  assert.equal(followAction(here, { url: "/?t=4" }), "apply");
  assert.equal(followAction(here, { url: "/?t=3", model_key: "abc" }), "apply");
  assert.equal(followAction({ ...here, model: "abc" }, { url: "/?t=3", model_key: null }), "apply");
});

test("another page: navigate; an unsafe url: nothing", () => {
  const here = { path: "/", search: "", model: null };
  assert.equal(followAction(here, { url: "/compare?k=3" }), "navigate");
  assert.equal(followAction(here, { url: "https://evil.example/" }), "none");
});

test("reconnect delays double up to 15 s, with at most 25 % jitter", () => {
  const none = () => 0;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 10].map((n) => backoff(n, none)), [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  assert.equal(backoff(0, () => 0.999), Math.round(500 * (1 + 0.25 * 0.999)));
});

test("the forget-gate preset asks about the next step, hides the gate, and has none at the end", () => {
  const p = forgetGatePoll(13, "2", 20);
  assert.equal(p.question, "At the next step (14), will the forget gate of unit 2 be closed, partly open or open?");
  assert.deepEqual(p.choices, ["closed", "partly open", "open"]);
  assert.deepEqual(p.hide, ["f"]);
  assert.match(forgetGatePoll(0, "mean").question, /the units \(on average\)/);
  assert.equal(forgetGatePoll(19, "2", 20), null);
});

test("another stop of the same lesson is shown in place; of another lesson, loaded", () => {
  const here = { path: "/lessons/inside-the-cell/3", search: "t=10", model: null };
  assert.equal(followAction(here, { url: "/lessons/inside-the-cell/4?t=11" }), "stop");
  assert.equal(followAction(here, { url: "/lessons/reading-gates/4?t=11" }), "navigate");
  assert.equal(followAction(here, { url: "/?t=11" }), "navigate");
  assert.equal(followAction({ ...here, path: "/lessons/own/step/2" }, { url: "/lessons/own/step/3" }), "stop");
});

test("choices: one per line, trimmed, blanks and repeats dropped, 2 to 4", () => {
  assert.deepEqual(parseChoices(" yes \n\nno\nyes\n"), { choices: ["yes", "no"] });
  assert.match(parseChoices("only one").error, /at least 2/);
  assert.match(parseChoices("a\nb\nc\nd\ne").error, /At most 4 choices \(5 given\)/);
  assert.match(parseChoices(`a\n${"b".repeat(81)}`).error, /at most 80 characters/);
});

test("tally bars: counts and shares; nobody answered is all zero", () => {
  assert.deepEqual(tallyBars(["closed", "open"], [1, 3]), [
    { label: "closed", count: 1, share: 0.25 }, { label: "open", count: 3, share: 0.75 },
  ]);
  assert.deepEqual(tallyBars(["a", "b"], []).map((b) => [b.count, b.share]), [[0, 0], [0, 0]]);
  assert.deepEqual(tallyBars(["a"], [-2]).map((b) => b.count), [0]);
});

test("a replay thins each network's progress to about n points, first and last kept, and keeps the rest", () => {
  const frames = [{ cell: "lstm", type: "start" }];
  for (let step = 1; step <= 1000; step++) {
    frames.push({ cell: "lstm", type: "progress", step });
    if (step <= 30) frames.push({ cell: "gru", type: "progress", step });
    if (step % 100 === 0) frames.push({ cell: "lstm", type: "eval", step });
  }
  const kept = thinned(frames, 200);
  const steps = (cell) => kept.filter((f) => f.cell === cell && f.type === "progress").map((f) => f.step);
  assert.equal(steps("lstm").length, 201);
  assert.deepEqual(steps("lstm").slice(0, 3), [1, 6, 11]);
  assert.equal(steps("lstm").at(-1), 1000);
  assert.deepEqual(steps("gru"), Array.from({ length: 30 }, (_, k) => k + 1)); // few: all kept
  assert.equal(kept.filter((f) => f.type === "eval").length, 10);
  assert.equal(kept[0].type, "start");
});
