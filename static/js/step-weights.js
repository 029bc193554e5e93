// The step page's models from elsewhere and its exports: weights from a file (POST /api/weights,
// PyTorch or Keras via imported.js, asking tanh or ReLU when a plain RNN's file cannot say), an
// uploaded vocabulary, the model trained on /train handed over through sessionStorage, and the
// JSON, CSV, PNG and HTML downloads ("Save as HTML": POST /api/html builds the file on the
// server, with app/standalone as lx.show(...).save() and `lstm-explainer html` do).
import * as api from "./api.js";
import * as exporter from "./export.js";
import * as imported from "./imported.js";
import { joiningClass } from "./pagelink.js";
import { $, page, saveUrl, showError, showModelNote, showStatus, state } from "./step-context.js";
import { fillControls } from "./step-controls.js";
import { leaveGallery } from "./step-gallery.js";
import { requestBody, run } from "./step-run.js";

// Weights: POST /api/weights answers a model with its weights inline; a plain RNN's file
// cannot say tanh or ReLU, so the page asks and sends the file again.
let weightsFile = null;
async function useWeights(file) {
  showError("");
  const ask = $("nonlinearity");
  try {
    page.uploadedModel = await imported.uploadModel(file, ask.value);
    leaveGallery();
    Object.assign(state, {
      cell: page.uploadedModel.cell, hidden: imported.widthOf(page.uploadedModel, 0),
      layers: page.uploadedModel.num_layers, variant: page.uploadedModel.variant || "standard", layer: 0,
    });
    fillControls();
    showModelNote(`Using weights from ${file.name}: ${imported.describeModel(page.uploadedModel)} (not kept in the link).`);
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
    page.vocab.tokens = await imported.uploadVocab(file);
    $("vocab-status").textContent = `Vocabulary: ${page.vocab.tokens.length} tokens from ${file.name}.`;
    run();
  } catch (err) {
    showError(`Could not use ${file.name}: ${err.message}`);
  }
});
$("vocab-level").addEventListener("change", (ev) => {
  page.vocab.level = ev.target.value;
  run();
});
$("weights-clear").addEventListener("click", () => {
  page.uploadedModel = null;
  leaveGallery();
  saveUrl(true);
  weightsFile = null;
  $("nonlinearity-group").hidden = true;
  showModelNote("");
  fillControls();
  run();
});

// Export.
const baseName = () => `trace-${state.cell}-h${state.hidden}-seed${state.seed}`;
$("export-json").addEventListener("click", async () => {
  if (page.trace) exporter.download(`${baseName()}.json`, exporter.traceJson(await api.exactTrace(page.trace)), "application/json");
});
$("export-csv").addEventListener("click", async () => {
  if (page.trace) exporter.download(`${baseName()}.csv`, exporter.traceCsv(await api.exactTrace(page.trace)), "text/csv");
});
$("export-html").addEventListener("click", async () => {
  if (!page.trace) return;
  const body = requestBody(); // the run on show, as /api/trace takes it, less the stream's fields
  for (const key of ["frames", "view", "live"]) delete body[key];
  const button = $("export-html");
  button.disabled = true;
  showStatus("Building the HTML file…");
  try {
    exporter.download(`${baseName()}.html`, await api.postHtml(body), "text/html");
    showStatus("Saved the run as one HTML file: open it from disk, no server needed.");
  } catch (err) {
    showError(`Save as HTML: ${err.message}`);
  } finally {
    button.disabled = false;
  }
});
document.addEventListener("click", (ev) => {
  const btn = ev.target.closest("button.png");
  if (!btn) return;
  const gd = document.getElementById(btn.dataset.chart);
  if (gd && gd.data) exporter.downloadChartPng(gd, `${baseName()}-${btn.dataset.chart}`);
});

// A model trained on /train arrives through sessionStorage (weights are never put in a URL).
export function adoptTrainedModel() {
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
  page.uploadedModel = model;
  showModelNote(`Using the model trained on the Train page: ${imported.describeModel(model)} (not kept in the link).`);
}
