// Plain slices of a trace for one step: what the diagram, the equations and the gate reading
// show. Pure functions of (trace, step, unit, layer), so node --test can check them.
import { GATES, SIGMOID, fmt, readingCounts } from "./encodings.js";

// One unit's value, or the mean over units (null when any value is missing or non-finite).
export function pick(row, unit) {
  if (!row) return null;
  if (unit !== "mean") return row[Number(unit)] ?? null;
  let s = 0;
  for (const v of row) {
    if (v === null) return null;
    s += v;
  }
  return s / row.length;
}

// Gates and states of one layer at step t; the states before step 0 are zero.
// A reverse direction (bidirectional: entries [l0, l0 reverse, ...]) comes to row t from row t+1.
export function stepView(trace, { t, unit, layer }) {
  const L = trace.layers[layer];
  const back = trace.bidirectional && layer % 2 === 1 ? -1 : 1; // where the previous state is
  const at = (rows, s) => (s >= 0 ? pick(rows?.[s], unit) : 0);
  // zeros before the first step (a reverse direction's first step is the last row)
  const prev = (rows) => (back < 0 && rows?.[t + 1] === undefined ? 0 : at(rows, t - back));
  const gates = {};
  for (const g of GATES[trace.cell] || []) gates[g] = pick(L.gates[g]?.[t], unit);
  return {
    gates,
    cPrev: L.c ? prev(L.c) : null,
    c: L.c ? at(L.c, t) : null,
    hPrev: prev(L.h),
    prevStep: back < 0 ? "t+1" : "t−1", // the subscript of the previous state
    h: at(L.h, t),
  };
}

// How many units each sigmoid gate has closed / partly open / open at step t. A compact
// trace's counts come from the server, counted on the exact values for the thresholds asked
// (layer.reading); until those for lo and hi are in there are none.
export function readingRows(trace, { t, layer, lo, hi }) {
  const L = trace.layers[layer];
  if (L.heat) {
    const r = L.reading;
    if (!r || r.lo !== lo || r.hi !== hi || t >= r.n) return [];
    return (GATES[trace.cell] || [])
      .filter((g) => SIGMOID.has(g) && r.counts[g])
      .map((g) => {
        const c = r.counts[g];
        return { gate: g, counts: { closed: c.closed[t], "partly open": c.partly[t], open: c.open[t] } };
      });
  }
  return (GATES[trace.cell] || [])
    .filter((g) => SIGMOID.has(g) && L.gates[g]?.[t])
    .map((g) => ({ gate: g, counts: readingCounts(L.gates[g][t], lo, hi) }));
}

// The character of a one-hot row, or null.
export function charOf(trace, x) {
  if (!trace.alphabet || !x) return null;
  const k = x.indexOf(1);
  return k >= 0 ? trace.alphabet[k] : "?";
}

export function inputLabel(trace, t, layer = 0) {
  const x = trace.inputs[t];
  const ch = trace.labels ? trace.labels[t] ?? "?" : charOf(trace, x);
  let text = `Step ${t}`;
  if (ch !== null) text += `: input “${ch === " " ? "␣ (space)" : ch}”`;
  else if (x) text += `: input x = [${x.map((v) => fmt(v, 3)).join(", ")}]`;
  const k = trace.bidirectional ? Math.floor(layer / 2) : layer; // layers: [l0, l0 reverse, l1, ...]
  if (k > 0) text += ` · layer ${k} reads h of layer ${k - 1}${trace.bidirectional ? " (both directions)" : ""}`;
  if (trace.bidirectional && layer % 2) text += " · reverse: it reads the sequence from the end";
  return text;
}

// Axis labels for the charts: the typed characters or tokens, when the input is text.
export function charLabels(trace) {
  if (trace.labels) return trace.labels; // tokens, from a vocabulary
  return trace.alphabet ? trace.inputs.map((x) => charOf(trace, x)) : null;
}

// A norm given by its log10, readable even far below the float range (1e-500 is possible).
export function normText(log10) {
  if (log10 === null || log10 === undefined) return "not yet";
  if (log10 > -4 && log10 < 5) return fmt(10 ** log10, 3);
  const e = Math.floor(log10);
  return `${fmt(10 ** (log10 - e), 3)}×10^${e}`.replace("-", "\u2212");
}

// The gradient norms at step t, once the backward pass has reached it.
export function gradLabel(trace, { t, layer }, revealFrom) {
  const L = trace.layers[layer];
  // An exact zero has no log10 (null): a step that cannot reach the loss, e.g. a reverse
  // direction's steps before its last-computed one when L reads the last row only.
  const shown = (logs, plain) => {
    if (!logs || t < revealFrom) return "not yet";
    return logs[t] === null && plain?.[t] === 0 ? "0" : normText(logs[t]);
  };
  let text = `At step ${t}: ‖∂L/∂h‖ = ${shown(L.grad_h_log10_norm, L.grad_h_norm)}`;
  if (L.grad_c_log10_norm) text += `, ‖∂L/∂c‖ = ${shown(L.grad_c_log10_norm, L.grad_c_norm)}`;
  return text;
}
