// The gradient lab's chart: log10 ||dL/dh|| (and ||dL/dc||) against steps back k, for the three
// networks, on a linear axis of log10 values labelled as powers of ten (so 1e-600 plots as
// well as 1e-6; Plotly's own log axis stops at 1e-308). k = 0 (the last step) sits at the
// right, so the backward pass sweeps right to left, as time runs backwards.
// SVG scatter traces only (no WebGL: the Content-Security-Policy forbids eval).
import { OKABE_ITO } from "./encodings.js";

export const FONT = { family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size: 15, color: "#1b2a3a" };
const CONFIG = { displayModeBar: false, responsive: true, displaylogo: false, scrollZoom: false };

export const NETWORKS = {
  rnn: { name: "tanh RNN", colour: OKABE_ITO.vermillion },
  lstm: { name: "LSTM", colour: OKABE_ITO.blue },
  gru: { name: "GRU", colour: OKABE_ITO.green },
};

// Every curve: [key, cell, answer field, legend name, colour, dash, width]. Colour and dash
// both differ, so the plot reads in greyscale too.
export const CURVES = [
  ["rnn_h", "rnn", "grad_h_log10", "RNN ‖∂L/∂h‖", OKABE_ITO.vermillion, "solid", 3],
  ["lstm_h", "lstm", "grad_h_log10", "LSTM ‖∂L/∂h‖", OKABE_ITO.blue, "dash", 3],
  ["lstm_c", "lstm", "grad_c_log10", "LSTM ‖∂L/∂c‖", OKABE_ITO.skyBlue, "longdash", 4],
  ["lstm_belt", "lstm", "belt_log10", "LSTM Πf along the belt", OKABE_ITO.black, "dot", 2],
  ["gru_h", "gru", "grad_h_log10", "GRU ‖∂L/∂h‖", OKABE_ITO.green, "dashdot", 3],
];

// The curves present in an answer: {key, cell, field, name, colour, dash, width, y}.
export function curveSeries(answer) {
  const out = [];
  for (const [key, cell, field, name, colour, dash, width] of CURVES) {
    const y = answer.cells?.[cell]?.[field];
    if (y) out.push({ key, cell, field, name, colour, dash, width, y });
  }
  return out;
}

// Ticks on an axis of log10 values, at multiples of a round number of decades (0 included),
// labelled as powers of ten: 1, 10^-20, 10^-40, ... Under two decades: 1-2-5 steps.
export function decadeTicks(lo, hi, most = 7) {
  if (hi - lo < 2) {
    const vals = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e += 1) {
      for (const m of [1, 2, 5]) {
        const v = e + Math.log10(m);
        if (v >= lo && v <= hi) vals.push(v);
      }
    }
    return { tickvals: vals, ticktext: vals.map((v) => String(Number((10 ** v).toPrecision(1)))) };
  }
  const steps = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000];
  const stride = steps.find((s) => (hi - lo) / s <= most - 1) || 10 ** Math.ceil(Math.log10(hi - lo));
  const vals = [];
  for (let e = Math.ceil(lo / stride) * stride; e <= hi; e += stride) vals.push(e);
  const text = (e) => (e === 0 ? "1" : e === 1 ? "10" : `10<sup>${e}</sup>`.replace("-", "\u2212"));
  return { tickvals: vals, ticktext: vals.map(text) };
}

