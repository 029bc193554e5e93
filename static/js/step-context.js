// What the step page's modules share: its URL state, its elements, the run being shown (one
// `page` object whose fields each owning module sets), the URL write and the two message
// lines. No logic beyond that, so every other step-*.js module can import it without a cycle.
import { parse, serialise } from "./state.js";

export const $ = (id) => document.getElementById(id);
export const state = parse(location.search.slice(1));
export const dom = {
  form: $("controls"), diagram: $("diagram"), reading: $("reading"), equations: $("equations"),
  heatmaps: $("heatmaps"), grad: $("grad-chart"), scrubber: $("scrubber"), tLabel: $("t-label"),
  play: $("btn-play"), unit: $("unit"), layer: $("layer"), speed: $("speed"), status: $("status"),
  error: $("error"), inputNow: $("input-now"), seq: $("seq"), text: $("text"), gradNow: $("grad-now"),
};

// The page's moving parts, each set by the module named on its right.
export const page = {
  trace: null, // the trace being shown, as /api/trace answers it (plus gradFrom)       step-run.js
  refs: null, // the diagram's moving parts                                               step-run.js
  heat: null, // heatmap handles                                                          step-run.js
  socket: null, // the trace stream                                                        step-run.js
  runId: 0, // the newest run; frames of older ones are dropped                            step-run.js
  lastRun: { key: "", at: -Infinity }, // the last run started (one run per Enter)         step-run.js
  wantT: 0, // the step to show once the running trace is in (a class may move it meanwhile)
  holdControls: null, // the gate holds' form and marks                                   step-run.js
  uploadedModel: null, // a model with weights inline, from POST /api/weights              step-weights.js
  vocab: { tokens: null, level: "char" }, // an uploaded vocabulary (not kept in the link)  step-weights.js
  hideGradsFrom: 0, // during a play-through the gradient chart hides steps < this         step-player.js
  plottedReveal: null, // the reveal the gradient chart was last drawn with                step-render.js
  live: { ready: false, sent: "", pendingX: [] }, // live typing                           step-live.js
  player: null, // the Player                                                              step-player.js
};

// --- URL state -----------------------------------------------------------------------------
let urlTimer = null;
export function saveUrl(now = false) {
  clearTimeout(urlTimer);
  const write = () => history.replaceState(null, "", `${location.pathname}?${serialise(state)}`);
  if (now) write();
  else urlTimer = setTimeout(write, 250);
}

// --- messages --------------------------------------------------------------------------------
export function showError(message) {
  dom.error.textContent = message || "";
}
export function showStatus(message) {
  dom.status.textContent = message;
}
// Where the model's weights come from, with "Back to random weights" beside it; "" when they
// are the page's own random draw.
export function showModelNote(message) {
  $("weights-status").textContent = message;
  $("weights-clear").hidden = !message;
  if (!message) $("weights-file").value = "";
}
