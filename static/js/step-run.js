// A run of the step page: the request the controls describe (model, input, the gate holds),
// the trace stream it opens (compact frames fill the trace as they come; a stream that breaks
// falls back to one POST), the diagram, heatmaps, selects and panels made for the trace's cell
// and size, and the two panels that ask for runs of their own: the gate holds' form and
// "Find the unit".
import * as api from "./api.js";
import * as cellView from "./cell.js";
import * as charts from "./charts.js";
import { GATES, fmt } from "./encodings.js";
import { createHoldControls } from "./hold-form.js";
import * as holds from "./holds.js";
import * as imported from "./imported.js";
import { buildInput } from "./inputs.js";
import { lossBody, lossInfo } from "./loss-choice.js";
import { traceKey } from "./state.js";
import { $, dom, page, saveUrl, showError, showStatus, state } from "./step-context.js";
import { viewOf } from "./step-exact.js";
import { sendBackward } from "./step-live.js";
import { player } from "./step-player.js";
import { codePanel, render, scheduleCharts, scheduleRender, updateCharts } from "./step-render.js";
import { createUnitsPanel } from "./units-panel.js";
import { completedText, placeholderTokens, targetsMisfit } from "./tokens.js";
import { charLabels } from "./view.js";

// The model shown: the uploaded one, else the page's random draw.
const modelShown = () => page.uploadedModel ?? { cell: state.cell };

// The input: the controls' (text through the model's vocabulary when it has one); a model with
// an embedding and no vocabulary yet reads token ids 0, 1, 2, ... so it shows at once.
function requestInput() {
  const emb = page.uploadedModel?.embedding;
  if (emb && !page.vocab.tokens && state.kind === "text") return { tokens: placeholderTokens(emb.num_embeddings) };
  const input = imported.textInput(buildInput(state), page.uploadedModel, page.vocab.tokens, page.vocab.level);
  // live typing into words: a word is one step once a space ends it
  if (liveTokens() && page.vocab.level === "word") input.text = completedText(input.text);
  return input;
}
// Live typing sends tokens to a model with an embedding and a vocabulary.
const liveTokens = () => state.live && state.kind === "text" && Boolean(page.uploadedModel?.embedding && page.vocab.tokens);

export function requestBody() {
  const input = requestInput();
  const model = page.uploadedModel
    ? imported.modelFields(page.uploadedModel)
    : {
        cell: state.cell,
        hidden_size: state.hidden,
        num_layers: state.layers,
        variant: state.cell === "lstm" ? state.variant : "standard",
        init: { seed: state.seed, forget_bias: state.fbias, recurrent_init: state.rinit, recurrent_gain: state.gain },
        weights: null,
      };
  if (input.sequence && !page.uploadedModel) model.input_size = input.sequence[0].length;
  // a text model trained on /train reads characters in its own alphabet's order
  if (page.uploadedModel?.alphabet && input.text !== undefined) input.alphabet = page.uploadedModel.alphabet;
  // frames: binary blocks of what the views show, the exact numbers of the view (the JSON
  // protocol stays for API clients)
  const loss = lossBody(state, lossInfo(modelShown(), page.vocab.tokens));
  const body = { model, input, loss, dtype: "float64", frames: "compact", view: viewOf(state) };
  // live typing feeds one-hot characters, or tokens to a model with an embedding
  const oneHot = !body.input.vocab && !page.uploadedModel?.embedding;
  if (state.live && state.kind === "text" && !model.bidirectional && (oneHot || liveTokens())) body.live = true;
  else addHolds(body);
  return body;
}

// The URL's holds as the request's clamp list (live runs grow step by step: no holds there).
function addHolds(body) {
  const { model, input } = body;
  const steps = (input.text ?? input.sequence ?? input.tokens).length; // a word text: at most this
  const clamp = holds.toClamp(holds.parseHolds(state.hold), holdModel(model, steps));
  if (clamp.length) body.clamp = clamp;
}
const holdModel = (model, steps) => ({
  gates: GATES[model.cell] || [], hidden: model.hidden_size, layers: model.num_layers, steps,
});

