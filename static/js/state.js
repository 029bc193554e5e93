// The whole UI state, serialised in the URL from one table of properties (as in
// tensorflow/playground): reload or share the link and the same view comes back.
// Only values that differ from the defaults are written, so links stay short.

const int = (min, max) => ({ type: "int", min, max });
const num = (min, max) => ({ type: "float", min, max });
const oneOf = (...choices) => ({ type: "enum", choices });

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
  text: ["hello world", { type: "string", max: 200 }],
  live: [false, { type: "bool" }],
  len: [24, int(1, 2000)], // generated sequence length
  iseed: [0, int(0, 2 ** 31 - 1)], // generator seed
  seq: ["", { type: "string", max: 8000 }], // custom numbers, "1 0;0.5 2;..." (rows by ;)
  t: [0, int(0, 100000)], // current step
  unit: ["0", { type: "unit" }], // a unit index or "mean"
  layer: [0, int(0, 3)],
  speed: [4, num(0.25, 60)], // steps per second
  lo: [0.01, num(0, 1)], // gate reading: closed below
  hi: [0.95, num(0, 1)], // gate reading: open above
};

export function defaults() {
  const s = {};
  for (const [key, [def]] of Object.entries(PROPERTIES)) s[key] = def;
  return s;
}

// Parse one raw string for a property; undefined when it is not a valid value.
export function parseValue(key, raw) {
  const [, kind] = PROPERTIES[key];
  if (raw === null || raw === undefined) return undefined;
  switch (kind.type) {
    case "int": {
      if (!/^-?\d+$/.test(raw)) return undefined;
      const v = Number(raw);
      return v >= kind.min && v <= kind.max ? v : undefined;
    }
    case "float": {
      const v = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(v)) return undefined;
      return v >= kind.min && v <= kind.max ? v : undefined;
    }
    case "enum":
      return kind.choices.includes(raw) ? raw : undefined;
    case "bool":
      return raw === "1" || raw === "true" ? true : raw === "0" || raw === "false" ? false : undefined;
    case "unit":
      return raw === "mean" || /^\d{1,3}$/.test(raw) ? raw : undefined;
    case "string":
      return raw.length <= kind.max ? raw : undefined;
    default:
      return undefined;
  }
}

function formatValue(key, value) {
  const [, kind] = PROPERTIES[key];
  if (kind.type === "bool") return value ? "1" : "0";
  return String(value);
}

// URL query string (without "?") -> full state; unknown or invalid parameters are ignored.
export function parse(query) {
  const params = new URLSearchParams(query);
  const s = defaults();
  for (const key of Object.keys(PROPERTIES)) {
    const v = parseValue(key, params.get(key));
    if (v !== undefined) s[key] = v;
  }
  return s;
}

// Full state -> URL query string, writing only what differs from the defaults.
export function serialise(state) {
  const params = new URLSearchParams();
  for (const [key, [def]] of Object.entries(PROPERTIES)) {
    const v = state[key];
    if (v === undefined || v === def) continue;
    params.set(key, formatValue(key, v));
  }
  return params.toString();
}

// The parts of the state that change the trace (the rest only changes the view).
export const TRACE_KEYS = [
  "cell", "variant", "hidden", "layers", "seed", "fbias", "rinit", "gain",
  "kind", "text", "live", "len", "iseed", "seq",
];

export function traceKey(state) {
  return TRACE_KEYS.map((k) => `${k}=${state[k]}`).join("&");
}
