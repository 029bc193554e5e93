// Pure helpers of the "Find the unit" panel (no DOM): step labels, span text, the colour of
// an activation, and the rows of one recorded field. Tested with node --test.

import { charLabels } from "./view.js";

// One label per step: the character read there (a newline as ↵), or the step's number.
export function stepsOf(trace) {
  const chars = charLabels(trace);
  if (!chars) return Array.from({ length: trace.steps }, (_, t) => String(t));
  return chars.map((ch) => (ch === "\n" ? "↵" : ch));
}

// "steps 3–7: “hello”" (text) or "steps 3–7" (numbers), for the half-open range [a, b).
export function spanText(labels, [a, b]) {
  const where = b - a === 1 ? `step ${a}` : `steps ${a}–${b - 1}`;
  const numeric = labels.every((label, t) => label === String(t));
  const words = labels.some((label) => label.length > 1); // tokens longer than a character
  return numeric ? where : `${where}: “${labels.slice(a, b).join(words ? " " : "")}”`;
}

// Okabe-Ito orange for positive, sky blue for negative, white at 0: a diverging scale that
// reads for colour-blind viewers, light enough for dark text at both ends. v in [-1, 1].
const POSITIVE = [230, 159, 0];
const NEGATIVE = [86, 180, 233];
export function activationColour(v) {
  const a = Math.max(-1, Math.min(1, Number.isFinite(v) ? v : 0));
  const end = a >= 0 ? POSITIVE : NEGATIVE;
  const mix = end.map((c) => Math.round(255 + (c - 255) * Math.abs(a)));
  return `rgb(${mix.join(", ")})`;
}

// The (T x H) rows of field "h", "c" or a gate letter of one layer: of every unit, so a
// compact trace's are the heatmaps' (rounded to L.heat.decimals).
export function valueRows(trace, layer, field) {
  const L = trace.layers[layer].heat ?? trace.layers[layer];
  return field === "h" || field === "c" ? L[field] : L.gates[field];
}

// A value of valueRows as text: a compact trace's to the decimals it was rounded to (the
// digits the exact value prints at that precision), else as it is.
export function valueText(trace, layer, v) {
  const heat = trace.layers[layer].heat;
  return heat && v !== null && v !== undefined ? v.toFixed(heat.decimals) : String(v);
}
