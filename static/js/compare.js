// The gradient lab (GET /compare): wires the controls, the URL, POST /api/compare, the chart,
// the cards and the backward-pass sweep. Rendering lives in compare-chart.js and
// compare-cards.js, the state table and presets in compare-state.js.
import {
  PRESETS, applyPreset, matchPreset, modelKey, parse, parseValue, requestBody, serialise,
  sequenceLength, stepLink,
} from "./compare-state.js";
import { FONT, NETWORKS, createChart, curvesCsv, decadeTicks, drawChart, moveCursor } from "./compare-chart.js";
import { renderCard } from "./compare-cards.js";
import { formatDetail } from "./api.js";
import { download, downloadChartPng } from "./export.js";
import { fmt } from "./encodings.js";
import { joiningClass, pageChanged, registerPage } from "./pagelink.js";
import { fillLinks, fromTrainPage, labState, trainedSet } from "./compare-gallery.js";

const Plotly = globalThis.Plotly;
const el = (id) => document.getElementById(id);
const CONFIG = { displayModeBar: false, responsive: true, displaylogo: false };
const CONTROLS = ["kind", "text", "len", "iseed", "scale", "hidden", "seed", "rinit", "gain",
  "zerob", "fbias", "ibias", "variant", "clampf", "dtype"];
const SLIDERS = ["scale", "gain", "fbias", "ibias"];
const DEBOUNCE_MS = 150;

let state = parse(location.search.slice(1));
let trained = joiningClass() ? null : adoptTrainedModel(); // {cell, weights, hidden, model} from the Train page
let nets = null; // the gallery's trained networks, ?model=<slug> (compare-gallery.js)
let answer = null;
let answerKey = null;
let pending = null; // AbortController of the request in flight
let timer = null;
let sweepId = null;
const chart = createChart(el("lab-chart"));

// --- controls <-> state <-> URL -------------------------------------------------------------

function toControls() {
  for (const key of CONTROLS) {
    const input = el(key);
    if (input.type === "checkbox") input.checked = state[key];
    else input.value = String(state[key]);
    input.removeAttribute("aria-invalid");
  }
  for (const key of SLIDERS) el(`${key}-out`).textContent = fmt(state[key], 3);
  el("text-group").hidden = state.kind !== "text";
  el("gen-group").hidden = state.kind === "text" || state.kind === "custom";
  showLesson(matchPreset(state));
}

function writeUrl() {
  const query = serialise(state);
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

function readControl(key) {
  const input = el(key);
  const raw = input.type === "checkbox" ? (input.checked ? "1" : "0") : input.value;
  const value = parseValue(key, raw);
  if (value === undefined) {
    input.setAttribute("aria-invalid", "true");
    const label = document.querySelector(`label[for="${key}"]`);
    const name = label ? label.firstChild.textContent.trim() : key;
    showError(`${name}: “${raw}” is out of range (${input.min || "?"}–${input.max || "?"})`);
    return false;
  }
  input.removeAttribute("aria-invalid");
  state[key] = value;
  if (SLIDERS.includes(key)) el(`${key}-out`).textContent = fmt(value, 3);
  return true;
}

function onControl(event) {
  const key = event.target.id;
  if (!CONTROLS.includes(key) || !readControl(key)) return;
  el("text-group").hidden = state.kind !== "text";
  el("gen-group").hidden = state.kind === "text" || state.kind === "custom";
  showLesson(matchPreset(state));
  writeUrl();
  clearTimeout(timer);
  timer = setTimeout(recompute, DEBOUNCE_MS);
}

function showLesson(preset) {
  el("lesson").textContent = preset ? preset.lesson : "";
  for (const button of el("presets").querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(preset !== null && button.dataset.preset === preset.id));
  }
}

function showError(text) {
  el("error").textContent = text;
}

// --- a model trained on the Train page ---------------------------------------------------------

// It replaces that network's initialisation, the other two are initialised as usual.
function adoptTrainedModel() {
  return fromModel(fromTrainPage());
}

function fromModel(model) {
  if (!model || !model.weights || model.hidden_size !== state.hidden) return null;
  return { cell: model.cell, weights: model.weights, hidden: model.hidden_size, model };
}

function showTrained() {
  const note = el("trained-note");
  note.hidden = !trained && !nets;
  if (nets && !trained) el("trained-text").textContent = `Trained networks from the gallery: ${nets.titles.join("; ")}. The GRU starts fresh.`;
  if (trained) {
    el("trained-text").textContent =
      `The ${trained.cell.toUpperCase()} uses the weights trained on the Train page (not kept in the link); ` +
      "the other networks start fresh with the same hidden size.";
  }
}

function dropTrained() {
  trained = null;
  nets = null;
  state.model = "";
  showTrained();
}

