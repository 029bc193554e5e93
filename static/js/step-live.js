// Live typing on the step page: each typed character is one more step of the open trace
// stream, and the backward pass is asked for again once typing pauses.
import * as api from "./api.js";
import { dom, page, saveUrl, showError, state } from "./step-context.js";

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
  const alphabet = page.trace.alphabet || "";
  let accepted = live.sent;
  for (const ch of text.slice(live.sent.length)) {
    const k = alphabet.indexOf(ch);
    if (k < 0) {
      showError(`“${ch}” is not in the live alphabet (${alphabet}); it was skipped.`);
      continue;
    }
    live.pendingX.push(Array.from({ length: alphabet.length }, (_, j) => (j === k ? 1 : 0)));
    page.socket.send({ type: "input", char: ch });
    accepted += ch;
  }
  live.sent = accepted;
  if (accepted !== text) dom.text.value = accepted; // the box shows what the network saw
  state.text = accepted;
  saveUrl();
  sendBackward();
}
