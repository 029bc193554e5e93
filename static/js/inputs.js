// Input sequences generated in the browser, deterministic from a seed so that a URL reproduces
// them, and shown as editable numbers. Text is sent as text (the server one-hot encodes it).

// Live typing needs the alphabet fixed up front: these characters plus any in the start text.
export const LIVE_ALPHABET = "abcdefghijklmnopqrstuvwxyz .,!?'";

// mulberry32: a tiny seeded PRNG, good enough for example inputs.
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const round4 = (v) => Math.round(v * 1e4) / 1e4;

// One sine channel; the seed picks the phase.
export function sine(len, seed = 0) {
  const phase = rng(seed)() * 2 * Math.PI;
  return Array.from({ length: len }, (_, t) => [round4(Math.sin((2 * Math.PI * t) / 12 + phase))]);
}

// Two channels uniform in [-1, 1].
export function random(len, seed = 0) {
  const r = rng(seed);
  return Array.from({ length: len }, () => [round4(2 * r() - 1), round4(2 * r() - 1)]);
}

// Adding problem (Hochreiter & Schmidhuber 1997): [value, marker]; the target is the sum of the
// two marked values, one marked in each half of the sequence.
export function adding(len, seed = 0) {
  const r = rng(seed);
  const rows = Array.from({ length: len }, () => [round4(r()), 0]);
  const half = Math.max(1, Math.floor(len / 2));
  const a = Math.floor(r() * half);
  const b = Math.min(len - 1, half + Math.floor(r() * (len - half)));
  rows[a][1] = 1;
  rows[b][1] = 1;
  return rows;
}

// A balanced bracket string of (about) the given length, as text over the alphabet "()".
export function brackets(len, seed = 0) {
  const r = rng(seed);
  const n = Math.max(2, len - (len % 2));
  let out = "";
  let open = 0;
  for (let k = 0; k < n; k += 1) {
    const left = n - k; // characters still to place
    if (open === 0 || (open < left && r() < 0.5)) {
      out += "(";
      open += 1;
    } else {
      out += ")";
      open -= 1;
    }
  }
  return out;
}

// Rows of numbers -> editable text, one step per line.
export function formatNumbers(rows) {
  return rows.map((row) => row.join(" ")).join("\n");
}

// Rows of numbers <-> compact URL form "1 0;0.5 1".
export const rowsToUrl = (rows) => rows.map((row) => row.join(" ")).join(";");
export const urlToText = (s) => s.split(";").join("\n");

// Editable text -> rows of numbers; throws an Error saying which line is wrong.
export function parseNumbers(text) {
  const lines = text.split(/[\n;]/).map((l) => l.trim()).filter((l) => l !== "");
  if (lines.length === 0) throw new Error("Type at least one line of numbers.");
  const rows = lines.map((line, k) => {
    const row = line.split(/[\s,]+/).map(Number);
    if (row.some((v) => !Number.isFinite(v))) throw new Error(`Line ${k + 1} is not all numbers: "${line}".`);
    return row;
  });
  const width = rows[0].length;
  const bad = rows.findIndex((row) => row.length !== width);
  if (bad >= 0) throw new Error(`Line ${bad + 1} has ${rows[bad].length} numbers; line 1 has ${width}.`);
  return rows;
}

const GENERATORS = { sine, random, adding };

// The numbers a numeric input kind stands for (custom: what the user typed).
export function numericRows(state) {
  if (state.kind === "custom") return parseNumbers(urlToText(state.seq));
  return GENERATORS[state.kind](state.len, state.iseed);
}

// The "input" object of a /api/trace request, from the UI state. Throws on bad input.
export function buildInput(state) {
  if (state.kind === "text" || state.kind === "brackets") {
    const text = state.kind === "brackets" ? brackets(state.len, state.iseed) : state.text;
    if (state.live && state.kind === "text") {
      const alphabet = [...new Set(LIVE_ALPHABET + text)].sort().join("");
      return { text, alphabet };
    }
    if (text.length === 0) throw new Error("Type some text first.");
    return state.kind === "brackets" ? { text, alphabet: "()" } : { text };
  }
  return { sequence: numericRows(state) };
}
