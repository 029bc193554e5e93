// The training page: settings (kept in the URL), one socket per run (three in race mode),
// a progress bar and status per run, the loss and metric curves, the gate heatmaps of the
// latest snapshot, and the trained model for the step-through page or as a download.

import { formatDetail } from "./api.js";
import { pageChanged, registerPage } from "./pagelink.js";
import { relaying, watcher } from "./train-class.js";
import { downloadSafetensors, offerModel } from "./train-offer.js";
import { int, num, oneOf, parseKind, urlState } from "./urlstate.js";
import { RUN_STYLE, drawLoss, drawMetric, drawSnapshot, metricText } from "./train-charts.js";
import { evalEvery, formatEta, openTrainSocket, trainBody } from "./train-socket.js";

const $ = (id) => document.getElementById(id);

// key: [default, kind]. The key is the URL parameter and the form field's id.
const FIELDS = {
  task: ["adding", oneOf("adding", "adding_1997", "latch", "temporal_order", "embedded_reber_reset", "embedded_reber", "copy", "brackets", "sine", "charlm")],
  len: [50, int(1, 1000)],
  tseed: [0, int(0, 2 ** 31 - 1)],
  mode: ["single", oneOf("single", "race")],
  cell: ["lstm", oneOf("lstm", "gru", "rnn")],
  hidden: [16, int(1, 256)],
  fbias: [1, num(-10, 10)],
  steps: [1200, int(1, 20000)],
  lr: [0.01, num(1e-6, 10)],
  batch: [32, int(1, 256)],
  clip: [1, num(0, 1000)],
  optimizer: ["adam", oneOf("adam", "sgd")],
  seed: [0, int(0, 2 ** 31 - 1)],
  temp: [0.8, num(0.1, 2)], // temperature of a text model's samples
};
const HINTS = {
  adding: "Two values in [0, 1] are marked, one in each half; the target is their sum. Knowing nothing scores MSE 1/6; solved below 0.01.",
  adding_1997: "Values in [−1, 1]; the first marked value early, the second before T/2. Target 0.5 + (X1+X2)/4, correct within 0.04.",
  latch: "The first value is +1 or −1, then noise. At the end, say which. A forget bias of 3 helps the LSTM keep it.",
  temporal_order: "X or Y appears twice among distractors; the class is the order (XX, XY, YX, YY). Needs T ≥ 10.",
  embedded_reber: "A stream of embedded Reber strings: predict each next symbol. Scored on the hard step: after the inner string, recall its second symbol (T or P). Needs T ≥ 12.",
  embedded_reber_reset: "One embedded Reber string per sequence, as in 1997: predict each next symbol; scored on recalling the second symbol (T or P) at the end. Needs T ≥ 12.",
  copy: "A few symbols, a long blank delay, then a go marker: repeat the symbols. Scored on the repeated steps; saying \"blank\" always scores 0.",
  brackets: "Read ( and ) one at a time and report the nesting depth after each. The line is the depth's variance: the best a constant guess can do.",
  sine: "Predict the next value of a sine wave: a short-memory control where the plain RNN does fine.",
  charlm: "Read a text one character at a time and predict the next. Scored in bits per character on a held-out part; counting letters alone scores the dashed line. Try H = 64 or more, T = 50, a few thousand steps.",
};
const TEXT_LIMIT = 2 * 1024 * 1024; // bytes of an uploaded text (the server takes 2,000,000 characters)

const urlFields = urlState(FIELDS);
const readUrl = () => urlFields.parse(window.location.search);

function writeUrl(s) {
  const q = urlFields.serialise(s);
  window.history.replaceState(null, "", q ? `?${q}` : window.location.pathname);
}

function readForm() {
  const s = {};
  for (const [key, [def, kind]] of Object.entries(FIELDS)) {
    const v = parseKind(kind, $(key).value);
    s[key] = v === undefined ? def : v;
  }
  return s;
}

let settings = readUrl();
let runs = []; // {cell, socket, losses, evals, task, bar, text, metric, model, done}
let task = null; // the start frame's task description (shared by every run)
let shown = null; // the run whose gates are drawn
let drawQueued = false;
let uploadedText = null; // {name, text}: charlm's own text, not kept in the URL (too long)

function fillForm(s) {
  for (const key of Object.keys(FIELDS)) $(key).value = String(s[key]);
  showTask(s);
  $("cell").disabled = s.mode === "race";
}

function showTask(s) {
  $("task-hint").textContent = HINTS[s.task];
  const text = s.task === "charlm";
  $("text-group").hidden = !text;
  $("samples-panel").hidden = !text;
  $("temp-out").value = Number(s.temp).toFixed(1);
}

function setRunning(on) {
  $("start").disabled = on;
  $("stop").disabled = !on;
  $("pause").disabled = !on;
  setPaused(false);
}

function setPaused(paused) {
  $("pause").setAttribute("aria-pressed", String(paused));
  $("pause").textContent = paused ? "Resume" : "Pause";
}

