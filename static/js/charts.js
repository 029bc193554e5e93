// Plotly charts: heatmaps (time x unit) of every gate and state, and the backward-pass chart of
// gradient norms per step. Data goes in with Plotly.react when the trace changes; the cursor is
// an overlay moved with CSS, so playing at 30 steps per second redraws no plot.
import { COLOURS, heatmapSeries, scaleFor, fmt } from "./encodings.js";

const Plotly = globalThis.Plotly;
const FONT = { family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size: 15, color: "#1b2a3a" };
const CONFIG = { displayModeBar: false, responsive: true, displaylogo: false, scrollZoom: false };

// (T, H) rows -> (H, T) so that time runs along x and units along y.
export function transpose(rows, H) {
  const out = Array.from({ length: H }, () => new Array(rows.length));
  rows.forEach((row, t) => {
    for (let u = 0; u < H; u += 1) out[u][t] = row ? row[u] : null;
  });
  return out;
}

export function maxAbs(rows) {
  let m = 0;
  for (const row of rows) for (const v of row || []) if (v !== null && Math.abs(v) > m) m = Math.abs(v);
  return m;
}

// Step labels: the typed characters when there are few enough to read, else step numbers.
function xAxis(steps, labels) {
  const axis = { title: { text: "step t" }, range: [-0.5, steps - 0.5], fixedrange: true, zeroline: false };
  if (labels && steps <= 40) {
    axis.tickvals = labels.map((_, t) => t);
    axis.ticktext = labels.map((ch) => (ch === " " ? "␣" : ch));
    axis.title.text = "input character";
  }
  return axis;
}

function makeCursor(box) {
  const x = document.createElement("div");
  x.className = "cursor-x";
  const y = document.createElement("div");
  y.className = "cursor-y";
  box.append(x, y);
  return { x, y };
}

// Place the overlay cursor at step t (and unit row, when given) using the plot's own geometry.
function placeCursor(gd, cursor, t, steps, unit, units) {
  const size = gd._fullLayout && gd._fullLayout._size;
  if (!size || steps < 1) return;
  const xpx = size.l + ((t + 0.5) / steps) * size.w;
  cursor.x.style.transform = `translateX(${xpx}px)`;
  cursor.x.style.top = `${size.t}px`;
  cursor.x.style.height = `${size.h}px`;
  cursor.x.hidden = false;
  if (unit === null || unit === undefined || !units) {
    cursor.y.hidden = true;
    return;
  }
  const ypx = size.t + ((unit + 0.5) / units) * size.h; // unit 0 at the top
  cursor.y.style.transform = `translateY(${ypx}px)`;
  cursor.y.style.left = `${size.l}px`;
  cursor.y.style.width = `${size.w}px`;
  cursor.y.hidden = false;
}

function chartBox(parent, id, title) {
  const fig = document.createElement("figure");
  fig.className = "chart-fig";
  const head = document.createElement("figcaption");
  head.className = "panel-head";
  const h = document.createElement("h3");
  h.textContent = title;
  const png = document.createElement("button");
  png.type = "button";
  png.className = "png";
  png.dataset.chart = id;
  png.textContent = "PNG";
  png.setAttribute("aria-label", `Download ${title} as PNG`);
  head.append(h, png);
  const box = document.createElement("div");
  box.className = "chart heat";
  box.id = id;
  fig.append(head, box);
  parent.appendChild(fig);
  return box;
}

// Heatmaps for one cell family. onPick(t, unit) when a cell is clicked.
export function createHeatmaps(container, cell, onPick) {
  container.replaceChildren();
  const charts = heatmapSeries(cell).map(([key, title, kind]) => {
    const box = chartBox(container, `heat-${key}`, title);
    return { key, kind, box, cursor: null, steps: 0, units: 0, t: 0, unit: null, bound: false };
  });
  return { charts, onPick };
}

export async function updateHeatmaps(hm, layer, steps, H, labels) {
  await Promise.all(
    hm.charts.map(async (ch) => {
      const rows = (ch.key === "c" ? layer.c : ch.key === "h" ? layer.h : layer.gates[ch.key]) || [];
      const data = [{
        type: "heatmap",
        z: transpose(rows.slice(0, steps), H),
        ...scaleFor(ch.kind, maxAbs(rows)),
        colorbar: { thickness: 14, len: 0.9, tickfont: { size: 13 } },
        hovertemplate: `t=%{x} unit=%{y}<br>${ch.key}=%{z:.4f}<extra></extra>`,
        xgap: steps <= 60 ? 1 : 0,
        ygap: H <= 32 ? 1 : 0,
      }];
      const layout = {
        font: FONT,
        margin: { l: 56, r: 12, t: 8, b: 52 },
        height: Math.min(320, 120 + H * 10),
        xaxis: xAxis(steps, labels),
        yaxis: { title: { text: "unit" }, autorange: "reversed", fixedrange: true, zeroline: false },
        paper_bgcolor: "rgba(0,0,0,0)",
        plot_bgcolor: "#ffffff",
      };
      await Plotly.react(ch.box, data, layout, CONFIG);
      ch.steps = steps;
      ch.units = H;
      if (!ch.cursor) ch.cursor = makeCursor(ch.box);
      if (!ch.bound) {
        ch.bound = true;
        ch.box.on("plotly_click", (ev) => {
          const pt = ev.points && ev.points[0];
          if (pt) hm.onPick(Math.round(pt.x), Math.round(pt.y));
        });
        ch.box.on("plotly_afterplot", () => placeCursor(ch.box, ch.cursor, ch.t, ch.steps, ch.unit, ch.units));
      }
    }),
  );
}

export function moveHeatmapCursor(hm, t, unit) {
  for (const ch of hm.charts) {
    ch.t = t;
    ch.unit = unit;
    if (ch.cursor) placeCursor(ch.box, ch.cursor, t, ch.steps, unit, ch.units);
  }
}

// --- the backward pass ------------------------------------------------------------------

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
  const layout = {
    font: FONT,
    margin: { l: 72, r: 16, t: 40, b: 52 },
    height: 260,
    xaxis: xAxis(steps, labels),
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
