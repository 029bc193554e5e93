// The step page's view: one render(trace, t) for playing and scrubbing alike (diagram, gate
// reading, equations, Code panel, gradient line, cursors, hold marks), the throttled render
// of streamed frames, and the throttled Plotly redraws of the heatmaps and gradient chart.
import * as cellView from "./cell.js";
import { withPowers } from "./class-dom.js";
import * as charts from "./charts.js";
import * as gradChart from "./grad-chart.js";
import * as equations from "./equations.js";
import { NAMES } from "./encodings.js";
import { createCodePanel } from "./code.js";
import * as exact from "./step-exact.js";
import * as imported from "./imported.js";
import { defaultKind, lossInfo, lossText } from "./loss-choice.js";
import { createPredictionsPanel } from "./predictions.js";
import { $, dom, page, state } from "./step-context.js";
import { charLabels, gradLabel, inputLabel, readingRows, stepView } from "./view.js";

const grads = gradChart.createGradChart(dom.grad);
const predictions = createPredictionsPanel({
  root: $("predictions-panel"),
  onPick(t) {
    page.player.pause();
    page.player.seek(t);
  },
});
// A token's name: the vocabulary's, the alphabet's character, or its id.
const tokenLabel = (tr) => (id) => page.vocab.tokens?.[id] ?? tr.alphabet?.[id] ?? `#${id}`;

// What L is, under the gradient chart, and the Predictions panel at step t.
function renderLoss(tr, t) {
  const loss = tr.request?.loss ?? {};
  const info = lossInfo(page.uploadedModel, page.vocab.tokens);
  $("grad-loss").textContent = lossText(tr.loss_kind ?? loss.kind ?? defaultKind(info), info, loss.target);
  predictions.show(tr, t, tokenLabel(tr), charLabels(tr));
}

export const codePanel = createCodePanel({
  root: $("code"), file: $("code-file"), forwardButton: $("code-forward"), backwardButton: $("code-backward"),
});

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

// At 30 steps/s and more the text panels (gate reading, equations, code, gradient line) are
// rewritten at most 15 times a second: nobody reads faster, and each rewrite costs a layout
// and a paint that a 60 steps/s frame has no time for. The diagram and cursors move every step.
const TEXT_MS = 1000 / 15;
let textAt = -Infinity;
function textDue() {
  const now = performance.now();
  if (page.player.playing && state.speed >= 30 && now - textAt < TEXT_MS) return false;
  textAt = now;
  return true;
}

// One render for playing and scrubbing alike.
export function render(tr, t) {
  if (!tr || tr.steps === 0 || !page.refs) return;
  if (!exact.ready(tr)) return; // the view's exact numbers are on their way: shown once in
  const unit = state.unit;
  const where = { t, unit, layer: state.layer, lo: state.lo, hi: state.hi };
  const slice = stepView(tr, where);
  const view = { ...slice, lo: state.lo, hi: state.hi };
  cellView.update(page.refs, view);
  dom.diagram.dataset.t = String(t);
  dom.diagram.dataset.unit = unit;
  dom.diagram.dataset.layer = String(state.layer);
  const text = textDue();
  if (text) {
    renderReading(readingRows(tr, where));
    equations.render(dom.equations, tr.cell, state.variant, { ...slice, ...slice.gates, mean: unit === "mean", unit });
    renderLoss(tr, t);
  }
  dom.inputNow.textContent = inputLabel(tr, t, state.layer);
  dom.scrubber.max = String(Math.max(0, tr.steps - 1));
  dom.scrubber.value = String(t);
  dom.tLabel.textContent = `${t} (of 0–${tr.steps - 1})`; // t counts from 0, as in the equations
  if (page.heat) charts.moveHeatmapCursor(page.heat, t, unit === "mean" ? null : Number(unit));
  gradChart.moveGradCursor(grads, t);
  const reveal = Math.max(tr.gradFrom, page.hideGradsFrom);
  page.holdControls.mark(dom.diagram, where);
  if (text) {
    codePanel.update(tr, { ...where, revealFrom: reveal });
    withPowers(dom.gradNow, gradLabel(tr, where, reveal));
  }
  if (reveal !== page.plottedReveal) updateGradOnly();
}

// Streamed frames ask for a render; ten a second are enough (the step shown is complete once
// its frame is in: only the scrubber grows). A render per frame over a 10,000-step stream
// spent most of its time relaying out the page.
const RENDER_MS = 100;
let renderQueued = false;
let renderAt = -Infinity;
export function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  const wait = Math.max(0, renderAt + RENDER_MS - performance.now());
  setTimeout(() => requestAnimationFrame(() => {
    renderQueued = false;
    renderAt = performance.now();
    render(page.trace, page.player.t);
  }), wait);
}

export async function updateGradOnly() {
  const layer = page.trace.layers[state.layer];
  page.plottedReveal = Math.max(page.trace.gradFrom, page.hideGradsFrom);
  await gradChart.updateGradChart(grads, layer, page.trace.steps, page.plottedReveal, charLabels(page.trace));
}

export async function updateCharts() {
  if (!page.trace || page.trace.steps === 0) return;
  const layer = page.trace.layers[state.layer];
  await Promise.all([
    charts.updateHeatmaps(page.heat, layer.heat ?? layer, page.trace.steps, imported.widthOf(page.trace, state.layer), charLabels(page.trace)),
    updateGradOnly(),
  ]);
  render(page.trace, page.player.t);
}

exact.onWhole(() => updateCharts());

// Plotly redraws are throttled: frames can arrive far faster than charts can be drawn. The
// pause between redraws is at least 4x the last redraw, so a long run's charts (slower to
// draw) never take more than a fifth of the main thread while it streams.
let chartsTimer = null;
let gradOnly = true;
let chartsCost = 0; // ms the last throttled redraw took
let drawing = false;
let again = false; // asked for while a redraw was under way: one more after it
export function scheduleCharts(onlyGrad = false) {
  gradOnly = gradOnly && onlyGrad;
  if (drawing) again = true;
  if (drawing || chartsTimer) return;
  chartsTimer = setTimeout(async () => {
    chartsTimer = null;
    const only = gradOnly;
    gradOnly = true;
    if (!page.trace || page.trace.steps === 0) return;
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
