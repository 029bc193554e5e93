// Gate holds ("what if I hold this gate?"): a compact URL form, their clamp list for
// POST /api/trace (the engine's `clamp`), and which gates are held at a step. Pure functions,
// so node --test checks them.
//
// URL form: entries joined by ";", each  gate:value@steps[/u<unit>][/l<layer>]
//   steps  "*" every step · "5" one step · "5-9" steps 5 to 9 (inclusive)
//   f:1@5-9/u2;i:0@*   = f held open at steps 5–9 for unit 2; i held closed everywhere.
// No /u means every unit; no /l means layer 0. Entries that do not parse are dropped.

export const MAX_HOLDS = 50;
const TANH_GATES = new Set(["g", "n"]); // they range over [−1, 1]; the sigmoid gates over [0, 1]
const ENTRY = /^([ifgorzn]):(-?(?:\d+\.?\d*|\.\d+)(?:e-?\d+)?)@(\*|\d{1,5}(?:-\d{1,5})?)(?:\/u(\d{1,3}))?(?:\/l(\d))?$/;

export const lowest = (gate) => (TANH_GATES.has(gate) ? -1 : 0);

// One entry's text -> {gate, value, from, to (null = every step), unit (null = all), layer}.
export function parseHold(text) {
  const m = ENTRY.exec(text.trim());
  if (!m) return null;
  const [, gate, raw, steps, unit, layer] = m;
  const value = Number(raw);
  if (!(value >= lowest(gate) && value <= 1)) return null;
  let from = null;
  let to = null;
  if (steps !== "*") {
    [from, to] = steps.split("-").map(Number);
    to ??= from;
    if (to < from) return null;
  }
  return { gate, value, from, to, unit: unit === undefined ? null : Number(unit), layer: Number(layer ?? 0) };
}

export function parseHolds(text) {
  if (!text) return [];
  return text.split(";").map(parseHold).filter(Boolean).slice(0, MAX_HOLDS);
}

export function formatHold({ gate, value, from, to, unit, layer }) {
  const steps = from === null ? "*" : from === to ? `${from}` : `${from}-${to}`;
  return `${gate}:${value}@${steps}${unit === null ? "" : `/u${unit}`}${layer ? `/l${layer}` : ""}`;
}

export const formatHolds = (holds) => holds.map(formatHold).join(";");

// The steps a hold covers in a run of `steps` steps ([] when it lies past the end).
export function holdSteps(hold, steps) {
  const from = hold.from ?? 0;
  const to = Math.min(hold.to ?? steps - 1, steps - 1);
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, k) => from + k);
}

// Does a hold apply to this model at all (its gate, unit and layer exist)?
export function applies(hold, { gates, hidden, layers }) {
  return gates.includes(hold.gate) && (hold.unit === null || hold.unit < hidden) && hold.layer < layers;
}

// The request's `clamp` list: [{t, gate, value, units?, layer}], one entry per hold that
// applies and covers at least one step.
export function toClamp(holds, model) {
  const out = [];
  for (const hold of holds) {
    const t = holdSteps(hold, model.steps);
    if (!applies(hold, model) || t.length === 0) continue;
    const entry = { t, gate: hold.gate, value: hold.value, layer: hold.layer };
    if (hold.unit !== null) entry.units = [hold.unit];
    out.push(entry);
  }
  return out;
}

// Is `gate` held at step t in this layer, for `unit` (a unit index, or "mean": any unit)?
export function heldAt(holds, { gate, t, unit, layer }) {
  return holds.some(
    (h) =>
      h.gate === gate && h.layer === layer &&
      (h.from === null || (t >= h.from && t <= h.to)) &&
      (h.unit === null || unit === "mean" || h.unit === Number(unit)),
  );
}

// "f = 1 (open) at steps 5–9, unit 2": a hold in words.
export function describeHold({ gate, value, from, to, unit, layer }, layers = 1) {
  const word = value === 1 ? " (open)" : value === 0 && !TANH_GATES.has(gate) ? " (closed)" : "";
  const steps = from === null ? "every step" : from === to ? `step ${from}` : `steps ${from}–${to}`;
  const units = unit === null ? "every unit" : `unit ${unit}`;
  return `${gate} = ${value}${word} at ${steps}, ${units}${layers > 1 ? `, layer ${layer}` : ""}`;
}
