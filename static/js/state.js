// The whole UI state, serialised in the URL from one table of properties (as in
// tensorflow/playground): reload or share the link and the same view comes back.
// Only values that differ from the defaults are written, so links stay short.

import { int, num, oneOf, urlState } from "./urlstate.js";

// key: [default, kind]. The key is the URL parameter name.
export const PROPERTIES = {
  cell: ["lstm", oneOf("lstm", "gru", "rnn")],
  variant: ["standard", oneOf("standard", "no_forget_gate", "peephole", "coupled")],
  hidden: [8, int(1, 512)],
  layers: [1, int(1, 4)],
  seed: [0, int(0, 2 ** 31 - 1)],
  fbias: [0, num(-20, 20)], // forget bias, added to the forget block of bias_ih
  rinit: ["uniform", oneOf("uniform", "orthogonal")],
  gain: [1, num(0, 10)], // recurrent gain
  kind: ["text", oneOf("text", "sine", "random", "adding", "brackets", "custom")],
  text: ["hello world", { type: "string", max: 10000 }], // the server's max_text
  live: [false, { type: "bool" }],
  len: [24, int(1, 10000)], // generated sequence length (the server's max_steps)
  iseed: [0, int(0, 2 ** 31 - 1)], // generator seed
  seq: ["", { type: "string", max: 8000 }], // custom numbers, "1 0;0.5 2;..." (rows by ;)
  t: [0, int(0, 100000)], // current step
  unit: ["0", { type: "unit" }], // a unit index or "mean"
  layer: [0, int(0, 3)],
  speed: [4, num(0.25, 60)], // steps per second
  lo: [0.01, num(0, 1)], // gate reading: closed below
  hi: [0.95, num(0, 1)], // gate reading: open above
  hold: ["", { type: "string", max: 2000 }], // gates held, "f:1@5-9/u2;i:0@*" (see holds.js)
  model: ["", { type: "string", max: 64 }], // a gallery model's slug; "none": random weights
};

export const { defaults, parseValue, parse, serialise } = urlState(PROPERTIES);

// The parts of the state that change the trace (the rest only changes the view).
export const TRACE_KEYS = [
  "cell", "variant", "hidden", "layers", "seed", "fbias", "rinit", "gain",
  "kind", "text", "live", "len", "iseed", "seq", "hold", "model",
];

export function traceKey(state) {
  return TRACE_KEYS.map((k) => `${k}=${state[k]}`).join("&");
}
