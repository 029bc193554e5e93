// The self-contained view of one run (a notebook's lx.show(...), a saved HTML file): the step
// page's own renderers (cell.js, equations.js, view.js, player.js) over a run inlined as data,
// with no server, no network and no globals. mount(root, data) builds everything inside root;
// several views in one document each have their own root, ids prefixed with root.id, and keys
// bound on root alone (arrows step the view that has focus, never another).
// The data (app/standalone/payload.py): float32 rows, base64, for the window of steps
// [t0, t0 + steps) of the run's T; the gradient norms for all T steps.
import * as cellView from "./cell.js";
import { h, withPowers } from "./class-dom.js";
import { DURATIONS, GATES, NAMES, heatmapSeries } from "./encodings.js";
import * as equations from "./equations.js";
import { createGradChart, createHeatmap } from "./mini-charts.js";
import { Player } from "./player.js";
import { gradLabel, inputLabel, readingRows, stepView } from "./view.js";

function bytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let k = 0; k < bin.length; k += 1) out[k] = bin.charCodeAt(k);
  return out.buffer;
}

// rows[t] for t in [first, first + n) (a sparse array indexed by the run's own step t).
function rowsOf(b64, first, width) {
  const values = new Float32Array(bytes(b64));
  const rows = [];
  const n = width ? values.length / width : 0;
  for (let k = 0; k < n; k += 1) rows[first + k] = values.subarray(k * width, (k + 1) * width);
  return rows;
}
const logsOf = (b64) => (b64 ? Array.from(new Float64Array(bytes(b64)), (v) => (Number.isFinite(v) ? v : null)) : null);

// The payload as view.js reads a trace (layers of gates, c, h, gradient norms; labels).
export function traceOf(data) {
  const labels = [];
  (data.labels || []).forEach((label, k) => { labels[data.first + k] = label; });
  const layers = data.layers.map((e) => {
    const rows = (key) => (e.fields[key] ? rowsOf(e.fields[key], data.first, key === "h" ? e.out_width : e.width) : null);
    const gates = {};
    for (const g of GATES[data.cell] || []) gates[g] = rows(g);
    return {
      gates, c: rows("c"), h: rows("h"), width: e.width, name: e.name,
      grad_h_norm: logsOf(e.grad_h_norm), grad_h_log10_norm: logsOf(e.grad_h_log10_norm),
      grad_c_norm: logsOf(e.grad_c_norm), grad_c_log10_norm: logsOf(e.grad_c_log10_norm),
    };
  });
  const inputs = data.inputs ? rowsOf(data.inputs, data.first, data.input_size) : [];
  const plain = (rows) => rows.map((r) => (r ? Array.from(r) : r));
  return {
    cell: data.cell, variant: data.variant, steps: data.total_steps, t0: data.t0, shown: data.steps,
    num_layers: data.num_layers, bidirectional: data.bidirectional, layers,
    inputs: plain(inputs), labels: data.labels ? labels : null,
  };
}

const ICONS = {
  first: "M5 4h3v16H5zM20 4v16L9 12z", back: "M18 4v16L7 12z", fwd: "M6 4v16l11-8z", last: "M16 4h3v16h-3zM4 4v16l11-8z",
};
function iconButton(name, label) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return h("button", { type: "button", "aria-label": label, title: label, "data-action": name }, svg);
}

function select(id, label, options, value) {
  const box = h("select", { id }, ...options.map(([v, text]) => h("option", { value: v, text })));
  box.value = String(value);
  return [h("div", {}, h("label", { for: id, text: label }), box), box];
}