// --- the numbers ----------------------------------------------------------------------------

async function postCompare(body, signal) {
  const response = await fetch("/api/compare", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) {
    let text = `${response.status} ${response.statusText}`;
    try {
      text = formatDetail((await response.json()).detail);
    } catch {
      // not JSON: keep the status line
    }
    throw new Error(text);
  }
  return response.json();
}

async function recompute({ sweepAfter = false } = {}) {
  const { body, error } = requestBody(state);
  if (error) {
    showError(error);
    return;
  }
  if ((trained && state.hidden !== trained.hidden) || (nets && state.hidden !== nets.hidden)) dropTrained(); // no longer fits
  if (nets) body.weights = { ...nets.weights };
  if (trained) body.weights = { ...body.weights, [trained.cell]: trained.weights };
  const key = `${modelKey(state)}|${trained ? `trained-${trained.cell}` : "fresh"}|${nets?.slug ?? ""}`;
  if (key === answerKey) {
    showError("");
    if (sweepAfter) sweep();
    return;
  }
  if (pending) pending.abort();
  const controller = new AbortController();
  pending = controller;
  el("status").textContent = "Computing…";
  chart.box.dataset.state = "busy";
  const started = performance.now();
  try {
    const result = await postCompare(body, controller.signal);
    if (pending !== controller) return; // a newer request has been sent
    answer = result;
    answerKey = key;
    showError("");
    await render();
    const ms = Math.round(performance.now() - started);
    el("status").textContent = `T = ${answer.steps} steps, H = ${answer.hidden_size}, ${answer.dtype}: computed in ${ms} ms.`;
    chart.box.dataset.key = key;
    chart.box.dataset.state = "ready";
    if (sweepAfter) sweep();
  } catch (err) {
    if (err.name === "AbortError") return;
    showError(err.message);
    el("status").textContent = "";
    chart.box.dataset.state = "error";
  } finally {
    if (pending === controller) pending = null;
  }
}

// --- drawing --------------------------------------------------------------------------------

async function render() {
  const T = answer.steps;
  state.k = Math.min(state.k, T - 1);
  const cursor = el("cursor");
  cursor.max = String(T - 1);
  cursor.value = String(state.k);
  await drawChart(chart, answer);
  await drawBelt();
  setK(state.k);
}

function setK(k) {
  state.k = k;
  el("k-out").textContent = String(k);
  el("cursor").value = String(k);
  moveCursor(chart, k);
  pageChanged(); // a class sees the backward-pass sweep as it runs
  for (const cell of Object.keys(NETWORKS)) {
    const card = el(`card-${cell}`);
    const data = answer && answer.cells[cell];
    if (!data) {
      card.hidden = true;
      continue;
    }
    renderCard(card, cell, data, k, stepLink(state, cell, k));
  }
}

async function drawBelt() {
  const lstm = answer.cells.lstm;
  if (!lstm) return;
  // Half-lives span 0.1 to 1e13 steps (the carousel): log10 values on a linear axis, one dot
  // per unit; units whose f is exactly 1 (infinite half-life) sit on the top edge, marked ∞.
  const hl = lstm.forget_half_life.per_unit;
  const logs = hl.filter((v) => v !== null && v > 0).map((v) => Math.log10(v));
  const top = Math.max(1, ...logs) + 0.5;
  const bottom = Math.min(0, ...logs) - 0.5;
  const y = hl.map((v) => (v === null ? top : Math.log10(Math.max(v, 10 ** bottom))));
  const small = (xTitle, yTitle) => ({
    font: { ...FONT, size: 14 },
    margin: { l: 72, r: 12, t: 12, b: 48 },
    height: 220,
    xaxis: { title: { text: xTitle }, fixedrange: true, zeroline: false },
    yaxis: { title: { text: yTitle }, fixedrange: true, zeroline: false },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#ffffff",
    showlegend: false,
  });
  const hlLayout = small("unit", "half-life (steps)");
  hlLayout.yaxis = { ...hlLayout.yaxis, range: [bottom, top + 0.3], ...decadeTicks(bottom, top) };
  await Plotly.react(el("hl-chart"), [{
    type: "scatter",
    mode: "markers+text",
    x: hl.map((_, u) => u),
    y,
    text: hl.map((v) => (v === null ? "∞" : "")),
    textposition: "top center",
    marker: { color: NETWORKS.lstm.colour, size: 10, symbol: hl.map((v) => (v === null ? "triangle-up" : "circle")) },
    hovertext: hl.map((v, u) => `unit ${u}: ${v === null ? "∞" : fmt(v, 4)} steps`),
    hoverinfo: "text",
  }], hlLayout, CONFIG);
  await Plotly.react(el("c-chart"), [{
    type: "scatter",
    mode: "lines",
    x: lstm.c_norm.map((_, t) => t),
    y: lstm.c_norm,
    line: { color: NETWORKS.lstm.colour, width: 3 },
    hovertemplate: "t=%{x}: ‖c‖ = %{y:.4g}<extra></extra>",
  }], { ...small("step t", "‖cₜ‖"), yaxis: { title: { text: "‖cₜ‖" }, fixedrange: true, rangemode: "tozero", exponentformat: "power" } }, CONFIG);
}