export function yRange(series) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series) {
    for (const v of s.y) {
      if (v === null || !Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (!Number.isFinite(lo)) return [-1, 1];
  lo = Math.min(lo, 0);
  hi = Math.max(hi, 0);
  const pad = Math.max(0.25, (hi - lo) * 0.06);
  return [lo - pad, hi + pad];
}

const LIMIT_TEXT = {
  "float32:subnormal": "float32 flushes to 0",
  "float64:subnormal": "float64 flushes to 0",
  "float32:overflow": "float32 overflows",
  "float64:overflow": "float64 overflows",
};

// Horizontal lines where a plain float run of ||dL/dh|| would have flushed to zero or
// overflowed, in the plot's normalised units (the h curves share one scale at k = 0: with the
// default loss dL/dh_{T-1} is all ones for every cell).
export function limitLines(answer, range) {
  const first = Object.values(answer.cells || {})[0];
  if (!first) return [];
  const offset = first.grad_h_log10_end;
  const lines = [];
  for (const [dtype, lim] of Object.entries(answer.float_limits || {})) {
    for (const which of ["subnormal", "overflow"]) {
      const y = lim[which] - offset;
      if (y > range[0] && y < range[1]) lines.push({ y, text: LIMIT_TEXT[`${dtype}:${which}`] });
    }
  }
  return lines;
}

// width: the chart's in pixels; a phone's gets the axis title without its aside.
export function figure(answer, width = Infinity) {
  const series = curveSeries(answer);
  const T = answer.steps;
  const ks = Array.from({ length: T }, (_, k) => k);
  const mode = T <= 60 ? "lines+markers" : "lines";
  const data = series.map((s) => ({
    type: "scatter",
    mode,
    name: s.name,
    x: ks,
    y: s.y,
    line: { color: s.colour, width: s.width, dash: s.dash },
    marker: { size: 6 },
    hovertemplate: `k=%{x}<br>${s.name} = 10^%{y:.3f}<extra></extra>`,
  }));
  const range = yRange(series);
  const lines = limitLines(answer, range);
  const layout = {
    font: FONT,
    margin: { l: 78, r: 16, t: 12, b: 56 },
    height: 400,
    xaxis: {
      title: {
        text: width < 600 ? "steps back, k = T−1−t"
          : "steps back from the end, k = T−1−t   (the backward pass runs right to left)",
      },
      range: [T - 1 + 0.5, -0.5], // reversed: k = 0 at the right
      fixedrange: true,
      zeroline: false,
    },
    yaxis: {
      title: { text: width < 600 ? "norm ÷ norm at k = 0" : "gradient norm ÷ norm at k = 0" },
      automargin: true, // the title is never clipped, however wide the tick labels
      range,
      fixedrange: true,
      zeroline: false,
      ...decadeTicks(range[0], range[1]),
    },
    shapes: lines.map((l) => ({
      type: "line", xref: "paper", x0: 0, x1: 1, y0: l.y, y1: l.y,
      line: { color: "#6b7785", width: 1.5, dash: "dot" },
    })),
    annotations: lines.map((l) => ({
      xref: "paper", x: 0.01, xanchor: "left", y: l.y, yanchor: "bottom", text: l.text,
      showarrow: false, font: { size: 13, color: "#4a5a6a" },
    })),
    legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom", font: { size: 15 } },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#ffffff",
    showlegend: true,
  };
  return { data, layout };
}

// One row per step back k; log10 values (empty where the norm is exactly 0).
export function curvesCsv(answer) {
  const series = curveSeries(answer);
  const T = answer.steps;
  const lines = [["k", "t", ...series.map((s) => `${s.key}_log10`)].join(",")];
  for (let k = 0; k < T; k += 1) {
    const row = [k, T - 1 - k, ...series.map((s) => (s.y[k] === null ? "" : String(s.y[k])))];
    lines.push(row.join(","));
  }
  return `${lines.join("\n")}\n`;
}

// --- drawing and the cursor ----------------------------------------------------------------

export function createChart(box) {
  const shade = document.createElement("div");
  shade.className = "lab-shade"; // covers steps the backward pass has not reached yet
  const cursor = document.createElement("div");
  cursor.className = "lab-cursor";
  box.append(shade, cursor);
  const chart = { box, shade, cursor, steps: 0, k: 0, bound: false };
  return chart;
}

export async function drawChart(chart, answer) {
  const { data, layout } = figure(answer, chart.box.clientWidth || Infinity);
  await globalThis.Plotly.react(chart.box, data, layout, CONFIG);
  chart.steps = answer.steps;
  if (!chart.bound) {
    chart.bound = true;
    chart.box.on("plotly_afterplot", () => placeCursor(chart));
  }
  placeCursor(chart);
}

// Put the cursor at step back k; everything further back (to its left) is shaded.
export function moveCursor(chart, k) {
  chart.k = k;
  placeCursor(chart);
}

function placeCursor(chart) {
  const size = chart.box._fullLayout && chart.box._fullLayout._size;
  if (!size || chart.steps < 1) return;
  const T = chart.steps;
  // x axis runs from k = T-0.5 (left) to k = -0.5 (right)
  const xpx = size.l + ((T - 0.5 - chart.k) / T) * size.w;
  chart.cursor.style.transform = `translateX(${xpx}px)`;
  chart.cursor.style.top = `${size.t}px`;
  chart.cursor.style.height = `${size.h}px`;
  chart.shade.style.left = `${size.l}px`;
  chart.shade.style.top = `${size.t}px`;
  chart.shade.style.height = `${size.h}px`;
  chart.shade.style.width = `${Math.max(0, xpx - size.l)}px`;
}
