// The heatmaps (time x unit) of every gate and state. Data goes in with Plotly.react when the
// trace changes; the step cursor is chart-frame.js' overlay. A focused heatmap also has a
// keyboard cursor, one cell, that arrow keys move and Enter jumps to. (The backward pass's
// chart: grad-chart.js.)
import { CONFIG, FONT, Plotly, axisMargin, makeCursor, placeCursor, stepAxis } from "./chart-frame.js";
import { NAMES, heatmapSeries, scaleFor, fmt } from "./encodings.js";

// (T, H) rows -> (H, T) so that time runs along x and units along y.
export function transpose(rows, H) {
  const out = Array.from({ length: H }, () => new Array(rows.length));
  rows.forEach((row, t) => {
    for (let u = 0; u < H; u += 1) out[u][t] = row ? row[u] : null;
  });
  return out;
}

// Past MAX_COLUMNS steps (more than a plot has pixels) a heatmap column is the mean of k
// consecutive steps, at x = the middle of those steps: drawing 10,000 x 64 bricks per map held
// the page for seconds. The keyboard cursor and the screen-reader text keep every step.
export const MAX_COLUMNS = 1500;
export function binSteps(rows, steps, H, maxColumns = MAX_COLUMNS) {
  if (steps <= maxColumns) return { x: undefined, z: transpose(rows.slice(0, steps), H), k: 1 };
  const k = Math.ceil(steps / maxColumns);
  const columns = Math.ceil(steps / k);
  const z = Array.from({ length: H }, () => new Array(columns).fill(null));
  const x = new Array(columns);
  for (let j = 0; j < columns; j += 1) {
    const from = j * k;
    const to = Math.min(from + k, steps);
    x[j] = (from + to - 1) / 2;
    for (let u = 0; u < H; u += 1) {
      let sum = 0;
      let n = 0;
      for (let t = from; t < to; t += 1) {
        const v = rows[t] ? rows[t][u] : null;
        if (v !== null && v !== undefined) {
          sum += v;
          n += 1;
        }
      }
      z[u][j] = n ? sum / n : null;
    }
  }
  return { x, z, k };
}

export function maxAbs(rows) {
  let m = 0;
  for (const row of rows) for (const v of row || []) if (v !== null && Math.abs(v) > m) m = Math.abs(v);
  return m;
}

function chartBox(parent, id, title, key) {
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
  // A slider to assistive technology: screen readers pass the arrow keys through to it and
  // read its aria-valuetext (the cell under the keyboard cursor) each time that changes.
  box.tabIndex = 0;
  box.setAttribute("role", "slider");
  box.setAttribute("aria-label", heatmapLabel(key));
  for (const name of ["aria-valuemin", "aria-valuemax", "aria-valuenow"]) box.setAttribute(name, "0");
  fig.append(head, box);
  parent.appendChild(fig);
  return box;
}

export function heatmapLabel(key) {
  const name = NAMES[key] || key;
  return `${name[0].toUpperCase()}${name.slice(1)} ${key}, steps by units: arrow keys move the cursor, Enter jumps`;
}

// Heatmaps for one cell family. onPick(t, unit) when a cell is clicked, or chosen with the keys.
export function createHeatmaps(container, cell, onPick) {
  container.replaceChildren();
  const charts = heatmapSeries(cell).map(([key, title, kind]) => {
    const box = chartBox(container, `heat-${key}`, title, key);
    return {
      key, kind, box, cursor: null, steps: 0, units: 0, t: 0, unit: null, bound: false,
      rows: [], labels: null, // what the screen reader is told about a cell
      mark: null, pick: null, // the keyboard cursor's element and cell {t, unit}, while focused
    };
  });
  const hm = { charts, onPick };
  for (const ch of charts) bindKeys(hm, ch);
  return hm;
}

// One heatmap per task, the page getting the main thread back between them: drawn all at once,
// a long run's six maps were one task of seconds (keys, clicks and the player waited).
const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