export function mount(root, data) {
  const id = root.id;
  const tr = traceOf(data);
  const ui = { t: tr.t0, unit: "0", layer: 0, speed: DURATIONS.defaultSpeed, lo: 0.01, hi: 0.95, hideGradsFrom: 0 };
  const last = tr.t0 + tr.shown - 1;

  // --- the DOM ------------------------------------------------------------------------------
  const play = h("button", { type: "button", class: "primary lx-play", "aria-label": "Play (Space)", text: "▶ Play" });
  const scrubber = h("input", { id: `${id}-scrub`, type: "range", min: tr.t0, max: last, step: 1, value: tr.t0 });
  const tLabel = h("output", { for: `${id}-scrub` });
  const [speedBox, speed] = select(`${id}-speed`, "Speed", DURATIONS.speeds.map((s) => [s, `${s} step${s > 1 ? "s" : ""}/s`]), ui.speed);
  const units = tr.layers[0].width;
  const unitOptions = [["mean", "mean of all"], ...Array.from({ length: Math.max(...tr.layers.map((l) => l.width)) }, (_, u) => [u, `unit ${u}`])];
  const [unitBox, unit] = select(`${id}-unit`, "Unit", unitOptions, units ? 0 : "mean");
  const [layerBox, layer] = select(`${id}-layer`, "Layer", tr.layers.map((l, k) => [k, l.name]), 0);
  layerBox.hidden = tr.layers.length < 2;
  const diagram = h("div", { id: `${id}-diagram`, class: "diagram", "data-t": String(tr.t0), "data-unit": "0", "data-layer": "0" });
  const inputNow = h("p", { class: "lx-input-now" });
  const reading = h("div", { class: "reading", "aria-label": "Gate reading" });
  const eqs = h("div", { class: "equations" });
  const status = h("p", { class: "lx-status", role: "status", "aria-live": "polite" });
  const gradNow = h("p", { class: "grad-now" });
  const gradBox = h("div", { id: `${id}-grad`, class: "lx-grad" });
  const heatBox = h("div", { class: "lx-heatmaps" });
  root.replaceChildren(
    h("div", { class: "lx-head" }, h("strong", { class: "lx-title", text: data.title }),
      ...(data.note ? [h("p", { class: "lx-note", text: data.note })] : [])),
    h("div", { class: "lx-player", role: "group", "aria-label": "Player" },
      h("div", { class: "lx-buttons" }, iconButton("first", "First step (Home)"), iconButton("back", "Step back (Left arrow)"),
        play, iconButton("fwd", "Step forward (Right arrow)"), iconButton("last", "Last step (End)")),
      h("div", { class: "lx-scrub" }, h("label", { for: `${id}-scrub` }, "Step ", tLabel), scrubber),
      h("div", { class: "lx-pickers" }, speedBox, unitBox, layerBox)),
    status,
    h("div", { class: "lx-stage" },
      h("section", { class: "lx-panel" }, inputNow, diagram),
      h("section", { class: "lx-panel", "aria-label": "Equations and gate reading" }, eqs, reading)),
    h("section", { class: "lx-panel", "aria-label": "Backward pass" },
      h("h3", { text: "Backward pass: gradient size per step" }), gradNow, gradBox),
    h("section", { class: "lx-panel", "aria-label": "Every unit, every step" },
      h("h3", { text: "Every unit, every step" }),
      h("p", { class: "hint", text: "Click a cell to jump to that step and unit, or Tab to a heatmap, move with the arrow keys and press Enter." }),
      heatBox),
    h("p", { class: "hint lx-keys", text: "Keys (click the view first): Space play/pause · ← → one step · Home End first and last step." }),
  );

  // --- the renderers --------------------------------------------------------------------------
  const refs = cellView.build(diagram, data.cell, data.variant);
  const grad = createGradChart(gradBox);
  let heatmaps = [];
  const entry = () => tr.layers[ui.layer];

  function drawCharts() {
    const L = entry();
    heatBox.replaceChildren();
    heatmaps = heatmapSeries(data.cell).map(([key, title, kind]) => {
      const hm = createHeatmap(heatBox, { key, title, kind }, (t, u) => {
        player.pause();
        unit.value = String(u);
        ui.unit = String(u);
        player.seek(t - tr.t0);
      });
      const rows = key === "c" ? L.c : key === "h" ? L.h : L.gates[key];
      hm.draw(rows, tr.t0, tr.shown, key === "h" ? rows[tr.t0]?.length ?? L.width : L.width, tr.labels);
      return hm;
    });
    const series = [["grad_h", "‖∂L/∂hₜ‖", L.grad_h_log10_norm]];
    if (L.grad_c_log10_norm) series.push(["grad_c", "‖∂L/∂cₜ‖", L.grad_c_log10_norm]);
    grad.draw(series, tr.steps, tr.labels);
  }

  function render(t) {
    const where = { t, unit: ui.unit, layer: ui.layer, lo: ui.lo, hi: ui.hi };
    const slice = stepView(tr, where);
    cellView.update(refs, { ...slice, lo: ui.lo, hi: ui.hi });
    Object.assign(diagram.dataset, { t: String(t), unit: ui.unit, layer: String(ui.layer) });
    equations.render(eqs, data.cell, data.variant, { ...slice, ...slice.gates, mean: ui.unit === "mean", unit: ui.unit });
    const rows = readingRows(tr, where);
    reading.replaceChildren(...(rows.length ? [
      h("p", { class: "hint", text: `Units per gate state (closed < ${ui.lo}, open > ${ui.hi}):` }),
      h("ul", {}, ...rows.map(({ gate, counts }) => h("li", {}, h("strong", { text: `${gate} (${NAMES[gate]})` }),
        h("span", { text: `closed ${counts.closed} · partly open ${counts["partly open"]} · open ${counts.open}` })))),
    ] : []));
    inputNow.textContent = inputLabel(tr, t, ui.layer);
    scrubber.value = String(t);
    tLabel.textContent = `${t} (of 0–${tr.steps - 1})`;
    const u = ui.unit === "mean" ? null : Number(ui.unit);
    for (const hm of heatmaps) hm.move(t, u);
    grad.move(t);
    const reveal = ui.hideGradsFrom;
    grad.setReveal(reveal);
    withPowers(gradNow, gradLabel(tr, where, reveal));
  }

  // --- the player: a play-through runs forward, then the backward pass from the last step ---
  const player = new Player({
    length: tr.shown,
    speed: ui.speed,
    onChange: (p) => {
      ui.t = tr.t0 + p;
      if (!player.playing) ui.hideGradsFrom = 0;
      else if (player.direction < 0) ui.hideGradsFrom = Math.min(ui.hideGradsFrom, ui.t);
      render(ui.t);
    },
    onPlayState: (playing, direction) => {
      play.textContent = playing ? "❚❚ Pause" : "▶ Play";
      play.setAttribute("aria-label", playing ? "Pause (Space)" : "Play (Space)");
      if (playing) status.textContent = direction > 0 ? "Forward pass: gates open and close step by step." : "Backward pass: the gradient flows back through time.";
      else render(ui.t);
    },
    onEnd: (direction) => {
      if (direction > 0 && ui.hideGradsFrom > 0) player.play(-1);
      else if (direction < 0) {
        ui.hideGradsFrom = 0;
        render(ui.t);
        status.textContent = "Backward pass done: every step has its gradient.";
      }
    },
  });
  function playPause() {
    if (player.playing) return player.pause();
    if (player.t >= player.last_t || player.t === 0) {
      player.seek(0);
      ui.hideGradsFrom = tr.t0 + tr.shown; // gradients come after the forward pass
      render(ui.t);
    }
    return player.play(1);
  }
  const actions = {
    first: () => { player.pause(); player.seek(0); },
    back: () => player.step(-1),
    fwd: () => player.step(1),
    last: () => { player.pause(); player.seek(player.last_t); },
  };
  root.querySelectorAll("button[data-action]").forEach((b) => b.addEventListener("click", actions[b.dataset.action]));
  play.addEventListener("click", playPause);
  scrubber.addEventListener("input", () => { player.pause(); player.seek(Number(scrubber.value) - tr.t0); });
  speed.addEventListener("change", () => {
    ui.speed = Number(speed.value);
    player.setSpeed(ui.speed);
    root.classList.toggle("fast", ui.speed >= 8);
  });
  unit.addEventListener("change", () => { ui.unit = unit.value; render(ui.t); });
  layer.addEventListener("change", () => {
    ui.layer = Number(layer.value);
    drawCharts();
    render(ui.t);
  });
  root.addEventListener("keydown", (ev) => {
    const tag = ev.target.tagName;
    if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const keys = { " ": playPause, ArrowLeft: actions.back, ArrowRight: actions.fwd, Home: actions.first, End: actions.last };
    const act = keys[ev.key];
    if (!act || (ev.key === " " && tag === "BUTTON")) return;
    ev.preventDefault();
    ev.stopPropagation(); // a notebook's own shortcuts (move between cells) stay out of it
    act();
  });
  // a click anywhere on the view gives it the keys (buttons and fields keep their own focus)
  root.addEventListener("pointerdown", (ev) => {
    if (!ev.target.closest("button, input, select, [tabindex]:not(.lstmx-view)")) root.focus({ preventScroll: true });
  });

  drawCharts();
  render(tr.t0);
  return { player, render, trace: tr };
}
