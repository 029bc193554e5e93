// A lesson's numbers on the page's own run: every quantity of the fixed vocabulary
// (app/lessons/vocab.py parses them; app/lessons/evaluate.py is the same evaluation on the
// API's answers), the number formats, the conditions and a question's computed answer.
// Pure functions of plain data, so node --test runs them.

// --- where the numbers come from ----------------------------------------------------------

// The page's data in one shape: {page, state, trace | answer | runs, refs}.
export function pageData(page, g = globalThis) {
  if (page === "step") {
    const x = g.lstmExplainer;
    if (!x || !x.trace) return null;
    const unit = x.state.unit === "mean" ? null : Number(x.state.unit);
    return { page, state: x.state, trace: x.trace, refs: { t: x.state.t, u: unit, T: x.trace.steps } };
  }
  if (page === "compare") {
    const x = g.lstmxLab;
    if (!x || !x.answer) return null;
    return { page, state: x.state, answer: x.answer, refs: { k: x.state.k, T: x.answer.steps } };
  }
  const x = g.lstmxTrain;
  if (!x) return null;
  const runs = {};
  for (const run of x.runs) runs[run.cell] = trainRun(run);
  return { page, state: x.settings, runs, baseline: x.task ? x.task.baseline_metric : null, refs: {} };
}

const last = (pairs) => (pairs && pairs.length ? pairs[pairs.length - 1][1] : null);

// What the training page shows of one run: the latest step, loss and held-out metric.
export function trainRun(run) {
  const step = run.card && run.card.dataset.step ? Number(run.card.dataset.step) : null;
  const metric = run.doneMetric ?? last(run.evals);
  return { step, loss: last(run.losses), metric: metric ?? null };
}

// --- quantities ---------------------------------------------------------------------------------

function index(a, data) {
  if (a.ref === null) return a.add;
  const base = data.refs[a.ref];
  return base === null || base === undefined ? null : base + a.add;
}

function get(rows, t, u) {
  if (!rows || t === null || t < 0 || t >= rows.length || !rows[t]) return null;
  const row = rows[t];
  if (u === null) return row.some((v) => v === null || v === undefined) ? null : row.reduce((s, v) => s + v, 0) / row.length;
  const v = row[u];
  return v === undefined ? null : v;
}

const mul = (a, b) => (a === null || b === null ? null : a * b);

function series(name, L, cell, t, u, H) {
  if (u === null) {
    let s = 0;
    for (let j = 0; j < H; j += 1) {
      const v = series(name, L, cell, t, j, H);
      if (v === null) return null;
      s += v;
    }
    return s / H;
  }
  if (t === null) return null;
  const g = L.gates || {};
  if (g[name]) return get(g[name], t, u);
  if (name === "c" || name === "h") return get(L[name], t, u);
  if (name === "dL/dh") return get(L.grad_h, t, u);
  if (name === "dL/dc") return get(L.grad_c, t, u);
  if (name === "tanh_c") {
    const c = get(L.c, t, u);
    return c === null ? null : Math.tanh(c);
  }
  const T = L.h.length;
  if (name === "kept" || name === "written") {
    if (t < 0 || t >= T) return null;
    if (cell === "lstm") {
      const cPrev = t > 0 ? get(L.c, t - 1, u) : 0;
      return name === "kept" ? mul(get(g.f, t, u), cPrev) : mul(get(g.i, t, u), get(g.g, t, u));
    }
    const hPrev = t > 0 ? get(L.h, t - 1, u) : 0;
    const z = get(g.z, t, u);
    return name === "kept" ? mul(z, hPrev) : mul(z === null ? null : 1 - z, get(g.n, t, u));
  }
  if (name === "dL/dc_belt") {
    if (t < 0 || t >= T) return null;
    return t === T - 1 ? 0 : mul(get(g.f, t + 1, u), get(L.grad_c, t + 1, u));
  }
  if (name === "dL/dc_out") {
    const c = get(L.c, t, u);
    const o = get(g.o, t, u);
    const dh = get(L.grad_h, t, u);
    return c === null || o === null || dh === null ? null : o * (1 - Math.tanh(c) ** 2) * dh;
  }
  return null;
}

// The units of the layer shown whose numbers these quantities read: a compact trace holds a
// unit's exact numbers only once the page has asked for them (step-exact.js need).
export function unitsRead(quantities, data) {
  if (!data || data.page !== "step") return [];
  const units = new Set();
  for (const q of quantities) {
    if (!q || (q.kind !== "series" && q.kind !== "reading") || q.name === "x") continue;
    const u = index(q.args[1], data);
    if (u !== null && u >= 0) units.add(u);
  }
  return [...units].sort((a, b) => a - b);
}

export function reading(v, lo, hi) {
  if (v === null || v === undefined || Number.isNaN(v)) return null;
  return v < lo ? "closed" : v > hi ? "open" : "partly open";
}

