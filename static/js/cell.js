// SVG diagrams of one recurrent cell (LSTM, GRU, tanh RNN) in the familiar form. build() draws
// the fixed parts once; update() moves what changes with the step: gate fill levels, the width of
// each signal path, the numbers. Renderers take plain numbers and know nothing of the server.
import { COLOURS, NAMES, SIGMOID, fmt, gateReading, openness, flowWidth } from "./encodings.js";

const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

// Text with subscripts: label(parent, x, y, ["c", "t−1"], attrs) draws c_{t−1}.
function label(parent, x, y, [base, sub, tail], attrs = {}) {
  const text = el("text", { x, y, class: "label", ...attrs }, parent);
  text.appendChild(document.createTextNode(base));
  if (sub) {
    const s = el("tspan", { class: "sub", dy: 6 }, text);
    s.textContent = sub;
    if (tail) {
      const t = el("tspan", { dy: -6 }, text);
      t.textContent = tail;
    }
  }
  return text;
}

function wire(parent, d, cls = "wire") {
  return el("path", { d, class: cls, fill: "none" }, parent);
}

function node(parent, x, y, symbol) {
  const g = el("g", { class: "op" }, parent);
  el("circle", { cx: x, cy: y, r: 18 }, g);
  const t = el("text", { x, y: y + 7, "text-anchor": "middle" }, g);
  t.textContent = symbol;
  return g;
}

function tanhNode(parent, x, y) {
  const g = el("g", { class: "op" }, parent);
  el("ellipse", { cx: x, cy: y, rx: 34, ry: 20 }, g);
  const t = el("text", { x, y: y + 6, "text-anchor": "middle", class: "small" }, g);
  t.textContent = "tanh";
  return g;
}

// A gate block at (x, 184..268): its fill rises with the gate's value.
function gateBlock(parent, x, gate, refs) {
  const w = 96;
  const h = 84;
  const top = 184;
  const g = el("g", { class: "gate", "data-gate": gate, "data-value": "" }, parent);
  const title = el("title", {}, g);
  title.textContent = NAMES[gate];
  el("rect", { x: x - w / 2, y: top, width: w, height: h, rx: 8, class: "gate-box" }, g);
  const fill = el("rect", {
    x: x - w / 2, y: top, width: w, height: h, rx: 8, class: "gate-fill", fill: COLOURS[gate],
  }, g);
  el("rect", { x: x - w / 2, y: top, width: w, height: h, rx: 8, class: "gate-frame", stroke: COLOURS[gate] }, g);
  const sym = el("text", { x, y: top + 24, "text-anchor": "middle", class: "gate-sym" }, g);
  sym.textContent = `${gate}  ${SIGMOID.has(gate) ? "σ" : "tanh"}`;
  const value = el("text", { x, y: top + 53, "text-anchor": "middle", class: "gate-num" }, g);
  const word = el("text", { x, y: top + 75, "text-anchor": "middle", class: "gate-word" }, g);
  refs.gates[gate] = { g, fill, value, word };
  return g;
}

// Paths whose width follows a gate's value (the gate "lets through" more or less).
function gatedWire(parent, d, gate, refs) {
  const p = wire(parent, d, "wire gated");
  p.setAttribute("stroke", COLOURS[gate]);
  (refs.flows[gate] ||= []).push(p);
  return p;
}

function stateLabels(svg, refs, { cTop = true } = {}) {
  if (cTop) {
    refs.cPrev = label(svg, 24, 48, ["c", "t−1"]);
    refs.c = label(svg, 736, 48, ["c", "t"], { "text-anchor": "end" });
  }
  refs.hPrev = label(svg, 24, 372, ["h", "t−1"]);
  refs.h = label(svg, 736, 372, ["h", "t"], { "text-anchor": "end" });
  label(svg, 126, 408, ["x", "t"]);
}

