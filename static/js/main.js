// Wiring only: URL state <-> controls, the trace stream, the player, and one render(trace, t).
import * as api from "./api.js";
import * as cellView from "./cell.js";
import * as charts from "./charts.js";
import * as equations from "./equations.js";
import * as exporter from "./export.js";
import { GATES, NAMES, fmt } from "./encodings.js";
import { createCodePanel } from "./code.js";
import { createHoldControls } from "./hold-form.js";
import * as holds from "./holds.js";
import * as imported from "./imported.js";
import { brackets, buildInput, formatNumbers, numericRows, parseNumbers, rowsToUrl, urlToText } from "./inputs.js";
import { joiningClass, pageChanged, registerPage } from "./pagelink.js";
import { Player } from "./player.js";
import { createUnitsPanel } from "./units-panel.js";
import { parse, serialise, traceKey } from "./state.js";
import { charLabels, gradLabel, inputLabel, readingRows, stepView } from "./view.js";

const $ = (id) => document.getElementById(id);
const state = parse(location.search.slice(1));
const dom = {
  form: $("controls"), diagram: $("diagram"), reading: $("reading"), equations: $("equations"),
  heatmaps: $("heatmaps"), grad: $("grad-chart"), scrubber: $("scrubber"), tLabel: $("t-label"),
  play: $("btn-play"), unit: $("unit"), layer: $("layer"), speed: $("speed"), status: $("status"),
  error: $("error"), inputNow: $("input-now"), seq: $("seq"), text: $("text"), gradNow: $("grad-now"),
};

let trace = null; // the trace being shown, as /api/trace answers it (plus gradFrom)
let refs = null; // the diagram's moving parts
let heat = null; // heatmap handles
const gradChart = charts.createGradChart(dom.grad);
let socket = null;
let runId = 0;
let uploadedModel = null; // a model with weights inline, from POST /api/weights
const vocab = { tokens: null, level: "char" }; // an uploaded vocabulary (not kept in the link)
let hideGradsFrom = 0; // during a play-through the gradient chart hides steps < this
let plottedReveal = null;
let live = { ready: false, sent: "", pendingX: [] };
let wantT = 0; // the step to show once the running trace is in (a class may move it meanwhile)

// --- URL state -----------------------------------------------------------------------------
let urlTimer = null;
function saveUrl(now = false) {
  clearTimeout(urlTimer);
  const write = () => history.replaceState(null, "", `${location.pathname}?${serialise(state)}`);
  if (now) write();
  else urlTimer = setTimeout(write, 250);
}

const FIELDS = ["cell", "variant", "hidden", "layers", "seed", "fbias", "rinit", "gain", "kind", "text", "len", "iseed", "lo", "hi"];
function fillControls() {
  for (const key of FIELDS) $(key).value = String(state[key]);
  $("live").checked = state.live;
  dom.speed.value = String(state.speed);
  if (dom.speed.value !== String(state.speed)) {
    const opt = new Option(`${state.speed} steps/s`, String(state.speed));
    dom.speed.add(opt);
    dom.speed.value = String(state.speed);
  }
  showInputGroups();
}

function showInputGroups() {
  const textual = state.kind === "text" || state.kind === "brackets";
  $("text-group").hidden = !textual;
  $("live-label").hidden = state.kind !== "text";
  if (state.kind === "brackets") dom.text.value = brackets(state.len, state.iseed); // edit it: it becomes text
  else if (state.kind === "text") dom.text.value = state.text;
  $("gen-group").hidden = state.kind === "text" || state.kind === "custom";
  $("seq-group").hidden = state.kind === "text" || state.kind === "brackets";
  $("variant").disabled = state.cell !== "lstm";
  $("fbias").disabled = state.cell !== "lstm";
  if (!dom.seq.hidden) {
    try {
      dom.seq.value = state.kind === "custom" ? urlToText(state.seq) : formatNumbers(numericRows(state));
    } catch (err) {
      showError(err.message);
    }
  }
}

// --- messages --------------------------------------------------------------------------------
function showError(message) {
  dom.error.textContent = message || "";
}
function showStatus(message) {
  dom.status.textContent = message;
}

