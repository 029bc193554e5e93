// The gallery page (/models): a card per trained model with its named unit drawn over the
// card's example input (a sparkline, or coloured text for a model that reads text), its
// held-out metric against the baseline, and links that open it on the step page, in the
// gradient lab and in a class.
import { postTrace } from "./api.js";
import { NAMES } from "./encodings.js";
import * as gallery from "./gallery.js";
import { rangeOf, sparkPath, unitSeries, valueColours } from "./gallery-view.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const W = 320;
const H = 70;
const PICTURE_CHARS = 400;

function svgEl(name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// The unit's values as a line, a dashed line at the step worth seeing, 0 (or 0.5) as a rule.
function sparkline(values, field, step) {
  const range = rangeOf(field, values);
  const svg = svgEl("svg", { viewBox: `-2 -2 ${W + 4} ${H + 4}`, class: "sparkline", role: "img" });
  const mid = field === "c" || field === "h" || !range[0] ? (range[0] + range[1]) / 2 : 0.5;
  const yMid = H - ((mid - range[0]) / (range[1] - range[0])) * H;
  svg.append(svgEl("line", { x1: 0, x2: W, y1: yMid, y2: yMid, class: "rule" }));
  const xs = values.length > 1 ? (step * W) / (values.length - 1) : W / 2;
  svg.append(svgEl("line", { x1: xs, x2: xs, y1: 0, y2: H, class: "marker" }));
  svg.append(svgEl("path", { d: sparkPath(values, W, H, range), class: `line field-${field}` }));
  return svg;
}

// Each character on the colour of the unit's value at its step.
function colouredText(text, values, field) {
  const range = rangeOf(field, values);
  const p = document.createElement("p");
  p.className = "coloured-text";
  [...text].forEach((ch, t) => {
    const span = document.createElement("span");
    const { bg, fg } = valueColours(field, values[t], range);
    span.textContent = ch;
    span.style.background = bg;
    span.style.color = fg;
    span.title = `step ${t}: ${values[t].toFixed(3)}`;
    p.append(span);
  });
  return p;
}

async function draw(card, figure) {
  const u = gallery.namedUnit(card);
  const model = await gallery.fetchModel(card.slug);
  // a text picture shows the first PICTURE_CHARS characters of the example
  const input = card.example.text !== undefined ? { text: card.example.text.slice(0, PICTURE_CHARS), alphabet: model.alphabet } : { sequence: card.example.sequence };
  const fields = ["cell", "input_size", "hidden_size", "num_layers", "variant", "output_size", "init", "weights", "nonlinearity", "embedding"];
  const body = { model: Object.fromEntries(fields.filter((k) => model[k] !== undefined).map((k) => [k, model[k]])), input };
  const trace = await postTrace(body);
  const values = unitSeries(trace, u);
  const what = `${NAMES[u.field] ?? u.field} of unit ${u.unit}`;
  const drawing = figure.querySelector(".model-drawing");
  if (input.text !== undefined) drawing.append(colouredText(input.text, values, u.field));
  else {
    const svg = sparkline(values, u.field, card.step);
    svg.setAttribute("aria-label", `${what} over ${values.length} steps of a held-out input`);
    drawing.append(svg);
  }
  const where = input.text === undefined ? `; the dashed line marks step ${card.step}` : " (hover a character for its value)";
  figure.querySelector("figcaption").textContent = `${what[0].toUpperCase()}${what.slice(1)}, step 0 to ${values.length - 1} of a held-out input${where}.`;
}

function cardElement(card) {
  const li = $("model-card").content.firstElementChild.cloneNode(true);
  li.dataset.slug = card.slug;
  const id = `model-${card.slug}`;
  li.querySelector(".model-title").id = id;
  li.setAttribute("aria-labelledby", id);
  li.querySelector(".model-title").textContent = card.title;
  const cell = card.cell === "lstm" ? "LSTM" : card.cell === "gru" ? "GRU" : "tanh RNN";
  const secs = card.training?.seconds;
  li.querySelector(".model-facts").textContent = `${cell}, ${card.hidden_size} units · task: ${card.task_summary ?? card.task}${secs !== undefined ? ` · trained in ${Math.round(secs)} s` : ""}`;
  li.querySelector(".model-metric").textContent = `Held out: ${gallery.metricText(card.metric)}.`;
  li.querySelector(".model-look").textContent = card.look_for;
  const links = [[".open-step", gallery.stepUrl(card)], [".open-lab", gallery.labUrl(card)], [".open-class", gallery.classUrl(card)]];
  li.querySelector(".open-lab").hidden = card.lab === false; // the lab runs one plain layer
  for (const [sel, href] of links) {
    const a = li.querySelector(sel);
    a.href = href;
    a.setAttribute("aria-describedby", id);
  }
  return li;
}

async function main() {
  let cards;
  try {
    cards = await gallery.fetchCards();
  } catch (err) {
    $("models-status").textContent = `Could not load the models: ${err.message}`;
    return;
  }
  $("model-list").replaceChildren(...cards.map(cardElement));
  $("models-status").textContent = `${cards.length} trained models.`;
  // one picture at a time: a class opening the page at once should not queue the server up
  for (const card of cards) {
    const figure = document.querySelector(`[data-slug="${CSS.escape(card.slug)}"] .model-picture`);
    await draw(card, figure).catch((err) => {
      figure.querySelector("figcaption").textContent = `Could not draw the unit: ${err.message}`;
    });
  }
  document.body.dataset.ready = "1";
}

main();
