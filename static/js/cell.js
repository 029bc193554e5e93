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

// A gate block at (x, 184..268): a level gauge on its left rises with the gate's value and the
// block's tint deepens, so an open gate looks full and a closed one empty.
function gateBlock(parent, x, gate, refs, hook = "data-gate") {
  const w = 112;
  const h = 84;
  const top = 184;
  const left = x - w / 2;
  const g = el("g", { class: "gate", [hook]: gate, "data-value": "" }, parent);
  const title = el("title", {}, g);
  title.textContent = NAMES[gate];
  el("rect", { x: left, y: top, width: w, height: h, rx: 8, class: "gate-box" }, g);
  const tint = el("rect", { x: left, y: top, width: w, height: h, rx: 8, class: "gate-tint", fill: COLOURS[gate] }, g);
  el("rect", { x: left + 6, y: top + 8, width: 11, height: h - 16, rx: 3, class: "gauge" }, g);
  const fill = el("rect", {
    x: left + 6, y: top + 8, width: 11, height: h - 16, rx: 3, class: "gate-fill", fill: COLOURS[gate],
  }, g);
  el("rect", { x: left, y: top, width: w, height: h, rx: 8, class: "gate-frame", stroke: COLOURS[gate] }, g);
  const cx = x + 9; // text centred in the part right of the gauge
  const sym = el("text", { x: cx, y: top + 27, "text-anchor": "middle", class: "gate-sym" }, g);
  sym.textContent = `${gate}  ${SIGMOID.has(gate) ? "σ" : "tanh"}`;
  const value = el("text", { x: cx, y: top + 64, "text-anchor": "middle", class: "gate-num", lengthAdjust: "spacingAndGlyphs" }, g);
  const word = el("text", { x, y: top + h + 4, "text-anchor": "middle", class: "gate-word halo" }, g);
  const gauge = { bottom: top + h - 8, height: h - 16 }; // the fill rises from the bottom
  refs.gates[gate] = { g, fill, tint, value, word, gauge };
  return g;
}

// Paths whose width follows a gate's value (the gate "lets through" more or less).
function gatedWire(parent, d, gate, refs) {
  const p = wire(parent, d, "wire gated");
  p.setAttribute("stroke", COLOURS[gate]);
  p.dataset.flow = gate; // class.css hides its width while a class question asks about the gate
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
}

function buildLstm(svg, refs, variant) {
  const xs = { f: 165, i: 290, g: 415, o: 540 };
  // the cell-state belt: c_{t-1} -> × forget -> + input -> c_t
  refs.belt = wire(svg, "M 24 70 H 736", "wire belt");
  node(svg, xs.f, 70, "×");
  node(svg, xs.g, 70, "+");
  // input rail: h_{t-1} and x_t feed every gate
  wire(svg, `M 24 340 H ${xs.o}`);
  wire(svg, "M 228 392 V 340");
  el("circle", { cx: 228, cy: 340, r: 5, class: "dot" }, svg);
  for (const x of Object.values(xs)) wire(svg, `M ${x} 340 V 268`);
  // forget gate multiplies the belt; input gate times candidate is added to it
  gatedWire(svg, `M ${xs.f} 184 V 88`, "f", refs);
  gatedWire(svg, `M ${xs.i} 184 V 150 H ${xs.g - 18}`, "i", refs);
  gatedWire(svg, `M ${xs.g} 184 V 168`, "g", refs);
  node(svg, xs.g, 150, "×");
  wire(svg, `M ${xs.g} 132 V 88`);
  // output path: tanh(c_t), times the output gate, is h_t
  wire(svg, "M 665 70 V 120");
  tanhNode(svg, 665, 140);
  wire(svg, "M 665 160 V 214");
  node(svg, 665, 232, "×");
  gatedWire(svg, `M ${xs.o + 56} 232 H 647`, "o", refs);
  wire(svg, "M 665 250 V 340 H 736", "wire out");
  if (variant === "peephole") {
    for (const x of [xs.f, xs.i]) wire(svg, `M ${x - 30} 70 Q ${x - 44} 130 ${x - 30} 184`, "wire peep");
    wire(svg, `M 660 70 Q 690 160 ${xs.o + 30} 184`, "wire peep");
  }
  for (const gate of ["f", "i", "g", "o"]) gateBlock(svg, xs[gate], gate, refs);
  if (variant === "no_forget_gate") {
    const t = el("text", { x: xs.f - 12, y: 140, "text-anchor": "end", class: "gate-word" }, svg);
    t.textContent = "f ≡ 1";
  }
  if (variant === "coupled") {
    const t = el("text", { x: xs.f - 12, y: 140, "text-anchor": "end", class: "gate-word" }, svg);
    t.textContent = "f = 1 − i";
  }
  stateLabels(svg, refs);
  label(svg, 244, 410, ["x", "t"]);
}