function buildLstm(svg, refs, variant) {
  const xs = { f: 170, i: 290, g: 410, o: 530 };
  // the cell-state belt: c_{t-1} -> × forget -> + input -> c_t
  refs.belt = wire(svg, "M 24 70 H 736", "wire belt");
  node(svg, xs.f, 70, "×");
  node(svg, xs.g, 70, "+");
  // input rail: h_{t-1} and x_t feed every gate
  wire(svg, `M 24 340 H ${xs.o}`);
  wire(svg, "M 110 392 V 340");
  el("circle", { cx: 110, cy: 340, r: 5, class: "dot" }, svg);
  for (const x of Object.values(xs)) wire(svg, `M ${x} 340 V 268`);
  // forget gate multiplies the belt; input gate times candidate is added to it
  if (variant !== "no_forget_gate") gatedWire(svg, `M ${xs.f} 184 V 88`, "f", refs);
  gatedWire(svg, `M ${xs.i} 184 V 150 H ${xs.g - 18}`, "i", refs);
  gatedWire(svg, `M ${xs.g} 184 V 168`, "g", refs);
  node(svg, xs.g, 150, "×");
  wire(svg, `M ${xs.g} 132 V 88`);
  // output path: tanh(c_t), times the output gate, is h_t
  wire(svg, "M 655 70 V 120");
  tanhNode(svg, 655, 140);
  wire(svg, "M 655 160 V 214");
  node(svg, 655, 232, "×");
  gatedWire(svg, `M ${xs.o + 48} 232 H 637`, "o", refs);
  wire(svg, "M 655 250 V 340 H 736", "wire out");
  if (variant === "peephole") {
    for (const x of [xs.f, xs.i]) wire(svg, `M ${x - 30} 70 Q ${x - 44} 130 ${x - 30} 184`, "wire peep");
    wire(svg, `M 660 70 Q 690 160 ${xs.o + 30} 184`, "wire peep");
  }
  const gates = variant === "no_forget_gate" ? ["i", "g", "o"] : ["f", "i", "g", "o"];
  for (const gate of gates) gateBlock(svg, xs[gate], gate, refs);
  if (variant === "no_forget_gate") {
    const t = el("text", { x: xs.f, y: 140, "text-anchor": "middle", class: "gate-word" }, svg);
    t.textContent = "f = 1 (no forget gate)";
  }
  if (variant === "coupled") {
    const t = el("text", { x: xs.f - 12, y: 140, "text-anchor": "end", class: "gate-word" }, svg);
    t.textContent = "f = 1 − i";
  }
  stateLabels(svg, refs);
}

function buildGru(svg, refs) {
  // the hidden-state line across the top: z keeps h_{t-1}, 1-z lets the candidate n in
  refs.belt = wire(svg, "M 24 70 H 736", "wire belt");
  node(svg, 420, 70, "×");
  node(svg, 620, 70, "+");
  wire(svg, "M 60 70 V 340 H 390");
  wire(svg, "M 110 392 V 340");
  el("circle", { cx: 110, cy: 340, r: 5, class: "dot" }, svg);
  el("circle", { cx: 60, cy: 70, r: 5, class: "dot" }, svg);
  for (const x of [190, 310, 470]) wire(svg, `M ${x} 340 V 268`);
  wire(svg, "M 390 340 H 470");
  // r gates the recurrent part of the candidate
  gatedWire(svg, "M 190 184 V 158", "r", refs);
  wire(svg, "M 60 140 H 172");
  node(svg, 190, 140, "×");
  wire(svg, "M 208 140 H 300 A 10 10 0 0 1 320 140 H 440 V 184"); // hops over z's wire
  // z: keep the old state (z) or take the candidate (1 - z)
  gatedWire(svg, "M 310 184 V 110 H 420 V 88", "z", refs);
  gatedWire(svg, "M 420 110 H 520", "z", refs);
  const one = el("g", { class: "op" }, svg);
  el("rect", { x: 520, y: 94, width: 44, height: 32, rx: 6 }, one);
  el("text", { x: 542, y: 117, "text-anchor": "middle", class: "small" }, one).textContent = "1−";
  wire(svg, "M 564 110 H 585 V 150 H 602");
  node(svg, 620, 150, "×");
  gatedWire(svg, "M 518 226 H 620 V 168", "n", refs);
  wire(svg, "M 620 132 V 88");
  wire(svg, "M 638 70 H 736", "wire out");
  const xs = { r: 190, z: 310, n: 470 };
  for (const gate of ["r", "z", "n"]) gateBlock(svg, xs[gate], gate, refs);
  refs.hPrev = label(svg, 24, 48, ["h", "t−1"]);
  refs.h = label(svg, 736, 48, ["h", "t"], { "text-anchor": "end" });
  label(svg, 126, 408, ["x", "t"]);
}

