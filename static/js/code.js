// The Code panel: the reference implementation's forward and backward of the current cell
// (GET /api/reference/{cell}, the very lines the engine is tested against), each line that
// computes a recorded quantity showing its live value for the selected unit at step t. The
// line of the quantity in focus carries aria-current="true": in the forward pass the state the
// step produces, in the backward pass the gradient it carries back.
import { fmt } from "./encodings.js";
import { pick } from "./view.js";

// The line in focus per cell and pass.
export const FOCUS = {
  lstm: { forward: "c", backward: "grad_c" },
  gru: { forward: "h", backward: "grad_h" },
  rnn: { forward: "h", backward: "grad_h" },
};

// The value a line shows: one unit (or the mean) of its quantity at step t; gradients only
// once the backward pass has reached t (revealFrom), else null.
export function lineValue(trace, quantity, { t, unit, layer, revealFrom }) {
  const L = trace.layers[layer];
  if (!L) return null;
  if (quantity === "grad_h" || quantity === "grad_c") return t >= revealFrom ? pick(L[quantity]?.[t], unit) : null;
  const rows = quantity in L.gates ? L.gates[quantity] : L[quantity];
  return pick(rows?.[t], unit);
}

const cache = new Map(); // cell -> the route's answer (it never changes while the page lives)

async function fetchSource(cell) {
  if (!cache.has(cell)) {
    const response = await fetch(`/api/reference/${cell}`);
    if (!response.ok) throw new Error(`Could not load the reference code (${response.status}).`);
    cache.set(cell, await response.json());
  }
  return cache.get(cell);
}

function buildLines(phase, lines) {
  const list = document.createElement("ol");
  list.className = "code-lines";
  list.dataset.phase = phase;
  const rows = lines.map(({ n, text, quantity }) => {
    const li = document.createElement("li");
    if (quantity) li.dataset.quantity = quantity;
    const num = document.createElement("span");
    num.className = "code-n";
    num.textContent = String(n);
    num.setAttribute("aria-hidden", "true");
    const value = document.createElement("span");
    value.className = "code-value";
    const src = document.createElement("code");
    src.textContent = text;
    li.append(num, value, src);
    return li;
  });
  list.append(...rows);
  return list;
}

export function createCodePanel({ root, file, forwardButton, backwardButton }) {
  let cell = null;
  let phase = "forward";
  let chosen = null; // a pass picked by hand wins until the player changes direction
  const lists = {};

  const showPhase = () => {
    const shown = chosen || phase;
    for (const [p, list] of Object.entries(lists)) list.hidden = p !== shown;
    forwardButton.setAttribute("aria-pressed", String(shown === "forward"));
    backwardButton.setAttribute("aria-pressed", String(shown === "backward"));
    return shown;
  };
  forwardButton.addEventListener("click", () => { chosen = "forward"; panel.refresh(); });
  backwardButton.addEventListener("click", () => { chosen = "backward"; panel.refresh(); });

  let last = null; // the last (trace, where) shown, so a pass switch can redraw it
  const details = root.closest("details"); // a collapsed panel is not rewritten at each step
  details?.addEventListener("toggle", () => panel.refresh());
  const panel = {
    async load(newCell) {
      if (newCell === cell) return;
      cell = newCell;
      const source = await fetchSource(newCell);
      if (cell !== newCell) return; // another cell was asked for meanwhile
      file.textContent = source.file;
      lists.forward = buildLines("forward", source.forward.lines);
      lists.backward = buildLines("backward", source.backward.lines);
      root.replaceChildren(lists.forward, lists.backward);
      panel.refresh();
    },
    // The player's pass: "forward" or "backward"; a hand-picked pass gives way to it.
    setPhase(p) {
      if (p !== phase) chosen = null;
      phase = p;
    },
    update(trace, where) {
      last = { trace, where };
      if (details && !details.open) return;
      const shown = showPhase();
      const list = lists[shown];
      if (!list || !trace || trace.cell !== cell) return;
      const focus = FOCUS[cell][shown];
      for (const li of list.children) {
        const q = li.dataset.quantity;
        if (q) li.children[1].textContent = fmt(lineValue(trace, q, where), 4);
        if (q === focus) li.setAttribute("aria-current", "true");
        else li.removeAttribute("aria-current");
      }
    },
    refresh() {
      if (last) panel.update(last.trace, last.where);
      else showPhase();
    },
  };
  return panel;
}
