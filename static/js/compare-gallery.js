// Trained networks in the gradient lab. A model trained on the Train page arrives through
// sessionStorage (weights never go in a URL) when the link says trained=1. ?model=<slug> puts the gallery's trained weights into
// the lab's networks of that cell, and the same task's trained partner (the tanh RNN beside
// the LSTM, or the LSTM beside the RNN) into the other, so the lab compares trained networks
// on the input they were trained for. The GRU, which the gallery does not train, starts fresh.
import * as gallery from "./gallery.js";

const LAB_TASKS = ["latch", "adding"]; // the lab generates these inputs itself

// The lab's state for a card: its hidden size and its task's input (the card's example as
// one-hot rows when the lab cannot generate the task).
export function labState(card) {
  const s = { hidden: card.hidden_size, model: card.slug };
  if (LAB_TASKS.includes(card.task)) Object.assign(s, { kind: card.task, len: card.training?.length ?? 100 });
  else if (card.example?.sequence) Object.assign(s, { kind: "custom", seq: card.example.sequence.map((r) => r.join(" ")).join(";") });
  else {
    const alphabet = card.alphabet ?? "";
    const rows = [...card.example.text].map((ch) => [...alphabet].map((a) => (a === ch ? 1 : 0)).join(" "));
    Object.assign(s, { kind: "custom", seq: rows.join(";") });
  }
  return s;
}

// {slug, hidden, weights: {lstm?, rnn?}, titles}: the card's model and its partner's.
export async function trainedSet(slug) {
  const cards = await gallery.fetchCards();
  const card = cards.find((c) => c.slug === slug);
  if (!card) throw new Error(`There is no trained model “${slug}” in the gallery.`);
  const partner = cards.find((c) => c.task === card.task && c.cell !== card.cell && c.hidden_size === card.hidden_size && c.cell !== "gru");
  const picked = [card, partner].filter(Boolean);
  const models = await Promise.all(picked.map((c) => gallery.fetchModel(c.slug)));
  const weights = Object.fromEntries(picked.map((c, k) => [c.cell, models[k].weights]));
  return { slug, card, hidden: card.hidden_size, weights, titles: picked.map((c) => c.title) };
}

// Links to the lab with each task's trained LSTM and RNN.
export async function fillLinks(list) {
  const cards = await gallery.fetchCards();
  const lstm = cards.filter((c) => c.cell === "lstm" && cards.some((o) => o.task === c.task && o.cell === "rnn"));
  list.replaceChildren(...lstm.map((c) => {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = gallery.labUrl(c);
    a.textContent = `${c.title.split(":")[0]}: trained LSTM and tanh RNN`;
    li.append(a);
    return li;
  }));
}

// The model the Train page handed over, or null.
export function fromTrainPage() {
  if (new URLSearchParams(location.search).get("trained") !== "1") return null;
  try {
    return JSON.parse(sessionStorage.getItem("lstmx.trainedModel") || "null");
  } catch {
    return null;
  }
}
