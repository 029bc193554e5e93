// The Predictions panel: at the step on show, what the model's readout says: a language model's
// five most probable next tokens (the one that came next marked), a classifier's class
// probabilities; and, for the next-token loss, how surprised the model was by each token, as
// a strip under the text. The numbers are the server's (softmax as torch computes it,
// app/api/predictions.py); this module only lays them out.
import { OKABE_ITO, fmt } from "./encodings.js";

const shown = (s) => (s === " " ? "␣ (space)" : s === "\n" ? "↵ (newline)" : s);
const MAX_CELLS = 1200; // strip cells; past that a cell stands for several tokens

// The rows to show at step t: {title, rows: [{label, p, next}], note} or null (no readout).
// tokenLabel(id) names a token (a vocabulary's, or an alphabet's character).
export function predictionRows(trace, t, tokenLabel) {
  const pred = trace?.predictions;
  if (!pred || !pred.ids?.length) return null;
  const final = pred.readout === "final";
  const row = final ? 0 : Math.min(t, pred.ids.length - 1);
  const ids = pred.ids[row];
  const p = pred.p[row];
  if (!ids || !p) return null;
  if (pred.kind === "next_token" && final) {
    const rows = ids.map((id, k) => ({ label: shown(tokenLabel(id)), p: p[k], next: false }));
    return { title: "After the whole text (read once, from h_n), the model expects next:", rows, note: "" };
  }
  if (pred.kind === "next_token") {
    const next = nextToken(trace, t);
    const rows = ids.map((id, k) => ({ label: shown(tokenLabel(id)), p: p[k], next: id === next }));
    const loss = trace.loss_steps?.[t];
    let note = t + 1 >= trace.steps ? "The text ends here: nothing came next yet." : "";
    if (next !== null && t + 1 < trace.steps) {
      const inTop = rows.some((r) => r.next);
      const surprise = loss === undefined || loss === null ? "" : `: −log p = ${fmt(loss, 3)}`;
      note = `Next came “${shown(tokenLabel(next))}”${inTop ? "" : ", not in the top five"}${surprise}.`;
    }
    const read = nextToken(trace, t - 1); // the token read at step t
    const after = read === null ? `After step ${t}` : `After “${shown(tokenLabel(read))}” (step ${t})`;
    return { title: `${after}, the model expects next:`, rows, note };
  }
  const rows = ids.map((id, k) => ({ label: `class ${id}`, p: p[k], next: false }));
  const title = final
    ? "Class probabilities, read once from h_n (after the whole sequence):"
    : `Class probabilities at step ${t}:`;
  return { title, rows, note: "" };
}

// The token read at step t+1 (null when unknown): a token id, or a one-hot row's index.
export function nextToken(trace, t) {
  if (Array.isArray(trace.tokens)) return trace.tokens[t + 1] ?? null;
  const x = trace.inputs?.[t + 1];
  const k = x ? x.indexOf(1) : -1;
  return k >= 0 ? k : null;
}

// One strip cell per token from the second on (token t+1 surprised the model by loss_steps[t]),
// k tokens a cell past MAX_CELLS: [{from, to, text, loss}] with loss the cell's mean.
export function surpriseCells(labels, lossSteps, maxCells = MAX_CELLS) {
  const n = lossSteps.length;
  const k = Math.max(1, Math.ceil(n / maxCells));
  const cells = [];
  for (let from = 0; from < n; from += k) {
    const to = Math.min(n, from + k);
    const losses = lossSteps.slice(from, to).filter((v) => v !== null);
    const text = labels.slice(from + 1, to + 1).join(labels.some((l) => l.length > 1) ? " " : "");
    cells.push({ from: from + 1, to, text, loss: losses.length ? losses.reduce((a, b) => a + b) / losses.length : null });
  }
  return cells;
}

// White to Okabe-Ito vermillion: one hue, darker = more surprised (reads without colour vision).
const HOT = [0xd5, 0x5e, 0x00];
export function surpriseColour(v) {
  const a = Math.max(0, Math.min(1, Number.isFinite(v) ? v : 0)) * 0.8; // dark text stays legible
  return `rgb(${HOT.map((c) => Math.round(255 + (c - 255) * a)).join(", ")})`;
}