// --- the request -------------------------------------------------------------------------------
function requestBody() {
  const input = imported.textInput(buildInput(state), uploadedModel, vocab.tokens, vocab.level);
  const model = uploadedModel
    ? imported.modelFields(uploadedModel)
    : {
        cell: state.cell,
        hidden_size: state.hidden,
        num_layers: state.layers,
        variant: state.cell === "lstm" ? state.variant : "standard",
        init: { seed: state.seed, forget_bias: state.fbias, recurrent_init: state.rinit, recurrent_gain: state.gain },
        weights: null,
      };
  if (input.sequence && !uploadedModel) model.input_size = input.sequence[0].length;
  // a text model trained on /train reads characters in its own alphabet's order
  if (uploadedModel?.alphabet && input.text !== undefined) input.alphabet = uploadedModel.alphabet;
  // frames: binary blocks of what the views show (the JSON protocol stays for API clients)
  const body = { model, input, loss: { kind: "sum_last" }, dtype: "float64", frames: "compact" };
  // live typing feeds one-hot characters: not through a vocabulary or an embedding
  if (state.live && state.kind === "text" && !body.input.vocab && !uploadedModel?.embedding) body.live = true;
  else addHolds(body);
  return body;
}

// The URL's holds as the request's clamp list (live runs grow step by step: no holds there).
function addHolds(body) {
  const { model, input } = body;
  const clamp = holds.toClamp(holds.parseHolds(state.hold), holdModel(model, (input.text ?? input.sequence).length));
  if (clamp.length) body.clamp = clamp;
}
const holdModel = (model, steps) => ({
  gates: GATES[model.cell] || [], hidden: model.hidden_size, layers: model.num_layers, steps,
});

const holdControls = createHoldControls({
  diagram: dom.diagram,
  ctx: () => ({
    gates: GATES[trace?.cell] || [], t: player.t, unit: state.unit, layer: state.layer,
    layers: trace?.num_layers ?? 1, steps: trace?.steps ?? 1,
  }),
  onChange: (text) => {
    state.hold = text;
    saveUrl(true);
    run();
  },
});
const codePanel = createCodePanel({
  root: $("code"), file: $("code-file"), forwardButton: $("code-forward"), backwardButton: $("code-backward"),
});

let lastRun = { key: "", at: -Infinity };

function run() {
  // Enter in a field fires "change" and then "submit": one run is enough.
  const key = `${traceKey(state)}|${uploadedModel ? "weights" : ""}`;
  const now = performance.now();
  if (key === lastRun.key && now - lastRun.at < 300) return;
  lastRun = { key, at: now };
  runId += 1;
  const id = runId;
  if (socket) socket.close();
  socket = null;
  player.pause();
  showError("");
  let body;
  try {
    body = requestBody();
  } catch (err) {
    showError(err.message);
    return;
  }
  wantT = state.t;
  live = { ready: false, sent: body.input.text ?? "", pendingX: [] };
  showStatus("Running the forward pass…");
  let ended = false;
  const mine = (fn) => (frame) => {
    if (id === runId) fn(frame);
  };
  socket = api.openTraceSocket(body, {
    start: mine((frame) => startTrace(frame)),
    step: mine((frame) => {
      const x = frame.t >= (trace.pendingInputs?.length ?? 0) ? live.pendingX.shift() : undefined;
      api.addStep(trace, frame, x);
      player.setLength(trace.steps);
      if (live.ready) {
        player.seek(frame.t); // live typing: follow the newest step
        scheduleCharts();
      }
      scheduleRender();
    }),
    grad: mine((frame) => {
      api.addGrad(trace, frame);
      scheduleCharts(!live.ready && !ended); // while the first pass streams, only the gradient chart
    }),
    ready: mine(() => {
      live.ready = true;
      finish(wantT, "Live: type in the text box; each character is one step.");
      if (trace.steps > 0) sendBackward();
    }),
    end: mine((frame) => {
      ended = true;
      trace.loss = frame.loss;
      if (!live.ready) finish(wantT, `Done: ${trace.steps} steps, loss L = ${fmt(frame.loss)}.`);
      else {
        scheduleCharts(true);
        unitsPanel.show(trace); // live typing added steps
      }
    }),
    error: mine((frame) => {
      ended = ended || !live.ready;
      showError(api.formatDetail(frame.detail));
      showStatus("");
    }),
    closed: (event, byUs) => {
      if (id !== runId || byUs || ended) return;
      // The socket went away before the end: fall back to one POST.
      api.postTrace(body)
        .then((answer) => {
          if (id !== runId) return;
          startTrace({ ...answer, gates: Object.keys(answer.layers[0]?.gates || {}) });
          trace = api.completeTrace({ ...answer, pendingInputs: answer.inputs });
          player.setLength(trace.steps);
          finish(wantT, `Done: ${trace.steps} steps, loss L = ${fmt(answer.loss)}.`);
        })
        .catch((err) => {
          if (id === runId) showError(err.message);
        });
    },
  });
}