const holdControls = createHoldControls({
  diagram: dom.diagram,
  ctx: () => ({
    gates: GATES[page.trace?.cell] || [], t: player.t, unit: state.unit, layer: state.layer,
    layers: page.trace?.num_layers ?? 1, steps: page.trace?.steps ?? 1,
  }),
  onChange: (text) => {
    state.hold = text;
    saveUrl(true);
    run();
  },
});
page.holdControls = holdControls;

export function run() {
  // Enter in a field fires "change" and then "submit": one run is enough.
  const key = `${traceKey(state)}|${page.uploadedModel ? "weights" : ""}`;
  const now = performance.now();
  if (key === page.lastRun.key && now - page.lastRun.at < 300) return;
  page.lastRun = { key, at: now };
  page.runId += 1;
  const id = page.runId;
  if (page.socket) page.socket.close();
  page.socket = null;
  player.pause();
  showError("");
  let body;
  try {
    body = requestBody();
  } catch (err) {
    showError(err.message);
    return;
  }
  page.wantT = state.t;
  page.live = { ready: false, sent: body.input.text ?? "", pendingX: [] };
  showStatus("Running the forward pass…");
  let ended = false;
  const mine = (fn) => (frame) => {
    if (id === page.runId) fn(frame);
  };
  page.socket = api.openTraceSocket(body, {
    start: mine((frame) => startTrace(frame)),
    step: mine((frame) => {
      const typed = frame.t >= (page.trace.pendingInputs?.length ?? 0) ? page.live.pendingX.shift() : undefined;
      api.addStep(page.trace, frame, typed?.x);
      if (typed?.token !== undefined) {
        page.trace.tokens[frame.t] = typed.token;
        page.trace.labels[frame.t] = typed.label;
      }
      if (frame.predictions) addPrediction(page.trace, frame.t, frame.predictions);
      player.setLength(page.trace.steps);
      if (page.live.ready) {
        player.seek(frame.t); // live typing: follow the newest step
        scheduleCharts();
      }
      scheduleRender();
    }),
    columns: mine((block) => {
      api.addColumns(page.trace, block);
      scheduleRender();
    }),
    reading: mine((block) => {
      api.addReading(page.trace, block);
      scheduleRender();
    }),
    grad: mine((frame) => {
      api.addGrad(page.trace, frame);
      scheduleCharts(!page.live.ready && !ended); // while the first pass streams, only the gradient chart
    }),
    ready: mine(() => {
      page.live.ready = true;
      const each = Array.isArray(page.trace.tokens) && page.vocab.level === "word" ? "each word, once a space ends it," : "each character";
      finish(page.wantT, `Live: type in the text box; ${each} is one step.`);
      if (page.trace.steps > 0) sendBackward();
    }),
    end: mine((frame) => {
      ended = true;
      page.trace.loss = frame.loss;
      Object.assign(page.trace, { loss_kind: frame.loss_kind, loss_steps: frame.loss_steps, predictions: frame.predictions });
      if (!page.live.ready) finish(page.wantT, `Done: ${page.trace.steps} steps, loss L = ${fmt(frame.loss)}.`);
      else {
        scheduleCharts(true);
        scheduleRender(); // the loss per step and the predictions came with the gradients
        unitsPanel.show(page.trace); // live typing added steps
      }
    }),
    error: mine((frame) => {
      // a view the trace does not have (a unit or layer from the URL beyond this model's):
      // the stream goes on, and the page sends the view it settles on (fillUnits)
      if (frame.view) return;
      ended = ended || !page.live.ready;
      showError(api.formatDetail(frame.detail));
      showStatus("");
    }),
    closed: (event, byUs) => {
      if (id !== page.runId || byUs || ended) return;
      // The socket went away before the end: fall back to one POST.
      api.postTrace(body)
        .then((answer) => {
          if (id !== page.runId) return;
          startTrace({ ...answer, gates: Object.keys(answer.layers[0]?.gates || {}) });
          page.trace = api.completeTrace({ ...answer, pendingInputs: answer.inputs });
          player.setLength(page.trace.steps);
          finish(page.wantT, `Done: ${page.trace.steps} steps, loss L = ${fmt(answer.loss)}.`);
        })
        .catch((err) => {
          if (id === page.runId) showError(err.message);
        });
    },
  });
}