// --- the backward pass, right to left --------------------------------------------------------

function stopSweep() {
  if (sweepId !== null) cancelAnimationFrame(sweepId);
  sweepId = null;
  chart.box.classList.remove("sweeping");
  el("btn-sweep").textContent = "◀ Backward pass";
  writeUrl();
}

function sweep() {
  if (!answer) return;
  stopSweep();
  const T = answer.steps;
  if (T < 2 || matchMedia("(prefers-reduced-motion: reduce)").matches) {
    setK(T - 1);
    writeUrl();
    return;
  }
  const duration = Math.min(4000, 1200 + 2 * T);
  const start = performance.now();
  chart.box.classList.add("sweeping");
  el("btn-sweep").textContent = "■ Stop";
  const frame = (now) => {
    const p = Math.min(1, (now - start) / duration);
    setK(Math.round(p * (T - 1)));
    if (p < 1) sweepId = requestAnimationFrame(frame);
    else stopSweep();
  };
  sweepId = requestAnimationFrame(frame);
}

// --- start ----------------------------------------------------------------------------------

function buildPresets() {
  const box = el("presets");
  for (const p of PRESETS) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.preset = p.id;
    b.textContent = p.label;
    b.title = p.lesson;
    b.setAttribute("aria-pressed", "false");
    b.addEventListener("click", () => {
      dropTrained(); // a lesson starts from freshly initialised networks
      state = applyPreset(state, p.id);
      toControls();
      writeUrl();
      clearTimeout(timer);
      recompute({ sweepAfter: true });
    });
    box.appendChild(b);
  }
}

function main() {
  buildPresets();
  toControls();
  showTrained();
  el("trained-drop").addEventListener("click", () => {
    dropTrained();
    writeUrl();
    recompute();
  });
  fillLinks(el("gallery-links")).catch((err) => showError(err.message));
  const form = el("lab-controls");
  form.addEventListener("input", onControl);
  form.addEventListener("change", onControl);
  form.addEventListener("submit", (e) => e.preventDefault());
  el("cursor").addEventListener("input", (e) => {
    stopSweep();
    setK(Number(e.target.value));
    writeUrl();
  });
  el("btn-sweep").addEventListener("click", () => (sweepId === null ? sweep() : stopSweep()));
  el("export-csv").addEventListener("click", () => {
    if (answer) download("gradient-lab.csv", curvesCsv(answer), "text/csv");
  });
  el("export-png").addEventListener("click", () => {
    if (answer) downloadChartPng(chart.box, "gradient-lab");
  });
  registerPage({
    apply: (search, options) => {
      applyUrl(search, options);
      writeUrl(); // a follower's own URL says what it shows
    },
    url: () => `${location.pathname}?${serialise(state)}`,
    model: () => trained?.model ?? null,
  });
  if (!joiningClass()) applyUrl(location.search.slice(1), { model: trained?.model ?? null });
}

// The page's own start, and what a class's follower calls with the teacher's URL state.
let applied = 0;
function applyUrl(search, { model = null } = {}) {
  stopSweepQuietly();
  state = parse(search);
  trained = fromModel(model);
  const id = ++applied;
  openGallery(search).then(() => {
    if (id !== applied) return;
    showTrained();
    toControls();
    const T = sequenceLength(state);
    const k = state.k;
    recompute().then(() => {
      if (id === applied && answer && k < T) setK(k);
    });
  });
}

// ?model=<slug>: the card's input (unless the link names one) and its trained networks.
async function openGallery(search) {
  nets = null;
  if (!state.model) return;
  try {
    nets = await trainedSet(state.model);
    if (!new URLSearchParams(search).has("kind")) Object.assign(state, labState(nets.card));
    state.hidden = nets.hidden;
    writeUrl();
  } catch (err) {
    showError(err.message);
    state.model = "";
  }
}

function stopSweepQuietly() {
  if (sweepId === null) return;
  cancelAnimationFrame(sweepId);
  sweepId = null;
  chart.box.classList.remove("sweeping");
  el("btn-sweep").textContent = "◀ Backward pass";
}

main();
// Exposed for the lesson panel (lesson-eval.js) and the browser tests.
globalThis.lstmxLab = { get state() { return state; }, get answer() { return answer; } };
