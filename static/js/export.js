// Client-side export: the trace as JSON or CSV, and any Plotly chart as PNG.

// The trace fields of the API answer (bookkeeping fields of a streamed trace are left out).
const TRACE_FIELDS = ["cell", "steps", "hidden_size", "num_layers", "input_size", "inputs", "alphabet", "loss", "layers", "nonfinite"];

export function traceJson(trace) {
  const out = {};
  for (const k of TRACE_FIELDS) if (trace[k] !== undefined) out[k] = trace[k];
  return JSON.stringify(out);
}

const cellOf = (rows, t, u) => {
  const v = rows && rows[t] ? rows[t][u] : null;
  return v === null || v === undefined ? "" : String(v);
};

// Long format: one row per (layer, step, unit) with every gate, state and gradient.
export function traceCsv(trace) {
  const gates = Object.keys(trace.layers[0]?.gates || {});
  const hasC = trace.layers[0]?.c != null;
  const cols = ["layer", "t", "unit", ...gates, ...(hasC ? ["c"] : []), "h", "grad_h", ...(hasC ? ["grad_c"] : [])];
  const lines = [cols.join(",")];
  trace.layers.forEach((layer, k) => {
    for (let t = 0; t < trace.steps; t += 1) {
      for (let u = 0; u < trace.hidden_size; u += 1) {
        const row = [k, t, u, ...gates.map((g) => cellOf(layer.gates[g], t, u))];
        if (hasC) row.push(cellOf(layer.c, t, u));
        row.push(cellOf(layer.h, t, u), cellOf(layer.grad_h, t, u));
        if (hasC) row.push(cellOf(layer.grad_c, t, u));
        lines.push(row.join(","));
      }
    }
  });
  return `${lines.join("\n")}\n`;
}

export function download(filename, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function downloadChartPng(gd, filename) {
  return globalThis.Plotly.downloadImage(gd, { format: "png", filename, scale: 2 });
}