function startTrace(start) {
  trace = api.traceFromStart(start);
  for (const list of document.querySelectorAll(".howto [data-cell]")) list.hidden = list.dataset.cell !== trace.cell;
  refs = cellView.build(dom.diagram, trace.cell, state.variant);
  holdControls.setGates(GATES[trace.cell] || []);
  const shown = holdModel({ cell: trace.cell, hidden_size: trace.hidden_size, num_layers: trace.num_layers }, Infinity);
  const liveRun = state.live && state.kind === "text"; // a live run grows step by step: no holds
  holdControls.setHolds(state.hold, (h) => !liveRun && holds.applies(h, shown));
  codePanel.load(trace.cell).catch((err) => showError(err.message));
  heat = charts.createHeatmaps(dom.heatmaps, trace.cell, (t, unit) => {
    state.unit = String(unit);
    dom.unit.value = state.unit;
    player.pause();
    player.seek(t);
  });
  plottedReveal = null;
  trace.labels = imported.tokenLabels({ ...trace, inputs: start.inputs || [] }, vocab.tokens);
  if (state.layer >= trace.layers.length) state.layer = 0;
  fillSelect(dom.layer, Array.from({ length: trace.num_layers }, (_, k) => String(k)), (v) =>
    imported.layerName({ ...trace, bidirectional: false }, Number(v)),
  );
  dom.layer.disabled = trace.num_layers < 2;
  $("direction-group").hidden = !trace.bidirectional;
  fillUnits();
}

// The unit selector lists the units of the layer shown (layers may have their own widths).
function fillUnits() {
  const { layer, direction } = imported.entryParts(trace, state.layer);
  const H = imported.widthOf(trace, state.layer);
  fillSelect(dom.unit, ["mean", ...Array.from({ length: H }, (_, u) => String(u))], (v) =>
    v === "mean" ? "mean of all units" : `unit ${v}`,
  );
  if (state.unit !== "mean" && Number(state.unit) >= H) state.unit = "0";
  dom.unit.value = state.unit;
  dom.layer.value = String(layer);
  $("direction").value = direction;
}

function fillSelect(select, values, text) {
  select.replaceChildren(...values.map((v) => new Option(text(v), v)));
}

function finish(wantT, message) {
  showStatus(message);
  unitsPanel.show(trace);
  player.setLength(trace.steps);
  player.seek(Math.min(wantT, Math.max(0, trace.steps - 1)));
  updateCharts().then(() => {
    render(trace, player.t);
    document.body.dataset.ready = "1";
  });
}

// --- live typing ----------------------------------------------------------------------------------
let backwardTimer = null;
function sendBackward() {
  clearTimeout(backwardTimer);
  backwardTimer = setTimeout(() => {
    if (!socket || !trace || trace.steps === 0) return;
    api.clearGrads(trace);
    socket.send({ type: "backward" });
  }, 250);
}

function liveTyped(text) {
  if (!live.ready || !text.startsWith(live.sent)) {
    run(); // an edit that is not a plain append: start the sequence over
    return;
  }
  const alphabet = trace.alphabet || "";
  let accepted = live.sent;
  for (const ch of text.slice(live.sent.length)) {
    const k = alphabet.indexOf(ch);
    if (k < 0) {
      showError(`“${ch}” is not in the live alphabet (${alphabet}); it was skipped.`);
      continue;
    }
    live.pendingX.push(Array.from({ length: alphabet.length }, (_, j) => (j === k ? 1 : 0)));
    socket.send({ type: "input", char: ch });
    accepted += ch;
  }
  live.sent = accepted;
  if (accepted !== text) dom.text.value = accepted; // the box shows what the network saw
  state.text = accepted;
  saveUrl();
  sendBackward();
}

