// The equations of the cell with the live numbers of the selected unit at step t.
// Equations are declarative data (one row per line); "x_t" and "h_{t−1}" become subscripts.
import { COLOURS, fmt } from "./encodings.js";

// Parse "W_{hf} h_{t−1}" into text and <sub> nodes.
function math(parent, src) {
  const re = /([^_]*?)_(\{([^}]*)\}|(\S))/gy;
  let rest = src;
  let m;
  let last = 0;
  while ((m = re.exec(src)) !== null) {
    if (m[1]) parent.appendChild(document.createTextNode(m[1]));
    const sub = document.createElement("sub");
    sub.textContent = m[3] ?? m[4];
    parent.appendChild(sub);
    last = re.lastIndex;
  }
  rest = src.slice(last);
  if (rest) parent.appendChild(document.createTextNode(rest));
}

const p = (v) => fmt(v, 4);

// Rows for one cell family: [symbol (for colour), left side, definition, arithmetic, value].
function lstmRows(v, variant) {
  const peep = variant === "peephole";
  const rows = [
    ["i", "i_t", `σ(W_{ii} x_t + W_{hi} h_{t−1} + b_i${peep ? " + w_{ci}⊙c_{t−1}" : ""})`, null, v.i],
  ];
  if (variant === "no_forget_gate") rows.push(["f", "f_t", "1   (no forget gate)", null, 1]);
  else if (variant === "coupled") rows.push(["f", "f_t", "1 − i_t", null, v.f]);
  else rows.push(["f", "f_t", `σ(W_{if} x_t + W_{hf} h_{t−1} + b_f${peep ? " + w_{cf}⊙c_{t−1}" : ""})`, null, v.f]);
  rows.push(
    ["g", "g_t", "tanh(W_{ig} x_t + W_{hg} h_{t−1} + b_g)", null, v.g],
    ["o", "o_t", `σ(W_{io} x_t + W_{ho} h_{t−1} + b_o${peep ? " + w_{co}⊙c_t" : ""})`, null, v.o],
    ["c", "c_t", "f_t·c_{t−1} + i_t·g_t", v.mean ? null : `${p(v.f)}·${p(v.cPrev)} + ${p(v.i)}·${p(v.g)}`, v.c],
    ["h", "h_t", "o_t·tanh(c_t)", v.mean ? null : `${p(v.o)}·tanh(${p(v.c)})`, v.h],
  );
  return rows;
}

function gruRows(v) {
  return [
    ["r", "r_t", "σ(W_{ir} x_t + W_{hr} h_{t−1} + b_r)", null, v.r],
    ["z", "z_t", "σ(W_{iz} x_t + W_{hz} h_{t−1} + b_z)", null, v.z],
    ["n", "n_t", "tanh(W_{in} x_t + b_{in} + r_t⊙(W_{hn} h_{t−1} + b_{hn}))", null, v.n],
    ["h", "h_t", "(1 − z_t)·n_t + z_t·h_{t−1}", v.mean ? null : `(1 − ${p(v.z)})·${p(v.n)} + ${p(v.z)}·${p(v.hPrev)}`, v.h],
  ];
}

function rnnRows(v) {
  return [["h", "h_t", "tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t−1} + b_{hh})", null, v.h]];
}

function build(container, rows) {
  const list = document.createElement("dl");
  list.className = "eq-list";
  const parts = rows.map(([sym, lhs, def]) => {
    const dt = document.createElement("dt");
    dt.className = "eq-lhs";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.backgroundColor = COLOURS[sym];
    dt.appendChild(swatch);
    math(dt, lhs);
    const dd = document.createElement("dd");
    dd.className = "eq-rhs";
    const defSpan = document.createElement("span");
    defSpan.className = "eq-def";
    math(defSpan, `= ${def}`);
    const arith = document.createElement("span");
    arith.className = "eq-arith";
    const val = document.createElement("strong");
    val.className = "eq-val";
    dd.append(defSpan, arith, val);
    list.append(dt, dd);
    return { arith, val };
  });
  const note = document.createElement("p");
  note.className = "hint";
  container.replaceChildren(list, note);
  return { parts, note };
}

const built = new WeakMap(); // container -> {key, parts, note}

// values: {i, f, g, o | r, z, n, cPrev, c, hPrev, h, mean, unit} for one unit or means.
// The structure is built once per cell and variant; each step only rewrites the numbers.
export function render(container, cell, variant, values) {
  const forward = cell === "lstm" ? lstmRows(values, variant) : cell === "gru" ? gruRows(values) : rnnRows(values);
  const prev = values.prevStep ?? "t−1"; // a reverse direction comes from step t+1
  const rows = forward.map(([sym, lhs, def, ...rest]) => [sym, lhs, def.replaceAll("t−1", prev), ...rest]);
  const key = `${cell}/${variant}/${prev}`;
  let eq = built.get(container);
  if (!eq || eq.key !== key) {
    eq = { key, ...build(container, rows) };
    built.set(container, eq);
  }
  rows.forEach(([, , , arith, value], k) => {
    const { arith: a, val } = eq.parts[k];
    a.textContent = arith ? `= ${arith}` : "";
    a.hidden = !arith;
    val.textContent = `= ${fmt(value, 4)}`;
  });
  eq.note.textContent = values.mean
    ? "Showing the mean over all units; choose one unit to see the arithmetic."
    : cell === "rnn"
      ? `Unit ${values.unit}. Every unit is rewritten through tanh at every step.`
      : `Unit ${values.unit}. Products are element-wise (⊙): each unit has its own gates.`;
}