export async function updateHeatmaps(hm, layer, steps, H, labels) {
  const call = (hm.calls = (hm.calls || 0) + 1); // a newer call takes over the maps left
  for (const ch of hm.charts) {
    if (hm.calls !== call) return;
    await drawHeatmap(hm, ch, layer, steps, H, labels);
    if (steps * H > 20000) await nextTask();
  }
}

async function drawHeatmap(hm, ch, layer, steps, H, labels) {
  const rows = (ch.key === "c" ? layer.c : ch.key === "h" ? layer.h : layer.gates[ch.key]) || [];
  const { x, z, k } = binSteps(rows, steps, H);
  const data = [{
    type: "heatmap",
    x,
    z,
    ...scaleFor(ch.kind, maxAbs(rows)),
    colorbar: { thickness: 14, len: 0.9, tickfont: { size: 13 } },
    // a column of k steps shows their mean as a colour; its number would be the mean of
    // rounded values (a compact trace's), so the label names the steps to choose instead
    hovertemplate: k > 1
      ? `steps around t=%{x} (${k} steps) unit=%{y}<br>choose one to read ${ch.key}<extra></extra>`
      : `t=%{x} unit=%{y}<br>${ch.key}=%{z:.4f}<extra></extra>`,
    xgap: steps <= 60 ? 1 : 0,
    ygap: H <= 32 ? 1 : 0,
  }];
  const xaxis = stepAxis(steps, labels, ch.box.clientWidth - 140); // less the margins and colour bar
  const layout = {
    font: FONT,
    margin: { l: 56, r: 12, t: 8, b: axisMargin(xaxis) },
    height: Math.min(320, 120 + H * 10) + axisMargin(xaxis) - 52,
    xaxis,
    yaxis: { title: { text: "unit" }, autorange: "reversed", fixedrange: true, zeroline: false },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#ffffff",
  };
  await Plotly.react(ch.box, data, layout, CONFIG);
  ch.steps = steps;
  ch.units = H;
  ch.rows = rows;
  ch.decimals = layer.decimals; // values rounded to this many (a compact trace's), else exact
  ch.labels = labels;
  ch.box.setAttribute("aria-valuemin", "0");
  ch.box.setAttribute("aria-valuemax", String(Math.max(0, steps - 1)));
  if (!ch.cursor) ch.cursor = makeCursor(ch.box);
  if (!ch.mark) ch.mark = makeMark(ch.box);
  if (!ch.bound) {
    ch.bound = true;
    ch.box.on("plotly_click", (ev) => {
      const pt = ev.points && ev.points[0];
      if (pt) hm.onPick(Math.round(pt.x), Math.round(pt.y));
    });
    ch.box.on("plotly_afterplot", () => {
      placeCursor(ch.box, ch.cursor, ch.t, ch.steps, ch.unit, ch.units);
      if (ch.pick) showPick(ch);
    });
  }
}

export function moveHeatmapCursor(hm, t, unit) {
  for (const ch of hm.charts) {
    // After a jump (a click, a player step, Enter) the keyboard cursor starts from the shown cell.
    const moved = t !== ch.t || unit !== ch.unit;
    ch.t = t;
    ch.unit = unit;
    if (moved || !ch.box.hasAttribute("aria-valuenow")) ch.box.setAttribute("aria-valuenow", String(t)); // a slider needs one (axe)
    if (ch.cursor) placeCursor(ch.box, ch.cursor, t, ch.steps, unit, ch.units);
    if (ch.pick && moved) {
      ch.pick = clampCell({ t, unit: unit ?? 0 }, ch.steps, ch.units);
      showPick(ch);
    } else if (!ch.pick) {
      announce(ch, clampCell({ t, unit: unit ?? 0 }, ch.steps, ch.units)); // where keys start
    }
  }
}

// --- the keyboard path: with focus, a heatmap does with keys what a click does ----------------

// A cell kept inside a steps x units grid.
export function clampCell({ t, unit }, steps, units) {
  const clamp = (v, n) => Math.min(Math.max(v, 0), Math.max(0, n - 1));
  return { t: clamp(t, steps), unit: clamp(unit, units) };
}

