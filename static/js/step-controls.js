// The step page's controls: the form <-> URL state, the input groups each kind of input shows,
// the unit, layer, direction and speed selects, the controls' toggle, and the classroom seam
// (pagelink.js): a class's follower applies the teacher's URL state and model here.
import * as imported from "./imported.js";
import { brackets, formatNumbers, numericRows, parseNumbers, rowsToUrl, urlToText } from "./inputs.js";
import { registerPage } from "./pagelink.js";
import { parse, serialise, traceKey } from "./state.js";
import { $, dom, page, saveUrl, showError, showModelNote, state } from "./step-context.js";
import { leaveGallery } from "./step-gallery.js";
import { liveTyped } from "./step-live.js";
import { player } from "./step-player.js";
import { render, updateCharts } from "./step-render.js";
import { fillUnits, run } from "./step-run.js";

const FIELDS = ["cell", "variant", "hidden", "layers", "seed", "fbias", "rinit", "gain", "kind", "text", "len", "iseed", "lo", "hi"];
export function fillControls() {
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
  // A model with its own weights: the random draw's settings do nothing, and its text goes
  // through its vocabulary when it has an embedding
  const model = page.uploadedModel;
  $("variant").disabled = state.cell !== "lstm";
  $("fbias").disabled = state.cell !== "lstm" || Boolean(model);
  for (const id of ["seed", "rinit", "gain"]) $(id).disabled = Boolean(model);
  $("kind").querySelector('option[value="text"]').textContent = model?.embedding
    ? "typed text (tokens)" : "typed text (one-hot)";
  if (!dom.seq.hidden) {
    try {
      dom.seq.value = state.kind === "custom" ? urlToText(state.seq) : formatNumbers(numericRows(state));
    } catch (err) {
      showError(err.message);
    }
  }
}

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
    render(page.trace, player.t);
    return;
  }
  if (["cell", "hidden", "layers", "variant"].includes(key) && page.uploadedModel) {
    page.uploadedModel = null; // a new architecture: the page's own random weights again
    leaveGallery();
    showModelNote("");
  }
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
  if (!dom.text.value.startsWith(page.live.sent)) {
    state.text = dom.text.value;
    saveUrl();
  }
  liveTyped(dom.text.value, run);
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
  render(page.trace, player.t);
});
const onLayer = () => {
  state.layer = imported.entryIndex(page.trace, Number(dom.layer.value), $("direction").value);
  if (page.trace) fillUnits();
  saveUrl(true);
  page.plottedReveal = null;
  updateCharts();
};
dom.layer.addEventListener("change", onLayer);
$("direction").addEventListener("change", onLayer);
export const setFast = () => document.body.classList.toggle("fast", state.speed >= 8);
dom.speed.addEventListener("change", () => {
  state.speed = Number(dom.speed.value);
  player.setSpeed(state.speed);
  setFast();
  saveUrl(true);
});

// A class's teacher shares this page's URL state and model; a follower applies them here,
// through the same parse -> controls -> run or render path as a reload.
function applyUrl(search, { model = null } = {}) {
  const next = parse(search);
  const rerun = !page.lastRun.key || traceKey(next) !== traceKey(state) || model !== page.uploadedModel;
  const relayer = next.layer !== state.layer;
  Object.assign(state, next);
  page.uploadedModel = model;
  showModelNote(model ? `Using the model the teacher shared with the class: ${imported.describeModel(model)}.` : "");
  fillControls();
  player.setSpeed(state.speed);
  setFast();
  page.wantT = state.t;
  saveUrl(true);
  if (rerun) return run();
  dom.unit.value = state.unit;
  dom.layer.value = String(state.layer);
  if (relayer) {
    page.plottedReveal = null;
    updateCharts();
  }
  player.seek(state.t);
  render(page.trace, player.t);
}

registerPage({
  apply: applyUrl,
  url: () => `${location.pathname}?${serialise(state)}`,
  playing: () => player.playing,
  model: () => page.uploadedModel,
  modelBody: imported.modelFields,
});

$("toggle-controls").addEventListener("click", (ev) => {
  const wide = document.querySelector(".layout").classList.toggle("wide");
  ev.currentTarget.setAttribute("aria-expanded", String(!wide));
  ev.currentTarget.textContent = wide ? "Show controls" : "Hide controls";
  window.dispatchEvent(new Event("resize")); // Plotly charts follow the new width
});
