// Plotly renderers for the training page: the loss curve (log axis, with the constant
// predictor's baseline), the held-out metric, and the gate heatmaps of a snapshot.
// They take plain arrays and know nothing of sockets. SVG traces only (no WebGL: CSP).

import { OKABE_ITO, fmt, heatmapSeries, scaleFor } from "./encodings.js";

// One colour and one dash per cell family, so the race reads without colour too.
export const RUN_STYLE = {
  lstm: { color: OKABE_ITO.blue, dash: "solid", name: "LSTM" },
  gru: { color: OKABE_ITO.green, dash: "dash", name: "GRU" },
  rnn: { color: OKABE_ITO.vermillion, dash: "dot", name: "RNN (tanh)" },
};

const FONT = { family: "system-ui, sans-serif", size: 15, color: "#1b2a3a" };
// On a phone Plotly's toolbar would sit over the legend: no toolbar there.
const narrow = () => globalThis.matchMedia?.("(max-width: 600px)").matches ?? false;
const config = () => ({ displaylogo: false, responsive: true, displayModeBar: narrow() ? false : "hover",
  modeBarButtonsToRemove: ["lasso2d", "select2d"] });

function baseLayout(yTitle, extra = {}) {
  return {
    font: FONT,
    margin: { l: 64, r: 12, t: 44, b: 48 },
    height: 290,
    xaxis: { title: { text: "training step" }, zeroline: false },
    yaxis: { title: { text: yTitle }, zeroline: false, automargin: true },
    legend: { orientation: "h", y: 1.0, yanchor: "bottom", x: 0 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#ffffff",
    ...extra,
  };
}

function lineTrace(run, ys) {
  const st = RUN_STYLE[run.cell];
  return {
    type: "scatter", mode: "lines", name: st.name, x: ys.map((p) => p[0]), y: ys.map((p) => p[1]),
    line: { color: st.color, dash: st.dash, width: 2.5 },
  };
}

function baselineTrace(value, xmax, name) {
  return {
    type: "scatter", mode: "lines", name, x: [0, xmax], y: [value, value], hoverinfo: "name+y",
    line: { color: OKABE_ITO.black, dash: "dash", width: 1.5 },
  };
}

// runs: [{cell, losses: [[step, loss]], evals: [[step, value]]}]; task: the start frame's task.
export function drawLoss(box, runs, task, totalSteps) {
  const data = runs.map((r) => lineTrace(r, r.losses));
  if (task) data.push(baselineTrace(task.baseline_loss, totalSteps, "constant predictor"));
  const yTitle = task && task.loss === "cross_entropy" ? "cross-entropy" : "mean squared error";
  const layout = baseLayout(yTitle, { yaxis: { title: { text: yTitle }, type: "log", automargin: true,
    ...decades(runs.flatMap((r) => r.losses.map((p) => p[1]))) },
    xaxis: { title: { text: "training step" }, range: [0, totalSteps] } });
  return Plotly.react(box, data, layout, config());
}

export function drawMetric(box, runs, task, totalSteps) {
  const name = task ? task.metric : "metric";
  const data = runs.map((r) => lineTrace(r, r.evals));
  if (task) data.push(baselineTrace(task.baseline_metric, totalSteps, "constant predictor"));
  const yaxis = {
    accuracy: { title: { text: "accuracy" }, range: [0, 1.02] },
    bpc: { title: { text: "bits per character" }, rangemode: "tozero" },
  }[name] || { title: { text: "MSE" }, type: "log", ...decades(runs.flatMap((r) => r.evals.map((p) => p[1]))) };
  yaxis.automargin = true;
  const layout = baseLayout(name, {
    yaxis,
    xaxis: { title: { text: "training step" }, range: [0, totalSteps] },
  });
  return Plotly.react(box, data, layout, config());
}

// A log axis over more than a decade labels each power of ten once (Plotly's own 2s and 5s pile
// up on a short chart); over less, Plotly's ticks stay.
function decades(values) {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  if (pos.length < 2) return {};
  const span = Math.log10(Math.max(...pos)) - Math.log10(Math.min(...pos));
  return span >= 1 ? { dtick: 1, exponentformat: "power" } : {};
}

// Rows (T x H) -> z (H x T): units down, time across.
function transpose(rows) {
  const H = rows.length ? rows[0].length : 0;
  const z = [];
  for (let j = 0; j < H; j += 1) z.push(rows.map((r) => r[j]));
  return z;
}

function maxAbs(rows) {
  let m = 0;
  for (const r of rows) for (const v of r) if (v !== null && Math.abs(v) > m) m = Math.abs(v);
  return m;
}

// The snapshot's gates, c and h for layer 0, one small heatmap each.
export function drawSnapshot(container, trace) {
  const layer = trace.layers[0];
  const series = [["x", "x  input", "signed"], ...heatmapSeries(trace.cell)];
  if (container.dataset.cell !== trace.cell) {
    container.replaceChildren();
    container.dataset.cell = trace.cell;
    for (const [key, title] of series) {
      const fig = document.createElement("figure");
      fig.className = "chart-fig";
      const cap = document.createElement("figcaption");
      cap.textContent = title;
      const box = document.createElement("div");
      box.className = "chart heat";
      box.dataset.key = key;
      fig.append(cap, box);
      container.appendChild(fig);
    }
  }
  return Promise.all(series.map(([key, , kind]) => {
    const rows = key === "x" ? trace.inputs : key === "c" ? layer.c : key === "h" ? layer.h : layer.gates[key];
    const box = container.querySelector(`[data-key="${key}"]`);
    const data = [{
      type: "heatmap", z: transpose(rows), ...scaleFor(kind, maxAbs(rows)),
      colorbar: { thickness: 12, len: 0.9, tickfont: { size: 12 } },
      hovertemplate: `t=%{x} unit=%{y}<br>${key}=%{z:.3f}<extra></extra>`,
    }];
    const layout = {
      font: { ...FONT, size: 13 }, margin: { l: 44, r: 8, t: 4, b: 28 },
      height: Math.min(220, 70 + Math.max(rows[0].length, 6) * 7),
      xaxis: { zeroline: false },
      yaxis: {
        autorange: "reversed", zeroline: false, title: { text: key === "x" ? "channel" : "unit" },
        dtick: rows[0].length <= 8 ? 1 : undefined,
      },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#ffffff",
    };
    return Plotly.react(box, data, layout, { ...config(), displayModeBar: false });
  }));
}

export function metricText(task, metric) {
  if (!task || !metric) return "";
  const v = metric[task.metric];
  if (task.metric === "accuracy") return `accuracy ${(100 * v).toFixed(1)} %`;
  if (task.metric === "bpc") return `${v.toFixed(2)} bits per character (counting letters: ${task.baseline_metric.toFixed(2)})`;
  return `MSE ${fmt(v, 3)}`;
}