// The cell a key moves the keyboard cursor to, or null for a key the heatmap leaves alone.
// Unit 0 is the top row, so Up is unit - 1.
export function keyedCell(cell, key, steps, units) {
  const { t, unit } = cell;
  const moves = {
    ArrowLeft: [t - 1, unit], ArrowRight: [t + 1, unit],
    ArrowUp: [t, unit - 1], ArrowDown: [t, unit + 1],
    Home: [0, unit], End: [steps - 1, unit],
  };
  const to = moves[key];
  return to ? clampCell({ t: to[0], unit: to[1] }, steps, units) : null;
}

// What a screen reader says for one cell: "step 3 of 10, input “l”, unit 2: f = 0.4312".
// Values rounded to `decimals` (a compact trace's heatmap) are read to those decimals.
export function cellText(key, rows, labels, { t, unit }, steps, decimals) {
  const ch = labels ? labels[t] : undefined;
  const input = ch === undefined || ch === null ? "" : ch === " " ? ", input space" : `, input “${ch}”`;
  const v = rows[t] ? rows[t][unit] : null;
  const shown = decimals === undefined ? fmt(v, 4) : v?.toFixed(decimals).replace(/^-/, "\u2212");
  const value = v === null || v === undefined ? "not computed yet" : shown;
  return `step ${t} of 0 to ${steps - 1}${input}, unit ${unit}: ${key} = ${value}`;
}

function makeMark(box) {
  const mark = document.createElement("div");
  mark.className = "cursor-cell";
  mark.hidden = true;
  box.append(mark);
  return mark;
}

// The slider's value is the step of the cell keys act on; its text names the cell and value.
function announce(ch, cell) {
  ch.box.setAttribute("aria-valuenow", String(cell.t));
  if (ch.steps > 0) ch.box.setAttribute("aria-valuetext", cellText(ch.key, ch.rows, ch.labels, cell, ch.steps, ch.decimals));
}

// Ring the picked cell (never smaller than MARK_MIN px, so one of 2,000 steps still shows)
// and tell assistive technology which cell it is.
const MARK_MIN = 12;
function showPick(ch) {
  const size = ch.box._fullLayout && ch.box._fullLayout._size;
  const { t, unit } = ch.pick;
  announce(ch, ch.pick);
  if (!ch.mark || !size || ch.steps < 1 || ch.units < 1) return;
  const cw = size.w / ch.steps;
  const chh = size.h / ch.units;
  const w = Math.max(cw, MARK_MIN);
  const h = Math.max(chh, MARK_MIN);
  Object.assign(ch.mark.style, {
    left: `${size.l + (t + 0.5) * cw - w / 2}px`,
    top: `${size.t + (unit + 0.5) * chh - h / 2}px`,
    width: `${w}px`,
    height: `${h}px`,
  });
  ch.mark.hidden = false;
}

function bindKeys(hm, ch) {
  ch.box.addEventListener("focus", () => {
    ch.pick = clampCell({ t: ch.t, unit: ch.unit ?? 0 }, ch.steps, ch.units); // "mean": start at unit 0
    showPick(ch);
  });
  ch.box.addEventListener("blur", () => {
    ch.pick = null;
    if (ch.mark) ch.mark.hidden = true;
  });
  ch.box.addEventListener("keydown", (ev) => {
    if (!ch.pick || ch.steps < 1 || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const jump = ev.key === "Enter" || ev.key === " ";
    const next = jump ? null : keyedCell(ch.pick, ev.key, ch.steps, ch.units);
    if (!jump && !next) return; // Tab and the rest keep their usual meaning
    // These keys belong to the heatmap while it has focus: they must not scroll the page, nor
    // reach the player shortcuts main.js binds on document (Space, arrows, Home, End).
    ev.preventDefault();
    ev.stopPropagation();
    if (jump) hm.onPick(ch.pick.t, ch.pick.unit);
    else {
      ch.pick = next;
      showPick(ch);
    }
  });
}