// --- rendering ------------------------------------------------------------------------------------
function renderReading(rows) {
  const items = rows.map(({ gate, counts }) => {
    const li = document.createElement("li");
    const name = document.createElement("strong");
    name.textContent = `${gate} (${NAMES[gate]})`;
    const text = document.createElement("span");
    text.textContent = `closed ${counts.closed} · partly open ${counts["partly open"]} · open ${counts.open}`;
    li.append(name, text);
    return li;
  });
  const list = document.createElement("ul");
  list.append(...items);
  const head = document.createElement("p");
  head.className = "hint";
  head.textContent = `Units per gate state (closed < ${state.lo}, open > ${state.hi}):`;
  dom.reading.replaceChildren(...(items.length ? [head, list] : []));
}

// Text with "10^−68" written as a real superscript (built from text nodes, never HTML).
function setWithPowers(el, text) {
  const parts = text.split(/\^(−?\d+)/);
  el.replaceChildren(...parts.map((p, k) => {
    if (k % 2 === 0) return document.createTextNode(p);
    const sup = document.createElement("sup");
    sup.textContent = p;
    return sup;
  }));
}

// At 30 steps/s and more the text panels (gate reading, equations, code, gradient line) are
// rewritten at most 15 times a second: nobody reads faster, and each rewrite costs a layout
// and a paint that a 60 steps/s frame has no time for. The diagram and cursors move every step.
const TEXT_MS = 1000 / 15;
let textAt = -Infinity;
function textDue() {
  const now = performance.now();
  if (player.playing && state.speed >= 30 && now - textAt < TEXT_MS) return false;
  textAt = now;
  return true;
}

// One render for playing and scrubbing alike.
function render(tr, t) {
  if (!tr || tr.steps === 0 || !refs) return;
  const unit = state.unit;
  const where = { t, unit, layer: state.layer, lo: state.lo, hi: state.hi };
  const slice = stepView(tr, where);
  const view = { ...slice, lo: state.lo, hi: state.hi };
  cellView.update(refs, view);
  dom.diagram.dataset.t = String(t);
  dom.diagram.dataset.unit = unit;
  dom.diagram.dataset.layer = String(state.layer);
  const text = textDue();
  if (text) {
    renderReading(readingRows(tr, where));
    equations.render(dom.equations, tr.cell, state.variant, { ...slice, ...slice.gates, mean: unit === "mean", unit });
  }
  dom.inputNow.textContent = inputLabel(tr, t, state.layer);
  dom.scrubber.max = String(Math.max(0, tr.steps - 1));
  dom.scrubber.value = String(t);
  dom.tLabel.textContent = `${t} (of 0–${tr.steps - 1})`; // t counts from 0, as in the equations
  if (heat) charts.moveHeatmapCursor(heat, t, unit === "mean" ? null : Number(unit));
  charts.moveGradCursor(gradChart, t);
  const reveal = Math.max(tr.gradFrom, hideGradsFrom);
  holdControls.mark(dom.diagram, where);
  if (text) {
    codePanel.update(tr, { ...where, revealFrom: reveal });
    setWithPowers(dom.gradNow, gradLabel(tr, where, reveal));
  }
  if (reveal !== plottedReveal) updateGradOnly();
}

// Streamed frames ask for a render; ten a second are enough (the step shown is complete once
// its frame is in: only the scrubber grows). A render per frame over a 10,000-step stream
// spent most of its time relaying out the page.
const RENDER_MS = 100;
let renderQueued = false;
let renderAt = -Infinity;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  const wait = Math.max(0, renderAt + RENDER_MS - performance.now());
  setTimeout(() => requestAnimationFrame(() => {
    renderQueued = false;
    renderAt = performance.now();
    render(trace, player.t);
  }), wait);
}

async function updateGradOnly() {
  const layer = trace.layers[state.layer];
  plottedReveal = Math.max(trace.gradFrom, hideGradsFrom);
  await charts.updateGradChart(gradChart, layer, trace.steps, plottedReveal, charLabels(trace));
}

