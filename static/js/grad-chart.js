// The backward-pass chart: the gradient norms of one layer per step on a log scale, filled in
// from the last step back to the first as the gradients arrive.
import { COLOURS, fmt } from "./encodings.js";
import { CONFIG, FONT, Plotly, axisMargin, makeCursor, placeCursor, stepAxis } from "./chart-frame.js";

// Ticks for an axis of log10 values: powers of ten (at most about six), or 1-2-5 steps when
// the range spans under two decades. Labels are the norms themselves.
export function powerTicks(lo, hi) {
  if (hi - lo < 2) {
    const vals = [];
    for (let k = Math.floor(lo); k <= Math.ceil(hi); k += 1) {
      for (const m of [1, 2, 5]) {
        const v = k + Math.log10(m);
        if (v >= lo && v <= hi) vals.push(v);
      }
    }
    return { tickvals: vals, ticktext: vals.map((v) => String(Number((10 ** v).toPrecision(1)))) };
  }
  // a round stride (1, 2, 5, 10, 20, 50, ... decades) giving at most about six ticks
  const raw = Math.max(1, (hi - lo) / 6);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const stride = [1, 2, 5, 10].map((m) => m * mag).find((v) => v >= raw);
  const vals = [];
  for (let k = Math.floor(hi / stride) * stride; k >= lo; k -= stride) vals.push(k);
  return { tickvals: vals, ticktext: vals.map((k) => (k === 0 ? "1" : `10<sup>${k}</sup>`)) };
}

export function createGradChart(box) {
  return { box, cursor: null, steps: 0, t: 0, bound: false };
}

// Plot log10 norms (exact far below float range) for steps t >= revealFrom; earlier steps
// are still to come, so the line fills in from right to left.
export async function updateGradChart(gc, layer, steps, revealFrom, labels) {
  const xs = Array.from({ length: steps }, (_, t) => t);
  const shown = (arr) => xs.map((t) => (arr && t >= revealFrom && arr[t] !== undefined ? arr[t] : null));
  const series = [["grad_h", "‖∂L/∂h<sub>t</sub>‖", layer.grad_h_log10_norm]];
  if (layer.grad_c_log10_norm) series.push(["grad_c", "‖∂L/∂c<sub>t</sub>‖", layer.grad_c_log10_norm]);
  const data = series.map(([key, name, arr]) => ({
    type: "scatter",
    mode: steps <= 80 ? "lines+markers" : "lines",
    name,
    x: xs,
    y: shown(arr),
    line: { color: COLOURS[key], width: 3, dash: key === "grad_c" ? "dash" : "solid" },
    marker: { size: 7 },
    hovertemplate: `t=%{x}<br>${name} = 10^%{y:.3f}<extra></extra>`,
  }));
  const finite = series.flatMap(([, , arr]) => (arr || []).filter((v) => v !== null && Number.isFinite(v)));
  const lo = finite.length ? Math.min(...finite) : -3;
  const hi = finite.length ? Math.max(...finite) : 1;
  const pad = Math.max(0.25, (hi - lo) * 0.08);
  const xaxis = stepAxis(steps, labels, gc.box.clientWidth - 90); // less the margins
  const layout = {
    font: FONT,
    margin: { l: 72, r: 16, t: 40, b: axisMargin(xaxis) },
    height: 260 + axisMargin(xaxis) - 52,
    xaxis,
    yaxis: { title: { text: "norm (log scale)" }, range: [lo - pad, hi + pad], fixedrange: true, ...powerTicks(lo - pad, hi + pad) },
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 15 } },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#ffffff",
    showlegend: true,
  };
  await Plotly.react(gc.box, data, layout, CONFIG);
  gc.steps = steps;
  if (!gc.cursor) gc.cursor = makeCursor(gc.box);
  if (!gc.bound) {
    gc.bound = true;
    gc.box.on("plotly_afterplot", () => placeCursor(gc.box, gc.cursor, gc.t, gc.steps, null, 0));
  }
}

export function moveGradCursor(gc, t) {
  gc.t = t;
  if (gc.cursor) placeCursor(gc.box, gc.cursor, t, gc.steps, null, 0);
}

export function gradText(value) {
  return value === null || value === undefined ? "not yet" : `10^${fmt(value, 4)}`;
}
