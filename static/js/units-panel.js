// "Find the unit": select a stretch of the input (drag over it, or Shift+arrows), or pick a
// ready-made target, and POST /api/units/search ranks the hidden units by how well they track
// it (LSTMVis' threshold matching; Karpathy et al.'s cells). Each result colours the input by
// that unit's activation, and choosing it selects the unit and layer on the whole page.
// The page hands in four functions: body() the trace request for what is shown, trace() the
// trace shown, select(layer, unit), and targetsMisfit() why the ready-made targets (which read
// characters) cannot read this input, or null.

import { formatDetail } from "./api.js";
import { activationColour, spanText, stepsOf, valueRows, valueText } from "./units-view.js";

const $ = (id) => document.getElementById(id);
const TOP = 5;

export function createUnitsPanel({ body, trace, select, targetsMisfit }) {
  const strip = $("unit-strip");
  const say = $("unit-selection");
  const results = $("unit-results");
  let sel = null; // {anchor, focus}: the selected steps are min..max, both included
  let dragging = false;
  let labels = []; // one label per step (a character, or the step number)

  function range() {
    if (!sel) return null;
    return [Math.min(sel.anchor, sel.focus), Math.max(sel.anchor, sel.focus) + 1];
  }

  function paintSelection() {
    const r = range();
    strip.querySelectorAll("span[data-t]").forEach((el) => {
      const t = Number(el.dataset.t);
      el.classList.toggle("picked", r !== null && t >= r[0] && t < r[1]);
      el.classList.toggle("cursor", sel !== null && t === sel.focus);
    });
    $("unit-find").disabled = r === null;
    say.textContent = r === null ? "Nothing selected." : `Selected ${spanText(labels, r)}.`;
  }

  // The input, one span per step; text is shown as its characters or tokens.
  function show(tr) {
    labels = stepsOf(tr);
    strip.classList.toggle("numeric", labels.every((label, t) => label === String(t)));
    strip.classList.toggle("words", labels.some((label) => label.length > 1));
    strip.replaceChildren(...labels.map((label, t) => {
      const el = document.createElement("span");
      el.dataset.t = String(t);
      el.textContent = label;
      return el;
    }));
    const why = targetsMisfit();
    for (const id of ["unit-quotes", "unit-depth", "unit-column"]) $(id).disabled = Boolean(why);
    $("unit-targets-why").textContent = why ? `The ready-made targets are off: ${why}.` : "";
    const field = $("unit-field");
    const fields = ["h", ...(tr.cell === "lstm" ? ["c"] : []), ...(tr.gates || Object.keys(tr.layers[0].gates))];
    if ([...field.options].map((o) => o.value).join() !== fields.join()) {
      field.replaceChildren(...fields.map((f) => new Option(f === "h" ? "h (hidden state)" : f === "c" ? "c (cell state)" : `${f} (gate)`, f)));
    }
    sel = null;
    results.replaceChildren();
    paintSelection();
  }

  async function search(target, what) {
    const tr = trace();
    if (!tr) return;
    $("unit-status").textContent = `Looking for units that track ${what}…`;
    results.replaceChildren();
    try {
      const request = { ...body(), target, field: $("unit-field").value, top: TOP };
      const r = await fetch("/api/units/search", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(request),
      });
      const answer = await r.json();
      if (!r.ok) throw new Error(formatDetail(answer.detail));
      showResults(tr, answer, what);
    } catch (err) {
      $("unit-status").textContent = `Could not search: ${err.message}`;
    }
  }

  function showResults(tr, answer, what) {
    const rows = answer.units;
    const score = answer.kind === "steps"
      ? `${answer.marked} of ${answer.steps} steps marked. Score: how well one threshold separates them from the rest (1 = perfectly, 0.5 = not at all)`
      : "Score: the size of the correlation r";
    $("unit-status").textContent = `The ${rows.length} units that best track ${what}. ${score}. Each input is coloured by the unit: orange above 0, blue below, stronger further from 0.`;
    results.replaceChildren(...rows.map((u) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "unit-pick";
      button.dataset.layer = String(u.layer);
      button.dataset.unit = String(u.unit);
      const how = answer.kind === "steps"
        ? `score ${u.score.toFixed(3)}: ${u.direction === "high" ? "above" : "below"} ${u.threshold.toFixed(2)} on the target (AUC ${u.auc.toFixed(3)})`
        : `r = ${u.r.toFixed(3)}`;
      button.textContent = `${u.field} · layer ${u.layer} · unit ${u.unit}: ${how}`;
      button.addEventListener("click", () => {
        results.querySelectorAll("button[aria-pressed]").forEach((b) => b.setAttribute("aria-pressed", "false"));
        button.setAttribute("aria-pressed", "true");
        select(u.layer, u.unit);
      });
      button.setAttribute("aria-pressed", "false");
      const line = document.createElement("div");
      line.className = "unit-text";
      line.setAttribute("aria-hidden", "true"); // the colours repeat the score for the eye
      const values = valueRows(tr, u.layer, u.field).map((row) => row[u.unit]);
      const scale = Math.max(1e-12, ...values.map((v) => Math.abs(v ?? 0)));
      line.replaceChildren(...labels.map((label, t) => {
        const el = document.createElement("span");
        el.textContent = label;
        el.style.backgroundColor = activationColour((values[t] ?? 0) / scale);
        el.title = `step ${t}: ${u.field} = ${valueText(tr, u.layer, values[t])}`;
        return el;
      }));
      li.append(button, line);
      return li;
    }));
  }

  // Selecting with the pointer: press on a step, drag over others, release.
  strip.addEventListener("pointerdown", (ev) => {
    const t = ev.target.closest("span[data-t]")?.dataset.t;
    if (t === undefined) return;
    ev.preventDefault();
    strip.focus();
    sel = ev.shiftKey && sel ? { anchor: sel.anchor, focus: Number(t) } : { anchor: Number(t), focus: Number(t) };
    dragging = true;
    paintSelection();
  });
  strip.addEventListener("pointerover", (ev) => {
    const t = ev.target.closest("span[data-t]")?.dataset.t;
    if (!dragging || t === undefined) return;
    sel.focus = Number(t);
    paintSelection();
  });
  window.addEventListener("pointerup", () => { dragging = false; });

  // ... and with the keyboard: arrows move, Shift+arrows extend, Enter searches. The keys stay
  // here: they do not also step the player.
  strip.addEventListener("keydown", (ev) => {
    const n = labels.length;
    if (!n) return;
    const moves = { ArrowLeft: -1, ArrowRight: 1, Home: -n, End: n };
    if (ev.key in moves) {
      const from = sel ? sel.focus : moves[ev.key] > 0 ? -1 : n; // no cursor yet: enter from a side
      const to = Math.max(0, Math.min(n - 1, from + moves[ev.key]));
      sel = ev.shiftKey && sel ? { anchor: sel.anchor, focus: to } : { anchor: to, focus: to };
    } else if (ev.key === "Enter" && range()) {
      $("unit-find").click();
    } else if (ev.key === "Escape") {
      sel = null;
    } else {
      return;
    }
    ev.preventDefault();
    ev.stopPropagation();
    paintSelection();
  });

  $("unit-find").addEventListener("click", () => {
    const r = range();
    if (r) search({ steps: [r] }, spanText(labels, r));
  });
  $("unit-quotes").addEventListener("click", () => search({ builtin: "inside_quotes" }, "the inside of quotes"));
  $("unit-depth").addEventListener("click", () => search({ builtin: "bracket_depth" }, "the bracket depth"));
  $("unit-column").addEventListener("click", () => search({ builtin: "line_position" }, "the position in the line"));

  return { show };
}