async function updateCharts() {
  if (!trace || trace.steps === 0) return;
  const layer = trace.layers[state.layer];
  await Promise.all([
    charts.updateHeatmaps(heat, layer, trace.steps, imported.widthOf(trace, state.layer), charLabels(trace)),
    updateGradOnly(),
  ]);
  render(trace, player.t);
}

// Plotly redraws are throttled: frames can arrive far faster than charts can be drawn. The
// pause between redraws is at least 4x the last redraw, so a long run's charts (slower to
// draw) never take more than a fifth of the main thread while it streams.
let chartsTimer = null;
let gradOnly = true;
let chartsCost = 0; // ms the last throttled redraw took
let drawing = false;
let again = false; // asked for while a redraw was under way: one more after it
function scheduleCharts(onlyGrad = false) {
  gradOnly = gradOnly && onlyGrad;
  if (drawing) again = true;
  if (drawing || chartsTimer) return;
  chartsTimer = setTimeout(async () => {
    chartsTimer = null;
    const only = gradOnly;
    gradOnly = true;
    if (!trace || trace.steps === 0) return;
    drawing = true;
    const start = performance.now();
    try {
      await (only ? updateGradOnly() : updateCharts());
    } finally {
      drawing = false;
    }
    chartsCost = performance.now() - start;
    if (again) {
      again = false;
      scheduleCharts(gradOnly);
    }
  }, Math.max(150, 4 * chartsCost));
}

// --- the player ---------------------------------------------------------------------------------
const player = new Player({
  speed: state.speed,
  onChange: (t) => {
    state.t = t;
    if (!player.playing) hideGradsFrom = 0; // moving by hand: show every gradient there is
    else if (player.direction < 0) hideGradsFrom = Math.min(hideGradsFrom, t);
    render(trace, t);
    saveUrl();
    pageChanged(); // a class hears every step at once, not the debounced URL write
  },
  onPlayState: (playing, direction) => {
    dom.play.textContent = playing ? "❚❚ Pause" : "▶ Play";
    dom.play.setAttribute("aria-label", playing ? "Pause (Space)" : "Play (Space)");
    pageChanged();
    if (playing) codePanel.setPhase(direction > 0 ? "forward" : "backward");
    else render(trace, player.t); // the text panels catch up with the step shown
    if (playing) showStatus(direction > 0 ? "Forward pass: gates open and close step by step." : "Backward pass: the gradient flows back through time.");
  },
  onEnd: (direction) => {
    // After the forward animation, run the backward pass from the last step to the first.
    if (direction > 0 && trace && trace.gradFrom === 0 && hideGradsFrom > 0) {
      player.play(-1);
    } else if (direction < 0) {
      hideGradsFrom = 0;
      render(trace, player.t);
      showStatus("Backward pass done: every step has its gradient.");
    }
  },
});

function playPause() {
  if (player.playing) {
    player.pause();
    return;
  }
  if (!trace) return;
  if (player.t >= player.last_t || player.t === 0) {
    player.seek(0);
    hideGradsFrom = trace.steps; // a play-through: gradients come after the forward pass
    render(trace, 0);
  }
  player.play(1);
}

// --- controls -------------------------------------------------------------------------------------
const NUMERIC = new Set(["hidden", "layers", "seed", "fbias", "gain", "len", "iseed", "lo", "hi"]);

dom.form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  run();
});

dom.form.addEventListener("change", (ev) => {
  const key = ev.target.name;
  if (!key || key === "live" || key === "seq") return;
  let value = ev.target.value;
  if (NUMERIC.has(key)) {
    value = value.trim() === "" ? NaN : Number(value);
    if (!Number.isFinite(value)) {
      showError(`${ev.target.labels?.[0]?.textContent ?? key}: type a number.`);
      return;
    }
    if (!ev.target.checkValidity()) {
      showError(`${ev.target.labels?.[0]?.textContent ?? key}: ${ev.target.validationMessage}`);
      return;
    }
  }
  if (key === "text" && state.kind === "brackets") {
    state.kind = "text"; // an edited bracket string is typed text from now on
    $("kind").value = "text";
  }
  state[key] = value;
  if (key === "lo" || key === "hi") {
    saveUrl(true);
    render(trace, player.t);
    return;
  }
  if (["cell", "hidden", "layers", "variant"].includes(key)) uploadedModel = null;
  state.t = 0;
  showInputGroups();
  saveUrl(true);
  run();
});