function buildGru(svg, refs) {
  const xs = { r: 180, z: 320, n: 480 };
  // the hidden-state line across the top: z keeps h_{t-1}, 1-z lets the candidate n in
  refs.belt = wire(svg, "M 24 70 H 736", "wire belt");
  node(svg, 430, 70, "×");
  node(svg, 640, 70, "+");
  wire(svg, `M 60 70 V 340 H ${xs.n}`);
  wire(svg, "M 110 392 V 340");
  el("circle", { cx: 110, cy: 340, r: 5, class: "dot" }, svg);
  el("circle", { cx: 60, cy: 70, r: 5, class: "dot" }, svg);
  for (const x of Object.values(xs)) wire(svg, `M ${x} 340 V 268`);
  // r gates the recurrent part of the candidate
  gatedWire(svg, `M ${xs.r} 184 V 158`, "r", refs);
  wire(svg, `M 60 140 H ${xs.r - 18}`);
  node(svg, xs.r, 140, "×");
  wire(svg, `M ${xs.r + 18} 140 H ${xs.z - 10} A 10 10 0 0 1 ${xs.z + 10} 140 H 450 V 184`); // hops over z
  // z: keep the old state (z) or take the candidate (1 - z)
  gatedWire(svg, `M ${xs.z} 184 V 110 H 430 V 88`, "z", refs);
  gatedWire(svg, "M 430 110 H 530", "z", refs);
  const one = el("g", { class: "op" }, svg);
  el("rect", { x: 530, y: 94, width: 44, height: 32, rx: 6 }, one);
  el("text", { x: 552, y: 117, "text-anchor": "middle", class: "small" }, one).textContent = "1−";
  wire(svg, "M 574 110 H 600 V 150 H 622");
  node(svg, 640, 150, "×");
  gatedWire(svg, `M ${xs.n + 56} 226 H 640 V 168`, "n", refs);
  wire(svg, "M 640 132 V 88");
  wire(svg, "M 658 70 H 736", "wire out");
  for (const gate of ["r", "z", "n"]) gateBlock(svg, xs[gate], gate, refs);
  refs.hPrev = label(svg, 24, 48, ["h", "t−1"]);
  refs.h = label(svg, 736, 48, ["h", "t"], { "text-anchor": "end" });
  label(svg, 126, 408, ["x", "t"]);
}

function buildRnn(svg, refs) {
  wire(svg, "M 24 340 H 380 V 268");
  wire(svg, "M 228 392 V 340");
  el("circle", { cx: 228, cy: 340, r: 5, class: "dot" }, svg);
  wire(svg, "M 380 184 V 140 H 640 V 340 H 736", "wire out");
  gateBlock(svg, 380, "h", refs, "data-state"); // not a gate: the new state itself
  const note = el("text", { x: 380, y: 110, "text-anchor": "middle", class: "gate-word" }, svg);
  note.textContent = "no gates: the whole state is rewritten every step";
  refs.hPrev = label(svg, 24, 372, ["h", "t−1"]);
  refs.h = label(svg, 736, 372, ["h", "t"], { "text-anchor": "end" });
  label(svg, 244, 410, ["x", "t"]);
}

// Draw the fixed parts of the diagram for a cell family into container; returns the refs
// update() needs. The title's id follows the container's, so several diagrams in one document
// (views in a notebook) never share one.
export function build(container, cell, variant = "standard") {
  container.replaceChildren();
  const descId = `${container.id || "diagram"}-desc`;
  const svg = el("svg", {
    viewBox: cell === "rnn" ? "0 90 760 330" : "0 0 760 420", // the RNN has nothing up top
    role: "img",
    class: `cell-svg cell-${cell}`,
    "aria-labelledby": descId,
  });
  const desc = el("title", { id: descId }, svg);
  desc.textContent = `${cell.toUpperCase()} cell diagram`;
  const refs = { svg, cell, variant, gates: {}, flows: {}, desc };
  if (cell === "lstm") buildLstm(svg, refs, variant);
  else if (cell === "gru") buildGru(svg, refs);
  else buildRnn(svg, refs);
  container.appendChild(svg);
  return refs;
}

