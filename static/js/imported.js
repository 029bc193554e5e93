// Models from the wild on the step page: uploads that may need a question answered (tanh or
// ReLU), a vocabulary, and the layout of a trace whose layers have their own widths and, when
// bidirectional, two directions each. Pure functions apart from the two fetches, so node --test
// can check them.

// The fields of a model object /api/trace takes (an upload's answer may carry more).
export const MODEL_FIELDS = [
  "cell", "input_size", "hidden_size", "num_layers", "variant", "output_size", "init", "weights",
  "bidirectional", "proj_size", "nonlinearity", "embedding", "readout",
];

export function modelFields(model) {
  return Object.fromEntries(MODEL_FIELDS.filter((k) => model[k] !== undefined).map((k) => [k, model[k]]));
}

export class NeedsNonlinearity extends Error {}
export class NeedsReadout extends Error {}

async function detailOf(response) {
  try {
    const body = await response.json();
    const first = Array.isArray(body.detail) ? body.detail[0] : null;
    return { loc: first?.loc ?? [], msg: first?.msg ?? String(body.detail) };
  } catch {
    return { loc: [], msg: `${response.status} ${response.statusText}` };
  }
}

// POST /api/weights; a plain RNN's file cannot say tanh or relu, nor a bidirectional state_dict
// what its head reads: the server is asked to say so ("ask" answers {needs: ...}), and
// NeedsNonlinearity or NeedsReadout is thrown.
export async function uploadModel(file, nonlinearity = "", readout = "") {
  const form = new FormData();
  form.append("file", file);
  form.append("nonlinearity", nonlinearity || "ask");
  form.append("readout", readout || "ask");
  const response = await fetch("/api/weights", { method: "POST", body: form });
  if (!response.ok) throw new Error((await detailOf(response)).msg);
  const answer = await response.json();
  if (answer.needs === "nonlinearity") throw new NeedsNonlinearity(answer.detail);
  if (answer.needs === "readout") throw new NeedsReadout(answer.detail);
  return answer;
}

// POST /api/vocab: the tokens of a vocabulary file, in id order.
export async function uploadVocab(file) {
  const form = new FormData();
  form.append("file", file);
  const response = await fetch("/api/vocab", { method: "POST", body: form });
  if (!response.ok) throw new Error((await detailOf(response)).msg);
  return (await response.json()).vocab;
}

// Text through a vocabulary, when the model reads tokens or a vocabulary was given. A model
// with an embedding has learnt one row per token of its own vocabulary: without that list
// the text cannot be turned into its ids (a made-up alphabet would give meaningless rows).
export function textInput(input, model, vocab, level) {
  if (input.text === undefined || (!vocab && !model?.embedding)) return input;
  if (!vocab) {
    throw new Error("This model reads tokens through its embedding: upload its vocabulary (the tokens in id order) to type text.");
  }
  return { text: input.text, vocab, level };
}

// --- the layout of a trace: entries [l0, (l0 reverse), l1, ...] -----------------------------

export function directionsOf(trace) {
  return trace?.bidirectional ? ["forward", "reverse"] : ["forward"];
}

export function entryIndex(trace, layer, direction) {
  return trace?.bidirectional ? 2 * layer + (direction === "reverse" ? 1 : 0) : layer;
}

export function entryParts(trace, index) {
  if (!trace?.bidirectional) return { layer: index, direction: "forward" };
  return { layer: Math.floor(index / 2), direction: index % 2 ? "reverse" : "forward" };
}

// H_k of the layer an entry belongs to (hidden_size is one width or one per layer).
export function widthOf(trace, index) {
  const H = trace.hidden_size;
  return Array.isArray(H) ? H[entryParts(trace, index).layer] : H;
}

// The input of each step as a person reads it: the token, when the model reads tokens or the
// text went through a vocabulary; null otherwise (the caller then shows the numbers).
export function tokenLabels(trace, vocab) {
  if (Array.isArray(trace.tokens)) return trace.tokens.map((k) => vocab?.[k] ?? `#${k}`);
  if (!vocab || trace.input_size !== vocab.length) return null;
  return trace.inputs.map((x) => (x ? vocab[x.indexOf(1)] ?? "?" : "?"));
}

export function layerName(trace, index) {
  const { layer, direction } = entryParts(trace, index);
  const H = widthOf(trace, index);
  return trace.bidirectional ? `layer ${layer} ${direction} (${H} units)` : `layer ${layer} (${H} units)`;
}

// One line a practitioner can check against what they trained: "LSTM, 2 layers of 64 and 32
// units, bidirectional, reading token ids through an embedding (1000 tokens × 16), 10 outputs".
const CELL_NAMES = { lstm: "LSTM", gru: "GRU" };
export function describeModel(model) {
  const cell = CELL_NAMES[model.cell] ?? (model.nonlinearity === "relu" ? "ReLU RNN" : "tanh RNN");
  const variant = model.cell === "lstm" && model.variant && model.variant !== "standard" ? ` (${model.variant.replaceAll("_", " ")})` : "";
  const layers = model.num_layers ?? 1;
  const widths = Array.isArray(model.hidden_size) ? model.hidden_size : [model.hidden_size];
  const units = new Set(widths).size === 1 ? `${widths[0]}` : `${widths.slice(0, -1).join(", ")} and ${widths.at(-1)}`;
  const parts = [`${cell}${variant}`, `${layers} layer${layers === 1 ? "" : "s"} of ${units} units`];
  if (model.bidirectional) parts.push("bidirectional");
  if (model.proj_size) parts.push(`projected to ${model.proj_size}`);
  const emb = model.embedding;
  if (emb) parts.push(`reading token ids through an embedding (${emb.num_embeddings} tokens × ${emb.embedding_dim})`);
  else if (model.input_size) parts.push(`${model.input_size} input${model.input_size === 1 ? "" : "s"}`);
  if (model.output_size) parts.push(`${model.output_size} output${model.output_size === 1 ? "" : "s"}`);
  return parts.join(", ");
}