export function createPredictionsPanel({ root, onPick }) {
  const title = root.querySelector("#pred-at");
  const list = root.querySelector("#pred-list");
  const note = root.querySelector("#pred-note");
  const stripBox = root.querySelector("#surprise");
  const strip = root.querySelector("#surprise-strip");
  const legend = root.querySelector("#surprise-legend");
  let drawnFor = null; // the loss_steps the strip was drawn from
  let cells = [];
  strip.addEventListener("click", (ev) => {
    const el = ev.target.closest("span[data-t]");
    if (el) onPick(Number(el.dataset.t));
  });
  // ... and with the keyboard: the box of the step on show is the strip's one tab stop; arrows,
  // Home and End go to another box (and the player there). The keys stay here: they do not
  // also step the player.
  strip.addEventListener("keydown", (ev) => {
    const el = ev.target.closest("span[data-t]");
    const k = el ? [...strip.children].indexOf(el) : -1;
    const moves = { ArrowLeft: k - 1, ArrowRight: k + 1, Home: 0, End: cells.length - 1 };
    if (k < 0 || !(ev.key in moves || ev.key === "Enter") || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    ev.preventDefault();
    ev.stopPropagation();
    const to = ev.key === "Enter" ? k : Math.max(0, Math.min(cells.length - 1, moves[ev.key]));
    onPick(Number(strip.children[to].dataset.t)); // show() moves the tab stop to that box
    strip.children[to].focus();
  });

  function bars(rows) {
    return rows.map(({ label, p, next }) => {
      const li = document.createElement("li");
      if (next) li.className = "next";
      const name = document.createElement("span");
      name.className = "pred-token";
      name.textContent = label;
      const bar = document.createElement("span");
      bar.className = "pred-bar";
      bar.setAttribute("aria-hidden", "true");
      const fill = document.createElement("span");
      fill.style.width = `${(100 * p).toFixed(1)}%`;
      fill.style.backgroundColor = OKABE_ITO.blue;
      bar.append(fill);
      const value = document.createElement("span");
      value.className = "pred-p";
      value.textContent = `${(100 * p).toFixed(1)}%${next ? " ✓ came next" : ""}`;
      li.append(name, bar, value);
      return li;
    });
  }

  function drawStrip(trace, labels) {
    const steps = trace.loss_steps;
    drawnFor = steps;
    const max = Math.max(1e-12, ...steps.filter((v) => v !== null));
    cells = surpriseCells(labels, steps);
    strip.replaceChildren(...cells.map((c) => {
      const el = document.createElement("span");
      el.dataset.t = String(c.from);
      el.textContent = c.text.replaceAll(" ", c.to > c.from ? " " : "␣").replaceAll("\n", "↵") || "·";
      el.style.backgroundColor = surpriseColour(c.loss / max);
      el.title = c.to > c.from
        ? `steps ${c.from}–${c.to}: mean −log p = ${fmt(c.loss, 3)}`
        : `step ${c.from} “${c.text}”: −log p = ${fmt(c.loss, 3)}`;
      el.setAttribute("role", "button");
      el.setAttribute("aria-label", el.title);
      el.tabIndex = -1;
      return el;
    }));
    legend.textContent = `Each token after the first, shaded by −log p, how surprised the model was to read it: white 0, darkest ${fmt(max, 3)} nats${cells.length < steps.length ? ` (a box is ${Math.ceil(steps.length / cells.length)} tokens)` : ""}. Click one, or Tab to the strip and use the arrow keys, to go there.`;
  }

  function show(trace, t, tokenLabel, labels) {
    const view = predictionRows(trace, t, tokenLabel);
    root.hidden = !trace || !trace.predictions;
    if (!view) {
      title.textContent = trace?.predictions ? "The predictions come once the run is in." : "";
      list.replaceChildren();
      note.textContent = "";
    } else {
      title.textContent = view.title;
      list.replaceChildren(...bars(view.rows));
      note.textContent = view.note;
    }
    const surprise = trace?.loss_kind === "next_token" && trace.loss_steps?.length > 0 && labels;
    stripBox.hidden = !surprise;
    if (surprise && drawnFor !== trace.loss_steps) drawStrip(trace, labels);
    if (surprise) {
      for (const el of strip.querySelectorAll(".now")) el.classList.remove("now");
      for (const el of strip.querySelectorAll("[tabindex='0']")) el.tabIndex = -1;
      const k = cells.findIndex((c) => t >= c.from && t <= c.to);
      if (k >= 0) strip.children[k].classList.add("now");
      if (strip.children.length) strip.children[Math.max(k, 0)].tabIndex = 0; // the tab stop
    }
  }
  return { show };
}
