// Readout cards of the gradient lab: one per network, text built from the answer of
// POST /api/compare. Pure text functions (node --test) plus a renderer that only uses
// textContent, so nothing typed by a user is ever parsed as HTML.
import { fmt } from "./encodings.js";
import { NETWORKS } from "./compare-chart.js";

export function powerText(log10) {
  if (log10 === null || log10 === undefined || !Number.isFinite(log10)) return "0 (exactly)";
  if (Math.abs(log10) < 3) return fmt(10 ** log10, 3);
  const e = Math.floor(log10);
  const m = 10 ** (log10 - e);
  return `${m.toFixed(2)}×10^${e}`.replace(/-/g, "\u2212");
}

export function fitText(fit) {
  if (!fit || fit.factor === null) return ["Per-step factor", "—"];
  if (fit.half_life !== null) {
    return ["Half-life", `${fmt(fit.half_life, 3)} steps (×${fmt(fit.factor, 4)} per step)`];
  }
  if (fit.doubling !== null) {
    return ["Doubles every", `${fmt(fit.doubling, 3)} steps (×${fmt(fit.factor, 4)} per step)`];
  }
  return ["Per-step factor", "×1: constant"];
}

const SAYS = { vanishing: "below 1: vanishes", exploding: "above 1: can explode", constant: "equal to 1: constant error" };

export function hochreiterText(cell, h) {
  const what = cell === "lstm" ? "cell path f (w = 1)" : cell === "gru" ? "∂h_j/∂h_j (self-loop)" : "|tanh′(net)·w_jj|";
  return [`H&S ${what}`, `typical ${fmt(h.typical, 3)}, max ${fmt(h.max, 3)}, ${SAYS[h.verdict] || ""}`];
}

export function pascanuText(p) {
  const note = p.exact ? "" : " (tanh block)";
  return [`σ_max(${p.matrix})${note}`, `${fmt(p.sigma_max, 4)} vs 1/γ = ${fmt(p.threshold, 3)}: ${p.verdict}`];
}

function firstK(v) {
  return v === null || v === undefined ? null : `k = ${v}`;
}

// Where a plain float run would have lost the gradient: the first step back of each kind.
export function floatText(limits) {
  const parts = [];
  for (const dtype of ["float32", "float64"]) {
    const l = limits[dtype];
    const bits = [];
    if (l.underflow !== null) bits.push(`0 from ${firstK(l.underflow)}`);
    else if (l.subnormal !== null) bits.push(`subnormal from ${firstK(l.subnormal)}`);
    if (l.overflow !== null) bits.push(`∞ from ${firstK(l.overflow)}`);
    parts.push(`${dtype}: ${bits.length ? bits.join(", ") : "fine"}`);
  }
  return ["Plain float run", parts.join("; ")];
}

// All rows of one card, [label, value] pairs; k is the cursor.
export function cardRows(cell, data, k) {
  const at = (arr) => (arr ? powerText(arr[Math.min(k, arr.length - 1)]) : "—");
  const rows = [[`‖∂L/∂h‖ at k = ${k}`, at(data.grad_h_log10)]];
  if (cell === "lstm") rows.push([`‖∂L/∂c‖ at k = ${k}`, at(data.grad_c_log10)]);
  rows.push(fitText(data.fit_h));
  if (cell === "lstm") {
    const [label, value] = fitText(data.fit_c);
    rows.push([`${label} of ‖∂L/∂c‖`, value]);
    const hl = data.forget_half_life;
    const inf = hl.infinite ? `, ${hl.infinite} unit${hl.infinite > 1 ? "s" : ""} ∞` : "";
    const med = hl.median === null ? "∞" : fmt(hl.median, 3);
    const range = hl.min === null ? "" : ` (${fmt(hl.min, 3)}–${fmt(hl.max, 3)})`;
    rows.push(["Forget half-life −ln2/ln f", `median ${med} steps${range}${inf}`]);
  }
  rows.push(hochreiterText(cell, data.hochreiter));
  rows.push(pascanuText(data.pascanu));
  if (cell === "lstm") {
    const c = data.c_norm;
    rows.push(["‖c_T‖, tanh(c) saturated", `${fmt(c[c.length - 1], 4)}, ${fmt(100 * data.saturated, 3)}% of units`]);
  }
  rows.push(floatText(data.float_h));
  return rows;
}

// Fill (or refill) the card of one network.
export function renderCard(card, cell, data, k, link) {
  const list = card.querySelector("dl");
  const items = [];
  for (const [label, value] of cardRows(cell, data, k)) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    items.push(dt, dd);
  }
  list.replaceChildren(...items);
  const a = card.querySelector("a.step-link");
  if (a) {
    a.hidden = !link;
    if (link) a.href = link;
  }
  card.hidden = false;
  card.querySelector("h3").textContent = NETWORKS[cell].name;
}