function buildRnn(svg, refs) {
  wire(svg, "M 24 340 H 380 V 264");
  wire(svg, "M 110 392 V 340");
  el("circle", { cx: 110, cy: 340, r: 5, class: "dot" }, svg);
  const g = el("g", { class: "gate", "data-gate": "h" }, svg);
  el("rect", { x: 320, y: 200, width: 120, height: 64, rx: 8, class: "gate-box" }, g);
  const fill = el("rect", { x: 320, y: 200, width: 120, height: 64, rx: 8, class: "gate-fill", fill: COLOURS.h }, g);
  el("rect", { x: 320, y: 200, width: 120, height: 64, rx: 8, class: "gate-frame", stroke: COLOURS.h }, g);
  el("text", { x: 380, y: 226, "text-anchor": "middle", class: "gate-sym" }, g).textContent = "tanh";
  const value = el("text", { x: 380, y: 254, "text-anchor": "middle", class: "gate-num" }, g);
  refs.tanh = { g, fill, value };
  wire(svg, "M 380 200 V 140 H 620 V 340 H 736", "wire out");
  const note = el("text", { x: 380, y: 110, "text-anchor": "middle", class: "gate-word" }, svg);
  note.textContent = "no gates: the whole state is rewritten every step";
  refs.hPrev = label(svg, 24, 372, ["h", "t−1"]);
  refs.h = label(svg, 736, 372, ["h", "t"], { "text-anchor": "end" });
  label(svg, 126, 408, ["x", "t"]);
}

// Draw the fixed parts of the diagram for a cell family into container; returns the refs
// update() needs.
export function build(container, cell, variant = "standard") {
  container.replaceChildren();
  const svg = el("svg", {
    viewBox: "0 0 760 420",
    role: "img",
    class: `cell-svg cell-${cell}`,
    "aria-labelledby": "diagram-desc",
  });
  const desc = el("title", { id: "diagram-desc" }, svg);
  desc.textContent = `${cell.toUpperCase()} cell diagram`;
  const refs = { svg, cell, variant, gates: {}, flows: {}, desc };
  if (cell === "lstm") buildLstm(svg, refs, variant);
  else if (cell === "gru") buildGru(svg, refs);
  else buildRnn(svg, refs);
  container.appendChild(svg);
  return refs;
}

function setValueLabel(text, name, sub, v) {
  text.replaceChildren();
  text.appendChild(document.createTextNode(name));
  const s = el("tspan", { class: "sub", dy: 6 }, text);
  s.textContent = sub;
  const rest = el("tspan", { dy: -6 }, text);
  rest.textContent = ` = ${fmt(v)}`;
}

// Move the diagram to one step. view = {gates: {letter: value}, cPrev, c, hPrev, h, lo, hi}.
export function update(refs, view) {
  for (const [gate, parts] of Object.entries(refs.gates)) {
    const v = view.gates[gate];
    parts.g.setAttribute("data-value", String(v));
    parts.fill.style.transform = `scaleY(${openness(gate, v)})`;
    parts.fill.classList.toggle("negative", !SIGMOID.has(gate) && v < 0);
    parts.value.textContent = fmt(v, 3);
    parts.word.textContent = SIGMOID.has(gate) ? gateReading(v, view.lo, view.hi) : "";
  }
  for (const [gate, paths] of Object.entries(refs.flows)) {
    const v = view.gates[gate];
    for (const p of paths) {
      p.style.strokeWidth = `${flowWidth(v)}px`;
      p.style.opacity = String(0.35 + 0.65 * openness(gate, v));
    }
  }
  if (refs.tanh) {
    refs.tanh.g.setAttribute("data-value", String(view.h));
    refs.tanh.fill.style.transform = `scaleY(${openness("h", view.h)})`;
    refs.tanh.value.textContent = `h = ${fmt(view.h, 3)}`;
  }
  if (refs.belt) {
    const carried = refs.cell === "lstm" ? view.c : view.h;
    refs.belt.style.strokeWidth = `${flowWidth(Math.tanh(Math.abs(carried ?? 0)), 4, 14)}px`;
  }
  if (refs.cPrev) setValueLabel(refs.cPrev, "c", "t−1", view.cPrev);
  if (refs.c) setValueLabel(refs.c, "c", "t", view.c);
  setValueLabel(refs.hPrev, "h", "t−1", view.hPrev);
  setValueLabel(refs.h, "h", "t", view.h);
}