// The label's parts are made once; each step rewrites only the number (new nodes every step
// cost a layout of the whole SVG text at 60 steps/s).
const valueParts = new WeakMap();
function setValueLabel(text, name, sub, v) {
  let rest = valueParts.get(text);
  if (!rest) {
    text.replaceChildren();
    text.appendChild(document.createTextNode(name));
    const s = el("tspan", { class: "sub", dy: 6 }, text);
    s.textContent = sub;
    rest = el("tspan", { dy: -6 }, text);
    valueParts.set(text, rest);
  }
  rest.textContent = ` = ${fmt(v)}`;
}

// A gate's reading under its block, its first word on a line and the rest on the next
// ("partly" / "open"): two short lines stay under their own gate at the larger size a phone
// needs (cell.css), where "partly open" on one line ran into the next gate's. The whole reading
// is kept in data-word (hold-form.js adds " · held" to it).
export function setGateWord(word, text) {
  if (word.dataset.word === text) return;
  word.dataset.word = text;
  const [first, ...rest] = text.split(" ");
  const lines = rest.length ? [first, rest.join(" ")] : [first];
  word.replaceChildren(...lines.map((line, k) => {
    const span = document.createElementNS(word.namespaceURI, "tspan");
    span.setAttribute("x", word.getAttribute("x"));
    span.setAttribute("dy", k === 0 ? "1.1em" : "1.05em");
    span.textContent = line;
    return span;
  }));
}

// Move the diagram to one step. view = {gates: {letter: value}, cPrev, c, hPrev, h, lo, hi}.
// Levels are geometry (y, height) and shades are fill- and stroke-opacity, never a transform or
// an opacity: those give an element paint properties of its own, and changing one at every step
// made Chromium lay the whole page out in layers again (4 ms a frame at 60 steps/s).
export function update(refs, view) {
  for (const [gate, parts] of Object.entries(refs.gates)) {
    const v = gate in view.gates ? view.gates[gate] : view[gate]; // the RNN shows h itself
    const open = openness(gate, v);
    const { bottom, height } = parts.gauge;
    parts.g.setAttribute("data-value", String(v));
    parts.fill.style.y = `${bottom - open * height}px`;
    parts.fill.style.height = `${open * height}px`;
    parts.fill.classList.toggle("negative", !SIGMOID.has(gate) && v < 0);
    parts.tint.style.fillOpacity = String(0.05 + 0.3 * open);
    parts.value.textContent = fmt(v, 3);
    // a long number (−0.734, 1.2e-5) is fitted into the box, never spilling out of it
    if (parts.value.textContent.length > 5) parts.value.setAttribute("textLength", "86");
    else parts.value.removeAttribute("textLength");
    setGateWord(parts.word, SIGMOID.has(gate) ? gateReading(v, view.lo, view.hi) : "");
  }
  for (const [gate, paths] of Object.entries(refs.flows)) {
    const v = view.gates[gate];
    for (const p of paths) {
      p.style.strokeWidth = `${flowWidth(v)}px`;
      p.style.strokeOpacity = String(0.35 + 0.65 * openness(gate, v));
    }
  }
  if (refs.belt) {
    const carried = refs.cell === "lstm" ? view.c : view.h;
    refs.belt.style.strokeWidth = `${flowWidth(Math.tanh(Math.abs(carried ?? 0)), 4, 14)}px`;
  }
  const prev = view.prevStep ?? "t−1"; // "t+1" for a reverse direction
  if (refs.cPrev) setValueLabel(refs.cPrev, "c", prev, view.cPrev);
  if (refs.c) setValueLabel(refs.c, "c", "t", view.c);
  setValueLabel(refs.hPrev, "h", prev, view.hPrev);
  setValueLabel(refs.h, "h", "t", view.h);
}