$("live").addEventListener("change", (ev) => {
  state.live = ev.target.checked;
  saveUrl(true);
  run();
});

dom.text.addEventListener("input", () => {
  if (!state.live) return;
  if (!dom.text.value.startsWith(live.sent)) {
    state.text = dom.text.value;
    saveUrl();
  }
  liveTyped(dom.text.value);
});

dom.seq.addEventListener("change", () => {
  try {
    state.seq = rowsToUrl(parseNumbers(dom.seq.value));
  } catch (err) {
    showError(err.message);
    return;
  }
  state.kind = "custom";
  $("kind").value = "custom";
  state.t = 0;
  showInputGroups();
  saveUrl(true);
  run();
});

dom.unit.addEventListener("change", () => {
  state.unit = dom.unit.value;
  saveUrl(true);
  render(trace, player.t);
});
const onLayer = () => {
  state.layer = imported.entryIndex(trace, Number(dom.layer.value), $("direction").value);
  if (trace) fillUnits();
  saveUrl(true);
  plottedReveal = null;
  updateCharts();
};
dom.layer.addEventListener("change", onLayer);
$("direction").addEventListener("change", onLayer);
const setFast = () => document.body.classList.toggle("fast", state.speed >= 8);
dom.speed.addEventListener("change", () => {
  state.speed = Number(dom.speed.value);
  player.setSpeed(state.speed);
  setFast();
  saveUrl(true);
});
dom.scrubber.addEventListener("input", () => {
  player.pause();
  player.seek(Number(dom.scrubber.value));
});
$("btn-play").addEventListener("click", playPause);
$("btn-first").addEventListener("click", () => { player.pause(); player.seek(0); });
$("btn-last").addEventListener("click", () => { player.pause(); player.seek(player.last_t); });
$("btn-back").addEventListener("click", () => player.step(-1));
$("btn-fwd").addEventListener("click", () => player.step(1));

document.addEventListener("keydown", (ev) => {
  const tag = ev.target.tagName;
  if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || ev.target.isContentEditable) return;
  if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
  const actions = {
    " ": playPause,
    ArrowLeft: () => player.step(-1),
    ArrowRight: () => player.step(1),
    Home: () => { player.pause(); player.seek(0); },
    End: () => { player.pause(); player.seek(player.last_t); },
  };
  const act = actions[ev.key];
  if (!act || (ev.key === " " && tag === "BUTTON")) return;
  ev.preventDefault();
  act();
});

// A class's teacher shares this page's URL state and model; a follower applies them here,
// through the same parse -> controls -> run or render path as a reload.
function applyUrl(search, { model = null } = {}) {
  const next = parse(search);
  const rerun = !lastRun.key || traceKey(next) !== traceKey(state) || model !== uploadedModel;
  const relayer = next.layer !== state.layer;
  Object.assign(state, next);
  uploadedModel = model;
  $("weights-status").textContent = model ? "Using the model the teacher shared with the class." : "";
  $("weights-clear").hidden = !model;
  fillControls();
  player.setSpeed(state.speed);
  setFast();
  wantT = state.t;
  saveUrl(true);
  if (rerun) return run();
  dom.unit.value = state.unit;
  dom.layer.value = String(state.layer);
  if (relayer) {
    plottedReveal = null;
    updateCharts();
  }
  player.seek(state.t);
  render(trace, player.t);
}

registerPage({
  apply: applyUrl,
  url: () => `${location.pathname}?${serialise(state)}`,
  playing: () => player.playing,
  model: () => uploadedModel,
  modelBody: imported.modelFields,
});

$("toggle-controls").addEventListener("click", (ev) => {
  const wide = document.querySelector(".layout").classList.toggle("wide");
  ev.currentTarget.setAttribute("aria-expanded", String(!wide));
  ev.currentTarget.textContent = wide ? "Show controls" : "Hide controls";
  window.dispatchEvent(new Event("resize")); // Plotly charts follow the new width
});

