// The gradient lab's whole state, serialised in the URL from one table of properties (as in
// tensorflow/playground), the presets as declarative data, and the request body built from
// the state. Pure functions: node --test runs them.

import { int, num, oneOf, text, urlState } from "./urlstate.js";

// key: [default, kind]. The key is the URL parameter name.
export const PROPERTIES = {
  kind: ["random", oneOf("random", "sine", "adding", "brackets", "latch", "text", "custom")],
  seq: ["", text(60000)], // "custom": rows of numbers, "1 0;0.5 2;..." (a trained model's sample)
  text: ["the quick brown fox jumps over the lazy dog", { type: "string", max: 10000 }],
  len: [200, int(1, 10000)], // generated sequence length T
  iseed: [0, int(0, 2 ** 31 - 1)], // input generator seed
  scale: [1, num(0, 100)], // input scale: multiplies every input
  hidden: [16, int(1, 512)],
  seed: [0, int(0, 2 ** 31 - 1)], // one weight seed for all three networks
  rinit: ["uniform", oneOf("uniform", "orthogonal")],
  gain: [1, num(0, 10)], // recurrent gain, multiplies every W_hh
  zerob: [false, { type: "bool" }], // every bias starts at 0
  fbias: [0, num(-50, 50)], // LSTM forget-gate bias offset
  ibias: [0, num(-50, 50)], // LSTM input-gate bias offset
  variant: ["standard", oneOf("standard", "no_forget_gate", "peephole", "coupled")],
  clampf: ["", { type: "string", max: 200 }], // hold f = 1 at steps back k: "0-49,100"
  dtype: ["float64", oneOf("float64", "float32")],
  k: [0, int(0, 9999)], // the backward-pass cursor, steps back from the end
  model: ["", text(64)], // a gallery model's slug: its trained networks (compare-gallery.js)
};

// The keys that change the numbers (the rest only changes the view).
export const MODEL_KEYS = Object.keys(PROPERTIES).filter((key) => key !== "k");

export const { defaults, parseValue, parse, serialise } = urlState(PROPERTIES);

export function modelKey(state) {
  return MODEL_KEYS.map((k) => `${k}=${state[k]}`).join("&");
}

// One click, one lesson. Each preset starts from the defaults of every model key, so a preset
// gives the same picture whatever was set before.
export const PRESETS = [
  {
    id: "forgets",
    label: "RNN forgets",
    lesson: "Orthogonal W_hh with gain 0.9: the RNN's gradient shrinks at least 0.9× per step.",
    values: { rinit: "orthogonal", gain: 0.9, len: 200 },
  },
  {
    id: "explodes",
    label: "RNN explodes",
    lesson: "Gain 1.5, no input, no biases: the RNN's gradient grows exactly 1.5× per step, past float64's largest number.",
    values: { rinit: "orthogonal", gain: 1.5, zerob: true, scale: 0, len: 2000 },
  },
  {
    id: "carousel",
    label: "The carousel",
    lesson: "Forget gate wide open (bias +30), input gate shut (bias −30): ‖∂L/∂c‖ stays constant over 1,000 steps.",
    values: { fbias: 30, ibias: -30, len: 1000 },
  },
  {
    id: "forget-gate",
    label: "Why the forget gate",
    lesson: "The 1997 cell (no forget gate) on continual positive input: the cell state drifts and tanh(c) saturates.",
    values: { variant: "no_forget_gate", kind: "adding", len: 1000 },
  },
];

export function applyPreset(state, id) {
  const preset = PRESETS.find((p) => p.id === id);
  if (!preset) return state;
  const base = defaults();
  const out = { ...state, k: 0 };
  for (const key of MODEL_KEYS) if (!["kind", "text", "iseed"].includes(key)) out[key] = base[key];
  if (preset.values.kind === undefined) out.kind = state.kind === "text" ? "random" : state.kind;
  return { ...out, ...preset.values };
}

// "0-49, 100" -> sorted unique steps back k, each below T; or {error} naming the problem.
export function parseSteps(text, T) {
  const out = new Set();
  const parts = String(text || "").split(",").map((p) => p.trim()).filter(Boolean);
  for (const part of parts) {
    const m = /^(\d+)(?:\s*[-–]\s*(\d+))?$/.exec(part);
    if (!m) return { error: `“${part}” is not a step or a range like 0-49` };
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) return { error: `the range ${part} runs backwards` };
    if (b >= T) return { error: `step ${b} is beyond the sequence (k < ${T})` };
    for (let k = a; k <= b; k += 1) out.add(k);
  }
  return { steps: [...out].sort((x, y) => x - y) };
}

export function sequenceLength(state) {
  if (state.kind === "custom") return customRows(state.seq).length;
  return state.kind === "text" ? state.text.length : state.len;
}

// The rows of numbers of a "custom" input ("1 0;0.5 2"); [] when there are none.
export function customRows(seq) {
  return seq.split(";").map((row) => row.trim()).filter((row) => row !== "")
    .map((row) => row.split(/\s+/).map(Number));
}

// The POST /api/compare body for a state; {error} when the state cannot be sent.
export function requestBody(state) {
  const T = sequenceLength(state);
  if (T < 1) {
    return { error: state.kind === "custom" ? "no numbers in the link: choose another sequence"
                                            : "the text is empty: type something" };
  }
  let input;
  if (state.kind === "text") input = { text: state.text };
  else if (state.kind === "custom") input = { sequence: customRows(state.seq) };
  else input = { task: { name: state.kind, length: state.len, seed: state.iseed } };
  const body = {
    input,
    hidden_size: state.hidden,
    seed: state.seed,
    recurrent_init: state.rinit,
    recurrent_gain: state.gain,
    forget_bias: state.fbias,
    input_bias: state.ibias,
    zero_biases: state.zerob,
    input_scale: state.scale,
    lstm_variant: state.variant,
    dtype: state.dtype,
  };
  const clamp = parseSteps(state.clampf, T);
  if (clamp.error) return { error: `Hold f = 1: ${clamp.error}` };
  if (clamp.steps.length) {
    body.clamp = [{ t: clamp.steps.map((k) => T - 1 - k).reverse(), gate: "f", value: 1.0 }];
  }
  return { body };
}

// A link to the step-through page showing the same network at the cursor's step, when that
// page can show it (it takes generated sequences up to 400 steps, text up to 200 characters).
export function stepLink(state, cell, k) {
  const T = sequenceLength(state);
  const kinds = ["sine", "random", "adding", "brackets", "text"];
  if (!kinds.includes(state.kind) || T > (state.kind === "text" ? 200 : 400)) return null;
  // options the step-through page does not have: the network there would not be the same one
  if (state.zerob || state.scale !== 1 || state.ibias !== 0 || state.clampf.trim()) return null;
  if (Math.abs(state.fbias) > 20 || state.dtype !== "float64") return null;
  const p = new URLSearchParams({
    cell, hidden: String(state.hidden), seed: String(state.seed), rinit: state.rinit,
    gain: String(state.gain), kind: state.kind, t: String(Math.max(0, T - 1 - k)),
  });
  if (cell === "lstm") {
    p.set("variant", state.variant);
    p.set("fbias", String(state.fbias));
  }
  if (state.kind === "text") p.set("text", state.text);
  else p.set("len", String(state.len)), p.set("iseed", String(state.iseed));
  return `/?${p.toString()}`;
}

// The preset a state is exactly (every model key as the preset sets it), or null.
export function matchPreset(state) {
  for (const p of PRESETS) {
    const want = applyPreset(state, p.id);
    if (MODEL_KEYS.every((key) => want[key] === state[key])) return p;
  }
  return null;
}
