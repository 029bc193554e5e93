// The gallery of trained models (GET /api/gallery, GET /api/gallery/{slug}): the cards, a
// model with its weights inline, and the links that open one on each page. The link is all a
// page needs (?model=<slug>): a shared link reproduces the view.
import { ApiError, formatDetail } from "./api.js";

export const DEFAULT_MODEL = "latch-lstm"; // the step page with no parameters opens this one
export const UNTRAINED = "none"; // ?model=none: the page's own seeded random weights

async function getJson(url) {
  const response = await fetch(url);
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) throw new ApiError(body?.detail !== undefined ? formatDetail(body.detail) : `${response.status} ${response.statusText}`);
  return body;
}

let cardsPromise = null;
export function fetchCards() {
  cardsPromise ??= getJson("/api/gallery").catch((err) => {
    cardsPromise = null;
    throw err;
  });
  return cardsPromise;
}

export async function fetchCard(slug) {
  const card = (await fetchCards()).find((c) => c.slug === slug);
  if (!card) throw new ApiError(`There is no trained model “${slug}” in the gallery.`);
  return card;
}

export const fetchModel = (slug) => getJson(`/api/gallery/${encodeURIComponent(slug)}`);

// The unit worth seeing: the card's first named unit.
export const namedUnit = (card) => card.units[0] ?? { layer: 0, unit: 0, field: "h" };

// The step page's URL state for a card: its example input, the step and the unit worth seeing.
export function stepState(card) {
  const u = namedUnit(card);
  const s = { model: card.slug, cell: card.cell, hidden: card.hidden_size, t: card.step, unit: String(u.unit), layer: u.layer };
  if (card.example?.text !== undefined) Object.assign(s, { kind: "text", text: card.example.text });
  else if (card.example?.sequence) Object.assign(s, { kind: "custom", seq: card.example.sequence.map((row) => row.join(" ")).join(";") });
  return s;
}

export const stepUrl = (card) => `/?model=${encodeURIComponent(card.slug)}`;
export const labUrl = (card) => `/compare?model=${encodeURIComponent(card.slug)}`;
export const classUrl = (card) => `${stepUrl(card)}#class`;

// "accuracy 0.98 against 0.50 for a constant guess"
export function metricText(metric) {
  const f = (v) => (Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(3) : v.toPrecision(2));
  const names = { accuracy: "accuracy", mse: "mean squared error", bpc: "bits per character" };
  return `${names[metric.name] ?? metric.name} ${f(metric.value)} (baseline ${f(metric.baseline)})`;
}
