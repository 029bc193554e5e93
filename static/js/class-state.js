// Classroom mode's pure decisions (node --test runs them): what a class code may look like,
// which teacher URLs a follower may open, what a follower does with a teacher's state, the
// reconnect delays, the poll preset and the tally bars. No DOM, no sockets.

// A code as typed: case and separators do not matter ("k7qx", "K7-QX" -> "K7QX").
// Returns "" when it cannot be a code (4-6 letters or digits), so the page can say so.
export function normaliseCode(raw) {
  const code = String(raw ?? "").toUpperCase().replace(/[\s-]/g, "");
  return /^[A-Z0-9]{4,6}$/.test(code) ? code : "";
}

// The teacher's url, split; null unless it is a path on this site ("/compare?k=3"), so a
// follower never navigates off the server or to a javascript: URL, whatever arrives.
export function splitUrl(url) {
  if (typeof url !== "string" || url.length > 70000) return null;
  if (!url.startsWith("/") || url.startsWith("//") || url.includes("\\")) return null;
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const search = q < 0 ? "" : url.slice(q + 1);
  if (!/^\/[A-Za-z0-9/_.-]*$/.test(path) || path.startsWith("/c/") || path === "/join") return null;
  return { path, search };
}

// What a follower does with a teacher's state: "navigate" to another page, "apply" the URL
// state through the page's own parse-and-render, "stop": show another stop of the same lesson
// in place (the lesson panel checks that its page is this one; else the follower navigates),
// or nothing ("none") when it already shows it.
// here: {path, search, model} of the follower's page (model: the key of the model it shows);
// state: the teacher's state message.
export function followAction(here, state) {
  const there = splitUrl(state.url);
  if (!there) return "none";
  if (there.path !== here.path) {
    const a = lessonStop(here.path);
    const b = lessonStop(there.path);
    return a && b && a.lesson === b.lesson ? "stop" : "navigate";
  }
  if (there.search !== here.search || (state.model_key ?? null) !== (here.model ?? null)) return "apply";
  return "none";
}

// /lessons/<slug>/<k> or /lessons/own/<page>/<k> -> {lesson, k}; null for any other path.
export function lessonStop(path) {
  const m = /^\/lessons\/((?:own\/)?[a-z0-9-]+)\/(\d+)\/?$/.exec(path);
  return m ? { lesson: m[1], k: Number(m[2]) } : null;
}

// Reconnect delays: 0.5 s, 1 s, 2 s, ... up to 15 s, with up to 25 % jitter so thirty laptops
// that lost the same Wi-Fi do not all knock at once. random: a number in [0, 1).
export function backoff(attempt, random = Math.random) {
  const base = Math.min(15000, 500 * 2 ** Math.max(0, attempt));
  return Math.round(base * (1 + 0.25 * random()));
}

// The one-click prediction for the step page's current view: about the NEXT step (the one shown
// would give its answer away), with the forget gate hidden on every screen while it is open.
// null at the last step (steps: the sequence's length), where there is no next one.
export function forgetGatePoll(t, unit, steps = Infinity) {
  const next = t + 1;
  if (next >= steps) return null;
  const who = unit === "mean" || unit === undefined ? "the units (on average)" : `unit ${unit}`;
  return {
    question: `At the next step (${next}), will the forget gate of ${who} be closed, partly open or open?`,
    choices: ["closed", "partly open", "open"],
    hide: ["f"],
  };
}

// Choices typed one per line: trimmed, blanks and repeats dropped; {choices} or {error}.
export function parseChoices(text, { min = 2, max = 4, maxLength = 80 } = {}) {
  const choices = [];
  for (const line of String(text ?? "").split("\n")) {
    const c = line.trim();
    if (c && !choices.includes(c)) choices.push(c);
  }
  if (choices.length < min) return { error: `Give at least ${min} choices, one per line.` };
  if (choices.length > max) return { error: `At most ${max} choices (${choices.length} given).` };
  const long = choices.find((c) => c.length > maxLength);
  if (long) return { error: `A choice is at most ${maxLength} characters: “${long.slice(0, 20)}…”.` };
  return { choices };
}

// Bars of a tally: each choice's count and its share of the answers (0 when nobody answered).
export function tallyBars(choices, counts) {
  const list = choices.map((_, k) => Math.max(0, Number(counts?.[k]) || 0));
  const total = list.reduce((a, b) => a + b, 0);
  return choices.map((label, k) => ({ label, count: list[k], share: total ? list[k] / total : 0 }));
}

// A run's frames with each network's progress thinned to about n (its first and last kept).
export function thinned(frames, n) {
  const total = {};
  for (const f of frames) if (f.type === "progress") total[f.cell] = (total[f.cell] ?? 0) + 1;
  const seen = {};
  return frames.filter((f) => {
    if (f.type !== "progress") return true;
    const k = (seen[f.cell] = (seen[f.cell] ?? 0) + 1);
    const every = Math.ceil(total[f.cell] / n);
    return (k - 1) % every === 0 || k === total[f.cell];
  });
}
