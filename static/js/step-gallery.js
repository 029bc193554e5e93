// A trained model from the gallery on the step page. ?model=<slug> opens it with its weights
// (GET /api/gallery/{slug}); a URL that names the model but no input gets the card's example,
// step and unit (a URL with an input keeps its own step and unit). The page with no parameters
// at all opens the gallery's default model, so the first thing a visitor sees is a trained
// gate at work. "Untrained (random weights)" is ?model=none: the page's own seeded draw, on
// the same input.
import * as gallery from "./gallery.js";
import { joiningClass } from "./pagelink.js";
import { $, page, saveUrl, showError, showModelNote, state } from "./step-context.js";

const INPUT_KEYS = ["kind", "text", "seq", "len", "iseed"];

export async function openGalleryModel() {
  if (joiningClass()) return; // a class's follower gets the teacher's model from the class
  const params = new URLSearchParams(location.search);
  if (location.pathname === "/" && [...params.keys()].length === 0) state.model = gallery.DEFAULT_MODEL;
  if (!state.model || state.model === gallery.UNTRAINED) return;
  try {
    const [card, model] = await Promise.all([gallery.fetchCard(state.model), gallery.fetchModel(state.model)]);
    const fromCard = gallery.stepState(card);
    // a link with its own input keeps its own view of it (its step and unit, or the defaults)
    if (INPUT_KEYS.some((k) => params.has(k))) for (const k of ["kind", "text", "seq", "t", "unit", "layer"]) delete fromCard[k];
    Object.assign(state, fromCard);
    page.uploadedModel = model;
    page.galleryCard = card;
    // a model with an embedding reads its text through its own tokens (imported.textInput)
    if (model.vocab || model.embedding) page.vocab = { tokens: model.vocab ?? [...(model.alphabet ?? "")], level: "char", gallery: true };
    showNote(card);
    saveUrl(true);
  } catch (err) {
    showError(`${err.message} Showing random weights instead.`);
    state.model = gallery.UNTRAINED;
  }
}

function showNote(card) {
  showModelNote(`Trained model from the gallery: ${card.title}.`);
  $("gallery-title").textContent = card.title;
  $("gallery-look").textContent = card.look_for;
  $("gallery-note").hidden = false;
}

// The page leaves the gallery model (random weights, an upload, a new architecture).
export function leaveGallery() {
  if (!state.model || state.model === gallery.UNTRAINED) return;
  state.model = gallery.UNTRAINED;
  page.galleryCard = null;
  if (page.vocab.gallery) page.vocab = { tokens: null, level: "char" };
  $("gallery-note").hidden = true;
}

$("gallery-untrained").addEventListener("click", () => $("weights-clear").click());
