// Live typing on the step page: each typed character (a model with an embedding: each token,
// a character or a word) is one more step of the open trace stream, and the backward pass is
// asked for again once typing pauses.
import * as api from "./api.js";
import { dom, page, saveUrl, showError, state } from "./step-context.js";
import { completedWords, tokenId } from "./tokens.js";

let backwardTimer = null;
export function sendBackward() {
  clearTimeout(backwardTimer);
  backwardTimer = setTimeout(() => {
    if (!page.socket || !page.trace || page.trace.steps === 0) return;
    api.clearGrads(page.trace);
    page.socket.send({ type: "backward" });
  }, 250);
}

// restart(): run the sequence over (step-run.js' run, passed in: this module sits below it).
export function liveTyped(text, restart) {
  const { live } = page;
  if (!live.ready || !text.startsWith(live.sent)) {
    restart(); // an edit that is not a plain append: start the sequence over
    return;
  }
  if (Array.isArray(page.trace.tokens)) {
    typedTokens(text);
  } else {
    const alphabet = page.trace.alphabet || "";
    let accepted = live.sent;
    for (const ch of text.slice(live.sent.length)) {
      const k = alphabet.indexOf(ch);
      if (k < 0) {
        showError(`“${ch}” is not in the live alphabet (${alphabet}); it was skipped.`);
        continue;
      }
      live.pendingX.push({ x: Array.from({ length: alphabet.length }, (_, j) => (j === k ? 1 : 0)) });
      page.socket.send({ type: "input", char: ch });
      accepted += ch;
    }
    live.sent = accepted;
    if (accepted !== text) dom.text.value = accepted; // the box shows what the network saw
    state.text = accepted;
  }
  saveUrl();
  sendBackward();
}

// A model with an embedding: one token id per character, or per word once a space ends it
// (the word being typed waits in the box). Tokens the vocabulary lacks (with no <unk>) are
// skipped, and the box shows what the network read.
function typedTokens(text) {
  const { live } = page;
  const vocab = page.vocab.tokens;
  const rest = text.slice(live.sent.length);
  const words = page.vocab.level === "word";
  const { words: pieces, consumed } = words ? completedWords(rest) : { words: [...rest], consumed: rest.length };
  let skipped = "";
  for (const token of pieces) {
    const id = tokenId(vocab, token);
    if (id < 0) {
      showError(`“${token}” is not in the vocabulary, which has no <unk> to stand for it; it was skipped.`);
      skipped += token;
      continue;
    }
    live.pendingX.push({ token: id, label: vocab[id] });
    page.socket.send({ type: "input", token: id });
  }
  live.sent = text.slice(0, live.sent.length + consumed);
  if (!words && skipped) {
    const kept = live.sent.split("").filter((ch) => !skipped.includes(ch)).join("");
    live.sent = kept;
    dom.text.value = kept;
  }
  state.text = words ? text : live.sent;
}