function runCard(cell) {
  const st = RUN_STYLE[cell];
  const card = document.createElement("div");
  card.className = `run-card run-${cell}`;
  const title = document.createElement("h3");
  title.textContent = st.name;
  const bar = document.createElement("progress");
  bar.max = 1;
  bar.value = 0;
  bar.setAttribute("aria-label", `${st.name} training progress`);
  const text = document.createElement("p");
  text.className = "run-text";
  text.textContent = "connecting…";
  const metric = document.createElement("p");
  metric.className = "run-metric";
  card.append(title, bar, text, metric);
  $("runs").appendChild(card);
  return { card, bar, text, metric };
}

function scheduleDraw() {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => {
    drawQueued = false;
    drawLoss($("loss-chart"), runs, task, settings.steps);
    drawMetric($("metric-chart"), runs, task, settings.steps);
  });
}

function handlers(run) {
  return {
    queued(f) {
      run.text.textContent = `waiting: place ${f.position} in the queue (${f.running} of ${f.limit} trainings running)`;
    },
    start(f) {
      task = f.task;
      run.text.textContent = "started";
      scheduleDraw();
    },
    paused(f) {
      run.text.textContent = `paused at step ${f.step}`;
    },
    resumed() {
      run.text.textContent = "resumed";
    },
    progress(f) {
      run.bar.value = f.step / f.steps;
      run.card.dataset.step = String(f.step);
      if (f.loss !== null) run.losses.push([f.step, f.loss]);
      run.text.textContent = `step ${f.step} / ${f.steps} · ${Math.round(f.steps_per_s)} steps/s · ${formatEta(f.eta_s)} left · gradient norm ${f.grad_norm === null ? "∞" : f.grad_norm.toFixed(2)}`;
      scheduleDraw();
    },
    eval(f) {
      run.evals.push([f.step, f.metric[task.metric]]);
      run.metric.textContent = metricText(task, f.metric);
      scheduleDraw();
    },
    snapshot(f) {
      if (!f.trace.skipped && f.trace.inputs) run.sample = f.trace.inputs; // opens with the model
      if (run !== shown || f.trace.skipped) return;
      $("snap-step").textContent = `(${RUN_STYLE[run.cell].name}, step ${f.step})`;
      drawSnapshot($("heatmaps"), f.trace);
    },
    sample(f) {
      if (run !== shown) return;
      const now = $("sample-now");
      if (now.textContent) {
        const old = document.createElement("pre");
        old.className = "sample sample-old";
        old.textContent = `${now.dataset.label}\n${now.textContent}`;
        $("sample-history").prepend(old);
        while ($("sample-history").children.length > 6) $("sample-history").lastChild.remove();
      }
      now.dataset.label = `step ${f.step}, temperature ${f.temperature.toFixed(1)}`;
      now.textContent = f.prime + f.text;
      $("sample-step").textContent = `(${RUN_STYLE[run.cell].name}, ${now.dataset.label})`;
    },
    done(f) {
      run.done = true;
      run.doneMetric = f.metric[task.metric];
      run.model = f.model;
      run.alphabet = f.alphabet || null;
      run.bar.value = f.step / settings.steps;
      run.text.textContent = `${f.stopped ? "stopped" : "finished"} at step ${f.step}`;
      run.metric.textContent = metricText(task, f.metric);
      if (run === shown && run.model) offer(run); // relayed: the model comes by the class
      finishIfAllDone();
    },
    error(f) {
      $("error").textContent = formatDetail(f.detail);
      run.text.textContent = "refused";
    },
    close(info) {
      if (!info.finished && !run.done) run.text.textContent = `connection closed (${info.code})`;
      run.done = true;
      finishIfAllDone();
    },
  };
}

function finishIfAllDone() {
  if (!runs.every((r) => r.done)) return;
  setRunning(false);
  const stopped = runs.some((r) => r.text.textContent.startsWith("stopped"));
  $("status").textContent = $("error").textContent ? "" : stopped ? "Stopped." : "Finished.";
}

let offered = null; // the model the download buttons offer

function offer(run) {
  offered = offerModel(run, { taskName: settings.task, uploadedText });
  pageChanged(); // in a class, the model now goes to the students (by its key)
}

// The cards, charts and panels of a new run of `settings` (empty: nothing has arrived yet).
function prepareRuns() {
  $("error").textContent = "";
  $("runs").replaceChildren();
  $("download").hidden = true;
  $("download-st").hidden = true;
  $("open-step").hidden = true;
  $("open-lab").hidden = true;
  $("metric-hint").textContent = `On 256 fresh sequences, every ${evalEvery(settings.steps)} steps.`;
  task = null;
  const cells = settings.mode === "race" ? ["rnn", "lstm", "gru"] : [settings.cell];
  runs = cells.map((cell) => ({ cell, losses: [], evals: [], done: false, ...runCard(cell) }));
  for (const run of runs) run.on = handlers(run); // its frames' handlers, socket or relay
  shown = runs.find((r) => r.cell === "lstm") || runs[0];
  const pick = $("gates-pick");
  pick.replaceChildren(...runs.map((r) => new Option(RUN_STYLE[r.cell].name, r.cell)));
  pick.value = shown.cell;
  $("gates-pick-box").hidden = runs.length < 2;
  $("sample-now").textContent = "";
  $("sample-history").replaceChildren();
  $("sample-step").textContent = "";
  setRunning(true);
  $("status").textContent = settings.mode === "race" ? "Racing RNN, LSTM and GRU on the same data." : "Training…";
}

