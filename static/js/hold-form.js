// The "Hold a gate" controls of the step page: one "Hold f…" button per gate opens a small
// form (value, steps, units); holds are listed with a Remove button. Clicking a gate on the
// diagram opens the same form. The holds themselves live in the URL (holds.js); this module
// only edits that list and hands it to onChange.
import { setGateWord } from "./cell.js";
import { NAMES } from "./encodings.js";
import { describeHold, formatHolds, heldAt, lowest, MAX_HOLDS, parseHolds } from "./holds.js";

const $ = (id) => document.getElementById(id);

// ctx() -> {cell, gates, t, unit, layer, layers, steps}; onChange(holdText) after an edit.
export function createHoldControls({ ctx, onChange, diagram }) {
  const dom = {
    buttons: $("hold-buttons"), form: $("hold-form"), list: $("hold-list"), gateName: $("hold-gate-name"),
    custom: $("hold-custom"), from: $("hold-from"), to: $("hold-to"), t: $("hold-t"), unit: $("hold-unit"),
    error: $("hold-form-error"), section: $("holds"),
  };
  let holds = [];
  let gate = null;
  let opener = null; // the button that opened the form gets the focus back

  const radio = (name) => dom.form.querySelector(`input[name="${name}"]:checked`).value;
  const check = (name, value) => {
    dom.form.querySelector(`input[name="${name}"][value="${value}"]`).checked = true;
  };

  function open(g, from) {
    const c = ctx();
    gate = g;
    opener = from || dom.buttons.querySelector(`[data-hold="${g}"]`);
    dom.gateName.textContent = `${g} (${NAMES[g]})`;
    dom.custom.min = String(lowest(g));
    dom.t.textContent = String(c.t);
    dom.from.value = String(c.t);
    dom.to.value = String(Math.min(c.steps - 1, c.t + 4));
    dom.from.max = dom.to.max = String(Math.max(0, c.steps - 1));
    const mean = c.unit === "mean";
    dom.unit.textContent = mean ? "this unit (pick one under Unit)" : `unit ${c.unit}`;
    dom.form.querySelector('input[name="hold-units"][value="this"]').disabled = mean;
    check("hold-units", mean ? "all" : "this");
    dom.error.textContent = "";
    dom.form.hidden = false;
    for (const b of dom.buttons.children) b.setAttribute("aria-expanded", String(b.dataset.hold === g));
    dom.form.querySelector('input[name="hold-value"]:checked').focus();
  }

  function close() {
    dom.form.hidden = true;
    gate = null;
    for (const b of dom.buttons.children) b.setAttribute("aria-expanded", "false");
    if (opener && opener.isConnected) opener.focus();
  }

  function read() {
    const c = ctx();
    const kind = radio("hold-value");
    // closed is 0 for every gate: a tanh candidate held at 0 writes nothing, as a shut gate
    const value = kind === "custom" ? Number(dom.custom.value) : kind === "0" ? 0 : 1;
    if ((kind === "custom" && dom.custom.value.trim() === "") || !(value >= lowest(gate) && value <= 1)) {
      throw new Error(`The held value of ${gate} must lie between ${lowest(gate)} and 1.`);
    }
    let from = null;
    let to = null;
    const steps = radio("hold-steps");
    if (steps === "this") from = to = c.t;
    if (steps === "range") {
      [from, to] = [Number(dom.from.value), Number(dom.to.value)];
      const ok = (v) => Number.isInteger(v) && v >= 0 && v < c.steps;
      if (!ok(from) || !ok(to) || to < from) {
        throw new Error(`Steps: type a first and a last step between 0 and ${c.steps - 1}, first ≤ last.`);
      }
    }
    const unit = radio("hold-units") === "this" ? Number(c.unit) : null;
    return { gate, value, from, to, unit, layer: c.layer };
  }

  dom.form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    let hold;
    try {
      hold = read();
    } catch (err) {
      dom.error.textContent = err.message;
      return;
    }
    if (holds.length >= MAX_HOLDS) {
      dom.error.textContent = `At most ${MAX_HOLDS} holds: remove one first.`;
      return;
    }
    const text = formatHolds([...holds, hold]);
    close();
    onChange(text);
  });
  $("hold-cancel").addEventListener("click", close);
  dom.form.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      ev.preventDefault();
      close();
    }
  });
  // Typing a value or a step picks its option (focus alone does not: Tab passes through).
  dom.custom.addEventListener("input", () => check("hold-value", "custom"));
  for (const input of [dom.from, dom.to]) input.addEventListener("input", () => check("hold-steps", "range"));
  dom.buttons.addEventListener("click", (ev) => {
    const btn = ev.target.closest("button[data-hold]");
    if (btn) open(btn.dataset.hold, btn);
  });
  // A click on a gate of the diagram opens its form (the buttons are the keyboard's way).
  diagram.addEventListener("click", (ev) => {
    const g = ev.target.closest("[data-gate]");
    if (g && ctx().gates.includes(g.dataset.gate)) open(g.dataset.gate);
  });
  dom.list.addEventListener("click", (ev) => {
    const btn = ev.target.closest("button[data-remove]");
    if (!btn) return;
    const k = Number(btn.dataset.remove);
    const rest = holds.filter((_, j) => j !== k);
    onChange(formatHolds(rest));
    // keep the focus in the list (or on the first Hold button when it empties)
    requestAnimationFrame(() => (dom.list.querySelector("button") || dom.buttons.querySelector("button"))?.focus());
  });

  return {
    // A new cell: one Hold button per gate (none for the tanh RNN, which has no gates).
    setGates(gates) {
      dom.section.hidden = gates.length === 0;
      dom.buttons.replaceChildren(...gates.map((g) => {
        const b = document.createElement("button");
        b.type = "button";
        b.dataset.hold = g;
        b.setAttribute("aria-controls", "hold-form");
        b.setAttribute("aria-expanded", "false");
        b.textContent = `Hold ${g}…`;
        b.title = `Hold the ${NAMES[g]}`;
        return b;
      }));
      if (gate && !gates.includes(gate)) close();
    },
    // The holds of the URL; `applies(h)` says whether one fits the model being shown.
    setHolds(text, applies) {
      holds = parseHolds(text);
      const layers = ctx().layers;
      dom.list.replaceChildren(...holds.map((h, k) => {
        const li = document.createElement("li");
        const words = document.createElement("span");
        words.textContent = describeHold(h, layers) + (applies(h) ? "" : " (not in this model or run)");
        const b = document.createElement("button");
        b.type = "button";
        b.dataset.remove = String(k);
        b.textContent = "Remove";
        b.setAttribute("aria-label", `Remove hold ${describeHold(h, layers)}`);
        li.append(words, b);
        return li;
      }));
    },
    // data-held="true" on each [data-gate] held at step t for the unit shown.
    mark(container, where) {
      for (const g of container.querySelectorAll("[data-gate]")) {
        if (!heldAt(holds, { ...where, gate: g.dataset.gate })) {
          g.removeAttribute("data-held");
          continue;
        }
        g.setAttribute("data-held", "true");
        const word = g.querySelector(".gate-word"); // the diagram rewrites it every step
        const was = word?.dataset.word ?? "";
        if (word && !was.endsWith("held")) setGateWord(word, was ? `${was} · held` : "held");
      }
    },
  };
}