// A live step's predictions: row t of the trace's (the whole set comes with each "end").
function addPrediction(trace, t, row) {
  trace.predictions ??= { kind: row.kind, readout: row.readout, ids: [], p: [] };
  trace.predictions.ids[t] = row.ids;
  trace.predictions.p[t] = row.p;
}

function startTrace(start) {
  page.trace = api.traceFromStart(start);
  for (const list of document.querySelectorAll(".howto [data-cell]")) list.hidden = list.dataset.cell !== page.trace.cell;
  page.refs = cellView.build(dom.diagram, page.trace.cell, state.variant);
  holdControls.setGates(GATES[page.trace.cell] || []);
  const shown = holdModel({ cell: page.trace.cell, hidden_size: page.trace.hidden_size, num_layers: page.trace.num_layers }, Infinity);
  const liveRun = state.live && state.kind === "text"; // a live run grows step by step: no holds
  holdControls.setHolds(state.hold, (h) => !liveRun && holds.applies(h, shown));
  codePanel.load(page.trace.cell).catch((err) => showError(err.message));
  page.heat = charts.createHeatmaps(dom.heatmaps, page.trace.cell, (t, unit) => {
    state.unit = String(unit);
    dom.unit.value = state.unit;
    player.pause();
    player.seek(t);
  });
  page.plottedReveal = null;
  page.trace.labels = imported.tokenLabels({ ...page.trace, inputs: start.inputs || [] }, page.vocab.tokens);
  if (state.layer >= page.trace.layers.length) state.layer = 0;
  fillSelect(dom.layer, Array.from({ length: page.trace.num_layers }, (_, k) => String(k)), (v) =>
    imported.layerName({ ...page.trace, bidirectional: false }, Number(v)),
  );
  dom.layer.disabled = page.trace.num_layers < 2;
  $("direction-group").hidden = !page.trace.bidirectional;
  fillUnits();
}

// The unit selector lists the units of the layer shown (layers may have their own widths).
export function fillUnits() {
  const { layer, direction } = imported.entryParts(page.trace, state.layer);
  const H = imported.widthOf(page.trace, state.layer);
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
  unitsPanel.show(page.trace);
  player.setLength(page.trace.steps);
  player.seek(Math.min(wantT, Math.max(0, page.trace.steps - 1)));
  updateCharts().then(() => {
    render(page.trace, player.t);
    document.body.dataset.ready = "1";
  });
}

// "Find the unit" asks about exactly what is shown: the trace's own input and model.
const unitsPanel = createUnitsPanel({
  trace: () => page.trace,
  body() {
    const body = requestBody();
    delete body.live;
    const tr = page.trace;
    if (tr.alphabet) body.input = { text: charLabels(tr).join(""), alphabet: tr.alphabet };
    else if (Array.isArray(tr.tokens)) {
      // the tokens read, as text when they are characters (the ready-made targets read it)
      const chars = page.vocab.level === "char" && tr.labels?.every((label) => [...label].length === 1);
      body.input = chars ? { text: tr.labels.join(""), vocab: page.vocab.tokens, level: "char" } : { tokens: tr.tokens };
    }
    return body;
  },
  targetsMisfit: () => targetsMisfit(page.trace, page.vocab.tokens, page.vocab.level),
  select(layer, unit) {
    state.layer = layer;
    state.unit = String(unit);
    dom.layer.value = String(layer);
    dom.unit.value = state.unit;
    saveUrl(true);
    page.plottedReveal = null;
    updateCharts();
  },
});