// Weights: POST /api/weights answers a model with its weights inline; a plain RNN's file
// cannot say tanh or ReLU, so the page asks and sends the file again.
let weightsFile = null;
async function useWeights(file) {
  showError("");
  const ask = $("nonlinearity");
  try {
    uploadedModel = await imported.uploadModel(file, ask.value);
    Object.assign(state, {
      cell: uploadedModel.cell, hidden: imported.widthOf(uploadedModel, 0),
      layers: uploadedModel.num_layers, variant: uploadedModel.variant || "standard", layer: 0,
    });
    fillControls();
    $("weights-status").textContent = `Using weights from ${file.name} (not kept in the link).`;
    $("weights-clear").hidden = false;
    run();
  } catch (err) {
    const needs = err instanceof imported.NeedsNonlinearity;
    $("nonlinearity-group").hidden = !needs && ask.value === "";
    if (needs) ask.focus();
    showError(needs ? `${file.name}: ${err.message}` : `Could not use ${file.name}: ${err.message}`);
  }
}
$("weights-file").addEventListener("change", (ev) => {
  weightsFile = ev.target.files[0] || null;
  $("nonlinearity").value = "";
  if (weightsFile) useWeights(weightsFile);
});
$("nonlinearity").addEventListener("change", () => {
  if (weightsFile && $("nonlinearity").value) useWeights(weightsFile);
});
$("vocab-file").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  if (!file) return;
  showError("");
  try {
    vocab.tokens = await imported.uploadVocab(file);
    $("vocab-status").textContent = `Vocabulary: ${vocab.tokens.length} tokens from ${file.name}.`;
    run();
  } catch (err) {
    showError(`Could not use ${file.name}: ${err.message}`);
  }
});
$("vocab-level").addEventListener("change", (ev) => {
  vocab.level = ev.target.value;
  run();
});
$("weights-clear").addEventListener("click", () => {
  uploadedModel = null;
  weightsFile = null;
  $("nonlinearity-group").hidden = true;
  $("weights-file").value = "";
  $("weights-status").textContent = "";
  $("weights-clear").hidden = true;
  run();
});

// Export.
const baseName = () => `trace-${state.cell}-h${state.hidden}-seed${state.seed}`;
$("export-json").addEventListener("click", async () => {
  if (trace) exporter.download(`${baseName()}.json`, exporter.traceJson(await api.exactTrace(trace)), "application/json");
});
$("export-csv").addEventListener("click", async () => {
  if (trace) exporter.download(`${baseName()}.csv`, exporter.traceCsv(await api.exactTrace(trace)), "text/csv");
});
document.addEventListener("click", (ev) => {
  const btn = ev.target.closest("button.png");
  if (!btn) return;
  const gd = document.getElementById(btn.dataset.chart);
  if (gd && gd.data) exporter.downloadChartPng(gd, `${baseName()}-${btn.dataset.chart}`);
});

// A model trained on /train arrives through sessionStorage (weights are never put in a URL).
function adoptTrainedModel() {
  if (joiningClass()) return; // a class's follower gets the teacher's model from the class
  if (new URLSearchParams(location.search).get("trained") !== "1") return;
  let model = null;
  try {
    model = JSON.parse(sessionStorage.getItem("lstmx.trainedModel") || "null");
  } catch {
    model = null;
  }
  if (!model || !model.weights) {
    showError("The trained model is no longer here: train it again on the Train page.");
    return;
  }
  uploadedModel = model;
  $("weights-status").textContent = "Using the model trained on the Train page (not kept in the link).";
  $("weights-clear").hidden = false;
}

// "Find the unit" asks about exactly what is shown: the trace's own input and model.
const unitsPanel = createUnitsPanel({
  trace: () => trace,
  body() {
    const body = requestBody();
    delete body.live;
    const chars = charLabels(trace);
    if (chars) body.input = { text: chars.join(""), alphabet: trace.alphabet };
    return body;
  },
  select(layer, unit) {
    state.layer = layer;
    state.unit = String(unit);
    dom.layer.value = String(layer);
    dom.unit.value = state.unit;
    saveUrl(true);
    plottedReveal = null;
    updateCharts();
  },
});

adoptTrainedModel();
fillControls();
setFast();
if (!joiningClass()) run(); // a class's follower starts with the teacher's state (classroom.js)
// Exposed for debugging in the console and for the browser tests' diagnostics.
globalThis.lstmExplainer = { state, get trace() { return trace; }, player, traceKey };