let runId = "";
function start() {
  for (const r of runs) r.socket?.close();
  settings = readForm();
  writeUrl(settings);
  fillForm(settings);
  prepareRuns();
  runId = Math.random().toString(36).slice(2, 10);
  const text = settings.task === "charlm" && uploadedText ? uploadedText.text : null;
  for (const run of runs) run.socket = openTrainSocket(trainBody(settings, run.cell, text), relaying(runId, run, run.on));
}

// A student following a class: the teacher's run, drawn from the relayed frames (train-class.js).
const watchRelay = watcher({
  runs: () => runs,
  reset() {
    for (const r of runs) r.socket?.close();
    settings = readForm(); // the teacher's settings, applied from the class's URL state
    prepareRuns();
    $("status").textContent = "Training on the teacher's page…";
  },
});

// The teacher's trained model, shared with the class by its key once the run is done.
function showClassModel(model) {
  if (!model || model === offered) return;
  const run = runs.find((r) => r.cell === model.cell) ?? { cell: model.cell, done: true };
  run.model = model;
  run.alphabet = model.alphabet || run.alphabet || null;
  offered = offerModel(run, { taskName: settings.task, uploadedText: null });
}

$("train-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  start();
});
$("download-st").addEventListener("click", () => downloadSafetensors(offered, settings.task));
$("pause").addEventListener("click", () => {
  const pausing = $("pause").getAttribute("aria-pressed") !== "true";
  for (const r of runs) if (!r.done) (pausing ? r.socket.pause : r.socket.resume)();
  setPaused(pausing);
  $("status").textContent = pausing ? "Paused: the model and the optimiser wait where they are." : "Training…";
});
$("stop").addEventListener("click", () => {
  for (const r of runs) r.socket.stop();
  $("status").textContent = "Stopping…";
});
$("train-form").addEventListener("change", (ev) => {
  if (ev.target.id === "text-file") return;
  const s = readForm();
  writeUrl(s);
  showTask(s);
  $("cell").disabled = s.mode === "race";
});
$("temp").addEventListener("input", () => {
  settings = { ...settings, temp: readForm().temp };
  writeUrl(readForm());
  $("temp-out").value = settings.temp.toFixed(1);
});
$("temp").addEventListener("change", () => {
  for (const r of runs) if (!r.done) r.socket.temperature(settings.temp); // a sample comes at once
});
$("text-file").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  if (!file) return;
  $("error").textContent = "";
  try {
    if (file.size > TEXT_LIMIT) throw new Error(`it has ${file.size.toLocaleString()} bytes; the limit is ${TEXT_LIMIT.toLocaleString()}`);
    const text = new TextDecoder("utf-8", { fatal: true }).decode(await file.arrayBuffer());
    if (text.length < 200) throw new Error(`it has ${text.length} characters; at least 200 are needed`);
    uploadedText = { name: file.name, text };
    $("text-status").textContent = `Using ${file.name}: ${text.length.toLocaleString()} characters (not kept in the link).`;
    $("text-clear").hidden = false;
  } catch (err) {
    const reason = err instanceof TypeError ? "it is not UTF-8 text" : err.message;
    $("error").textContent = `Could not use ${file.name}: ${reason}.`;
    ev.target.value = "";
  }
});
$("text-clear").addEventListener("click", () => {
  uploadedText = null;
  $("text-file").value = "";
  $("text-status").textContent = "Default: source files of Python's standard library.";
  $("text-clear").hidden = true;
});
$("gates-pick").addEventListener("change", () => {
  shown = runs.find((r) => r.cell === $("gates-pick").value) || shown;
  $("snap-step").textContent = "(at the next snapshot)";
  if (shown.done && shown.model) offer(shown);
});

// A class follower sees the teacher's settings and, relayed, the teacher's training (which
// runs once, on the teacher's page; its model travels with the class once trained).
registerPage({
  relay: watchRelay,
  apply: (search, { model } = {}) => {
    settings = urlFields.parse(search);
    fillForm(settings);
    writeUrl(settings);
    showClassModel(model);
  },
  url: () => `${window.location.pathname}${window.location.search}`,
  model: () => offered,
});
fillForm(settings);
drawLoss($("loss-chart"), [], null, settings.steps);
drawMetric($("metric-chart"), [], null, settings.steps);
document.body.dataset.ready = "1";
// Exposed for the lesson panel (lesson-eval.js) and the browser tests.
globalThis.lstmxTrain = { get settings() { return settings; }, get runs() { return runs; }, get task() { return task; } };
