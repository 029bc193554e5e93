// Visual encodings in one place: colour per gate, colour scales, gate reading, durations.
// Colours are the Okabe-Ito palette (distinguishable with every common colour-vision
// deficiency); heatmaps use Cividis (sequential, for sigmoid gates in [0, 1]) and a
// blue-white-orange diverging scale (for tanh values and states, centred on 0).

export const OKABE_ITO = {
  orange: "#E69F00",
  skyBlue: "#56B4E9",
  green: "#009E73",
  yellow: "#F0E442",
  blue: "#0072B2",
  vermillion: "#D55E00",
  purple: "#CC79A7",
  black: "#000000",
};

// Gate and state colours, shared by the diagram, the equations and the charts.
export const COLOURS = {
  i: OKABE_ITO.green,
  f: OKABE_ITO.blue,
  g: OKABE_ITO.orange,
  o: OKABE_ITO.vermillion,
  r: OKABE_ITO.purple,
  z: OKABE_ITO.blue,
  n: OKABE_ITO.orange,
  c: "#1b2a3a",
  h: "#7a3e9d",
  grad_h: OKABE_ITO.vermillion,
  grad_c: OKABE_ITO.blue,
};

// Long names for labels and screen readers.
export const NAMES = {
  i: "input gate",
  f: "forget gate",
  g: "candidate",
  o: "output gate",
  r: "reset gate",
  z: "update gate",
  n: "candidate",
  c: "cell state",
  h: "hidden state",
};

// Gates per cell family, in PyTorch's block order.
export const GATES = { lstm: ["i", "f", "g", "o"], gru: ["r", "z", "n"], rnn: [] };

// Which gates are sigmoids (they read as closed / partly open / open); the rest are tanh.
export const SIGMOID = new Set(["i", "f", "o", "r", "z"]);

export const THRESHOLDS = { closed: 0.01, open: 0.95 };

// Cividis, sampled at 9 stops (Nuñez et al. 2018): perceptually uniform, colour-blind-safe.
export const CIVIDIS = [
  [0.0, "#00224e"], [0.125, "#123570"], [0.25, "#3b496c"], [0.375, "#575d6d"],
  [0.5, "#707173"], [0.625, "#8a8779"], [0.75, "#a69d75"], [0.875, "#c4b56c"],
  [1.0, "#fee838"],
];

// Diverging blue - white - orange (from the Okabe-Ito hues), symmetric about 0.
export const DIVERGING = [
  [0.0, "#0b4f8a"], [0.25, "#6aa6d6"], [0.5, "#f7f7f7"], [0.75, "#f0b65a"], [1.0, "#a35200"],
];

// Heatmap series per cell family: [key, title, scale kind].
export function heatmapSeries(cell) {
  const gates = GATES[cell] || [];
  const series = gates.map((g) => [g, `${g}  ${NAMES[g]}`, SIGMOID.has(g) ? "unit" : "signed"]);
  if (cell === "lstm") series.push(["c", "c  cell state", "signed"]);
  series.push(["h", "h  hidden state", "signed"]);
  return series;
}

// Plotly colour-scale settings for one heatmap: sigmoids on [0, 1], the rest centred on 0.
export function scaleFor(kind, maxAbs) {
  if (kind === "unit") return { colorscale: CIVIDIS, zmin: 0, zmax: 1 };
  const m = Math.max(Number.isFinite(maxAbs) ? maxAbs : 1, 1e-9);
  return { colorscale: DIVERGING, zmin: -m, zmax: m, zmid: 0 };
}

// Read a sigmoid gate: a sigmoid is never exactly 0 or 1, so "closed" and "open" are thresholds.
export function gateReading(value, lo = THRESHOLDS.closed, hi = THRESHOLDS.open) {
  if (value === null || value === undefined || Number.isNaN(value)) return "unknown";
  if (value < lo) return "closed";
  if (value > hi) return "open";
  return "partly open";
}

// How many units are closed / partly open / open.
export function readingCounts(values, lo = THRESHOLDS.closed, hi = THRESHOLDS.open) {
  const counts = { closed: 0, "partly open": 0, open: 0, unknown: 0 };
  for (const v of values) counts[gateReading(v, lo, hi)] += 1;
  return counts;
}

// How open a gate looks in the diagram, 0..1: sigmoids as they are, tanh values by magnitude.
export function openness(gate, value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return 0;
  const v = SIGMOID.has(gate) ? value : Math.abs(value);
  return Math.min(1, Math.max(0, v));
}

// Stroke width of a path carrying a signal of size |v| (v in roughly [-1, 1]).
export function flowWidth(value, min = 1.5, max = 10) {
  if (value === null || value === undefined || !Number.isFinite(value)) return min;
  return min + (max - min) * Math.min(1, Math.abs(value));
}

// Number formats: 4 significant digits is readable on a projector and enough to check sums.
export function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "—";
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  const text = a < 1e-3 || a >= 1e5 ? v.toExponential(digits - 2) : Number(v.toPrecision(digits)).toString();
  return text.replace(/-/g, "\u2212"); // a true minus sign reads better on a projector
}

export const DURATIONS = {
  transitionMs: 120, // gate bars ease between steps (shorter than a step at 8 steps/s)
  defaultSpeed: 4, // steps per second
  speeds: [1, 2, 4, 8, 15, 30, 60],
};
