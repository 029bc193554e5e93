// Tokens on the step page: typed text through a model's vocabulary (one token per character, or
// per word once a space ends it), whether a vocabulary fits a model, and what the ready-made
// "Find the unit" targets (which read characters) need. Pure functions: node --test checks them.

const UNKNOWN = ["<unk>", "<UNK>", "[UNK]"]; // as app/engine/formats/vocab.py

// The id of a token: its place in the vocabulary, else the vocabulary's <unk>, else -1.
export function tokenId(vocab, token) {
  const k = vocab.indexOf(token);
  if (k >= 0) return k;
  for (const u of UNKNOWN) if (vocab.includes(u)) return vocab.indexOf(u);
  return -1;
}

// A character vocabulary: every token one character, apart from markers such as <pad>, [UNK].
const MARKER = /^(<[^<>]+>|\[[^[\]]+\])$/;
export function isCharVocab(vocab) {
  return Array.isArray(vocab) && vocab.some((t) => [...t].length === 1)
    && vocab.every((t) => [...t].length === 1 || MARKER.test(t));
}

// The words of `rest` that a whitespace has ended, and how many characters they take (the
// whitespace included); a word still being typed waits.
export function completedWords(rest) {
  const words = [];
  let consumed = 0;
  for (let m; (m = rest.slice(consumed).match(/^\s*(\S+)\s/)); consumed += m[0].length) words.push(m[1]);
  return { words, consumed };
}

// The text up to its last whitespace: the words typed to the end.
export function completedText(text) {
  const m = text.match(/^[\s\S]*\s/);
  return m ? m[0] : "";
}

// Why a vocabulary does not fit a model (null when it does): a model with an embedding has one
// row per token, a model without one reads one-hot rows as wide as the vocabulary.
export function vocabMisfit(model, vocab) {
  if (!vocab || !model) return null;
  const V = model.embedding?.num_embeddings;
  if (V !== undefined) {
    return vocab.length > V ? `it has ${vocab.length} tokens, the model's embedding ${V} rows` : null;
  }
  if (model.input_size && model.input_size !== vocab.length) {
    return `it has ${vocab.length} tokens, the model reads ${model.input_size} inputs a step`;
  }
  return null;
}

// Token ids to run a model with an embedding through before its vocabulary is here.
export const placeholderTokens = (V, n = 24) => Array.from({ length: Math.min(V, n) }, (_, k) => k);

// Why the ready-made targets (inside quotes, bracket depth, position in the line) cannot read
// this run's input as characters, or null when they can.
export function targetsMisfit(trace, vocab, level) {
  if (!trace) return "run the model first";
  if (trace.alphabet) return null; // one-hot characters
  if (!Array.isArray(trace.tokens) && !trace.labels) return "they read text, and this input is numbers";
  if (!vocab) return "they read text: upload the model's vocabulary";
  if (level === "word" || !isCharVocab(vocab)) return "they read characters, and this vocabulary holds words";
  if (trace.labels?.some((label) => [...label].length !== 1)) return "the text has tokens that are not characters (such as <unk>)";
  return null;
}
