// The gallery's small pictures, as pure functions (node --test checks them): one unit's values
// over a run as an SVG sparkline path, and a colour per value for coloured text.
import { CIVIDIS, DIVERGING, SIGMOID } from "./encodings.js";

// The named unit's values over the run: a gate, c or h of one layer of a /api/trace answer.
export function unitSeries(trace, { layer, unit, field }) {
  const entry = trace.layers[layer];
  const rows = field === "c" || field === "h" ? entry[field] : entry.gates[field];
  return rows.map((row) => row[unit]);
}

// The y range a field is drawn on: sigmoid gates on [0, 1], the rest symmetric about 0.
export function rangeOf(field, values) {
  if (SIGMOID.has(field)) return [0, 1];
  const m = Math.max(1e-9, ...values.map((v) => Math.abs(v)));
  return [-m, m];
}

// "M x0 y0 L x1 y1 ...": values left to right across w, lo at the bottom and hi at the top of h.
export function sparkPath(values, w, h, [lo, hi]) {
  const n = values.length;
  const x = (t) => (n > 1 ? (t * w) / (n - 1) : w / 2);
  const y = (v) => h - ((Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo || 1)) * h;
  return values.map((v, t) => `${t ? "L" : "M"}${x(t).toFixed(1)} ${y(v).toFixed(1)}`).join(" ");
}

const hex = (c) => [1, 3, 5].map((k) => parseInt(c.slice(k, k + 2), 16));

// The colour of x in [0, 1] on a scale of [position, "#rrggbb"] stops, linearly between stops.
export function colourAt(scale, x) {
  const v = Math.min(1, Math.max(0, x));
  let k = 1;
  while (k < scale.length - 1 && scale[k][0] < v) k += 1;
  const [p0, c0] = scale[k - 1];
  const [p1, c1] = scale[k];
  const f = p1 > p0 ? (v - p0) / (p1 - p0) : 0;
  const rgb = hex(c0).map((a, j) => Math.round(a + (hex(c1)[j] - a) * f));
  return `#${rgb.map((a) => a.toString(16).padStart(2, "0")).join("")}`;
}

// Background and text colour of one value: Cividis for a sigmoid gate, the diverging scale
// (centred on 0) otherwise; dark backgrounds get white text.
export function valueColours(field, value, [lo, hi]) {
  const scale = SIGMOID.has(field) ? CIVIDIS : DIVERGING;
  const bg = colourAt(scale, (value - lo) / (hi - lo || 1));
  const [r, g, b] = hex(bg);
  const light = 0.2126 * r + 0.7152 * g + 0.0722 * b > 140;
  return { bg, fg: light ? "#1b2a3a" : "#ffffff" };
}