const pow10 = (v) => (v === null || v === undefined ? null : 10 ** v);
const at = (arr, i) => (!arr || i === null || i < 0 || i >= arr.length ? null : arr[i] ?? null);

function stepValue(q, data, args) {
  const { trace: tr, state } = data;
  const L = tr.layers[state.layer];
  if (!L) return null;
  const name = q.name;
  if (q.kind === "scalar") {
    const scalars = { loss: tr.loss, T: tr.steps, H: tr.hidden_size, t: state.t, u: data.refs.u, lo: state.lo, hi: state.hi };
    return scalars[name] ?? null;
  }
  const logs = name === "dL/dh" ? L.grad_h_log10_norm : L.grad_c_log10_norm;
  if (q.kind === "norm") return pow10(at(logs, args[0]));
  if (q.kind === "ratio") {
    const a = at(logs, args[0]);
    const b = at(logs, args[1]);
    return a === null || b === null ? null : 10 ** (a - b);
  }
  if (name === "x") return args[1] === null ? null : get(tr.inputs, args[0], args[1]);
  const v = series(name, L, tr.cell, args[0], args[1], tr.hidden_size);
  return q.kind === "reading" ? reading(v, state.lo, state.hi) : v;
}

const LAB_FIELDS = {
  "dL/dh": "grad_h_log10", "dL/dc": "grad_c_log10", belt: "belt_log10",
  factor: ["fit_h", "factor"], half_life: ["fit_h", "half_life"],
  factor_c: ["fit_c", "factor"], half_life_c: ["fit_c", "half_life"],
  hs: ["hochreiter", "typical"], hs_max: ["hochreiter", "max"],
  sigma: ["pascanu", "sigma_max"], f_half_life: ["forget_half_life", "median"],
};

function labValue(q, data, args) {
  const ans = data.answer;
  if (q.kind === "scalar") return { T: ans.steps, H: ans.hidden_size, k: data.state.k }[q.name] ?? null;
  const cell = ans.cells[q.cell];
  if (!cell) return null;
  const where = LAB_FIELDS[q.field];
  if (q.kind === "lab_curve") return pow10(at(cell[where], args[0]));
  return cell[where[0]]?.[where[1]] ?? null;
}

// One quantity's value: a number, a word, or null while the run does not have it (yet).
export function value(q, data) {
  if (q.kind === "number") return q.value;
  if (!data) return null;
  if (q.kind === "view") return data.state[q.name.slice(5)] ?? null;
  const args = q.args.map((a) => index(a, data));
  if (data.page === "step") return stepValue(q, data, args);
  if (data.page === "compare") return labValue(q, data, args);
  if (q.kind === "scalar") return data.baseline ?? null;
  return data.runs[q.cell]?.[q.field] ?? null;
}

// A condition: true, false, or null while a number is missing.
export function holds(cond, data) {
  const a = value(cond.a, data);
  const b = value(cond.b, data);
  if (typeof a !== "number" || typeof b !== "number") return null;
  switch (cond.op) {
    case "~=": return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
    case "<": return a < b;
    case "<=": return a <= b;
    case ">": return a > b;
    case ">=": return a >= b;
    default: return null;
  }
}

// The right choices for this run (a well-made question has exactly one), or null while unknown.
export function answer(question, data) {
  if (question.answer) {
    const word = value(question.answer, data);
    return word === null ? null : [word];
  }
  const verdicts = question.choices.map((c) => holds(c.when, data));
  if (verdicts.some((v) => v === null)) return null;
  return question.choices.filter((_, k) => verdicts[k]).map((c) => c.text);
}

// --- number formats ------------------------------------------------------------------------------

const MINUS = "\u2212";

// "1.75×10^−7": the panel writes the exponent as a superscript.
function power(v, n) {
  let e = Math.floor(Math.log10(Math.abs(v)));
  let m = (v / 10 ** e).toPrecision(n);
  if (Math.abs(Number(m)) >= 10) {
    e += 1;
    m = (v / 10 ** e).toPrecision(n);
  }
  return `${m}×10^${e}`;
}

export function formatValue(v, format) {
  if (v === null || v === undefined) return "…";
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "not a number" : v > 0 ? "∞" : `${MINUS}∞`;
  const { style, n } = format;
  let text;
  if (style === "percent") text = `${(100 * v).toFixed(n)}%`;
  else if (style === "decimals") text = v.toFixed(n);
  else if (v === 0) text = "0";
  else if (style === "power") text = power(v, n);
  else if (Number.isInteger(v) && Math.abs(v) < 1e6) text = String(v); // steps, units, sizes
  else {
    const a = Math.abs(v);
    if (a < 1e-3 || a >= 1e6) text = power(v, n);
    else if (a >= 10 ** n) text = String(Math.round(v));
    else text = v.toPrecision(n);
  }
  return text.replace(/-/g, MINUS);
}
