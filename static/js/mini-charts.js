// The self-contained view's charts without Plotly (3.5 MB): each heatmap is one canvas, the
// backward-pass chart one SVG. They read like the step page's (charts.js): the same colour
// scales, column binning, log-scale ticks, cursors and keyboard path (arrows move a marked cell,
// Enter jumps there), whose pure parts they import from charts.js.
import { binSteps, cellText, heatmapLabel, keyedCell, clampCell, maxAbs, powerTicks } from "./charts.js";
import { h } from "./class-dom.js";
import { COLOURS, scaleFor } from "./encodings.js";

const SVG = "http://www.w3.org/2000/svg";
const svgEl = (tag, attrs = {}) => {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
};

// A colour scale ([[stop, "#rrggbb"], ...]) as 256 RGB entries, interpolated in RGB as Plotly does.
export function lut(scale) {
  const rgb = scale.map(([s, hex]) => [s, [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16))]);
  const out = new Uint8ClampedArray(256 * 3);
  for (let n = 0; n < 256; n += 1) {
    const v = n / 255;
    let k = 1;
    while (k < rgb.length - 1 && rgb[k][0] < v) k += 1;
    const [s0, c0] = rgb[k - 1];
    const [s1, c1] = rgb[k];
    const w = s1 > s0 ? Math.min(1, Math.max(0, (v - s0) / (s1 - s0))) : 0;
    for (let j = 0; j < 3; j += 1) out[3 * n + j] = c0[j] + w * (c1[j] - c0[j]);
  }
  return out;
}

// Tick positions along [0, n): every label when few enough to read, else about six round steps.
export function ticks(n, labels, offset = 0) {
  if (labels && n <= 40) return labels.map((ch, k) => [k, ch === " " ? "␣" : String(ch ?? "")]);
  const raw = Math.max(1, (n - 1) / 6);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const stride = [1, 2, 5, 10].map((m) => m * mag).find((v) => v >= raw);
  const out = [];
  for (let k = Math.ceil(offset / stride) * stride; k <= offset + n - 1; k += stride) out.push([k - offset, String(k)]);
  return out;
}

// A heatmap of one field, time along x and units down y. rows[t] (Float32Array or array) are
// the steps [t0, t0 + steps); onPick(t, unit) when a cell is clicked or chosen with the keys.
export function createHeatmap(parent, { key, title, kind }, onPick) {
  const canvas = h("canvas", { class: "lx-heat-canvas", "aria-hidden": "true" });
  const cursorX = h("div", { class: "cursor-x" });
  const cursorY = h("div", { class: "cursor-y" });
  const mark = h("div", { class: "cursor-cell" });
  mark.hidden = true;
  const box = h("div", {
    class: "lx-heat-box", tabindex: "0", role: "slider", "aria-label": heatmapLabel(key),
    "aria-valuemin": "0", "aria-valuemax": "0", "aria-valuenow": "0",
  }, canvas, cursorX, cursorY, mark);
  const xAxis = h("div", { class: "lx-xaxis", "aria-hidden": "true" });
  const yAxis = h("div", { class: "lx-yaxis", "aria-hidden": "true" });
  const legend = h("div", { class: "lx-legend", "aria-hidden": "true" });
  parent.append(h("figure", { class: "lx-heat", "data-key": key },
    h("figcaption", { text: title }), h("div", { class: "lx-heat-grid" }, yAxis, box, legend), xAxis));
  const hm = { key, box, rows: [], steps: 0, units: 0, t0: 0, t: 0, unit: null, pick: null, labels: null };

  hm.draw = (rows, t0, steps, units, labels) => {
    Object.assign(hm, { rows, t0, steps, units, labels });
    const { z } = binSteps(rows.slice(t0, t0 + steps), steps, units); // (units, columns)
    const columns = z[0]?.length ?? 0;
    const { colorscale, zmin, zmax } = scaleFor(kind, maxAbs(rows.slice(t0, t0 + steps)));
    const colours = lut(colorscale);
    box.style.height = `${Math.min(240, Math.max(96, units * 6))}px`; // rows of at least a few px
    canvas.width = Math.max(1, columns);
    canvas.height = Math.max(1, units);
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(canvas.width, canvas.height);
    for (let u = 0; u < units; u += 1) {
      for (let j = 0; j < columns; j += 1) {
        const v = z[u][j];
        const at = 4 * (u * columns + j);
        if (v === null || !Number.isFinite(v)) image.data.set([225, 229, 234, 255], at); // not a number
        else {
          const n = Math.round(255 * Math.min(1, Math.max(0, (v - zmin) / (zmax - zmin))));
          image.data.set([colours[3 * n], colours[3 * n + 1], colours[3 * n + 2], 255], at);
        }
      }
    }
    ctx.putImageData(image, 0, 0);
    box.setAttribute("aria-valuemin", String(t0));
    box.setAttribute("aria-valuemax", String(t0 + Math.max(0, steps - 1)));
    xAxis.replaceChildren(...ticks(steps, labels?.slice(t0, t0 + steps), t0).map(([k, text]) => {
      const tick = h("span", { text });
      tick.style.left = `${((k + 0.5) / steps) * 100}%`;
      return tick;
    }), h("span", { class: "lx-axis-title", text: labels && steps <= 40 ? "input" : "step t" }));
    yAxis.replaceChildren(h("span", { text: "unit 0" }), h("span", { text: String(units - 1) }));
    const fmtEnd = (v) => (Math.abs(v) >= 100 || (v !== 0 && Math.abs(v) < 0.01) ? v.toExponential(1) : String(Number(v.toPrecision(2))));
    const bar = h("span", { class: "lx-legend-bar" });
    bar.style.background = `linear-gradient(to top, ${colorscale.map(([s, c]) => `${c} ${s * 100}%`).join(", ")})`;
    legend.replaceChildren(h("span", { text: fmtEnd(zmax).replace("-", "\u2212") }), bar,
      h("span", { text: fmtEnd(zmin).replace("-", "\u2212") }));
    hm.move(hm.t, hm.unit);
  };

  const pct = (k, n) => `${((k + 0.5) / Math.max(1, n)) * 100}%`;
  const showPick = () => {
    const { t, unit } = hm.pick;
    mark.style.left = pct(t - hm.t0, hm.steps);
    mark.style.top = pct(unit, hm.units);
    mark.hidden = false;
    announce(hm.pick);
  };
  const announce = (cell) => {
    box.setAttribute("aria-valuenow", String(cell.t));
    const rows = hm.rows;
    if (hm.steps > 0) box.setAttribute("aria-valuetext", cellText(key, rows, hm.labels, cell, hm.t0 + hm.steps));
  };
  const clampHere = (cell) => {
    const c = clampCell({ t: cell.t - hm.t0, unit: cell.unit }, hm.steps, hm.units);
    return { t: c.t + hm.t0, unit: c.unit };
  };

  // Move the cursor to step t (and the unit row, or none for the mean of all units).
  hm.move = (t, unit) => {
    const moved = t !== hm.t || unit !== hm.unit;
    hm.t = t;
    hm.unit = unit;
    cursorX.style.left = pct(t - hm.t0, hm.steps);
    cursorY.hidden = unit === null || unit === undefined;
    if (!cursorY.hidden) cursorY.style.top = pct(unit, hm.units);
    if (hm.pick && moved) {
      hm.pick = clampHere({ t, unit: unit ?? 0 });
      showPick();
    } else if (!hm.pick && hm.steps > 0) announce(clampHere({ t, unit: unit ?? 0 }));
  };

  box.addEventListener("click", (ev) => {
    const r = canvas.getBoundingClientRect();
    if (!hm.steps || r.width <= 0 || r.height <= 0) return;
    const t = hm.t0 + Math.floor(((ev.clientX - r.left) / r.width) * hm.steps);
    const unit = Math.floor(((ev.clientY - r.top) / r.height) * hm.units);
    const cell = clampHere({ t, unit });
    onPick(cell.t, cell.unit);
  });
  box.addEventListener("focus", () => {
    hm.pick = clampHere({ t: hm.t, unit: hm.unit ?? 0 });
    showPick();
  });
  box.addEventListener("blur", () => {
    hm.pick = null;
    mark.hidden = true;
  });
  box.addEventListener("keydown", (ev) => {
    if (!hm.pick || hm.steps < 1 || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const jump = ev.key === "Enter" || ev.key === " ";
    const local = { t: hm.pick.t - hm.t0, unit: hm.pick.unit };
    const next = jump ? null : keyedCell(local, ev.key, hm.steps, hm.units);
    if (!jump && !next) return;
    ev.preventDefault();
    ev.stopPropagation(); // these keys are the heatmap's while it has focus, not the player's
    if (jump) onPick(hm.pick.t, hm.pick.unit);
    else {
      hm.pick = { t: next.t + hm.t0, unit: next.unit };
      showPick();
    }
  });
  return hm;
}

// The backward pass: log10 ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖) per step, over every step of the run.
// series: [[key, name, logs (array with null), colour?, dashed?]] (colour: COLOURS[key] if not
// given); steps t < revealFrom are hidden (still to come). stepsBack labels the x axis
// k = T-1-t, as the gradient lab counts (round k at the ticks); xTitle names the axis.
export function createGradChart(box, { stepsBack = false, xTitle = "step t", label = "Gradient norm per step, log scale", cursor = true } = {}) {
  const svg = svgEl("svg", { class: "lx-grad-svg", role: "img", "aria-label": label });
  box.append(svg);
  const gc = { svg, steps: 0, t: 0, reveal: 0, geometry: null, series: [] };
  const H = 240;
  const M = { l: 64, r: 16, t: 34, b: 40 };

  gc.draw = (series, steps, labels) => {
    Object.assign(gc, { series, steps, labels });
    const W = Math.max(320, Math.round(box.clientWidth || 800));
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("height", String(H));
    svg.replaceChildren();
    const finite = series.flatMap(([, , logs]) => logs.filter((v) => v !== null && Number.isFinite(v)));
    const lo0 = finite.length ? Math.min(...finite) : -3;
    const hi0 = finite.length ? Math.max(...finite) : 1;
    const pad = Math.max(0.25, (hi0 - lo0) * 0.08);
    const [lo, hi] = [lo0 - pad, hi0 + pad];
    const x = (t) => M.l + ((t + 0.5) / Math.max(1, steps)) * (W - M.l - M.r);
    const y = (v) => M.t + ((hi - v) / (hi - lo)) * (H - M.t - M.b);
    gc.geometry = { x, W };
    const axes = svgEl("g", { class: "lx-axes" });
    axes.append(svgEl("rect", { x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b, class: "lx-plot" }));
    const { tickvals, ticktext } = powerTicks(lo, hi);
    tickvals.forEach((v, k) => {
      axes.append(svgEl("line", { x1: M.l, x2: W - M.r, y1: y(v), y2: y(v), class: "lx-grid" }));
      const text = svgEl("text", { x: M.l - 6, y: y(v) + 5, "text-anchor": "end" });
      const power = /^10<sup>(.+)<\/sup>$/.exec(ticktext[k]);
      text.textContent = power ? "10" : ticktext[k];
      if (power) {
        const sup = svgEl("tspan", { dy: -7, class: "lx-sup" });
        sup.textContent = power[1].replace("-", "\u2212");
        text.append(sup);
      }
      axes.append(text);
    });
    const xTicks = stepsBack ? ticks(steps, null).map(([k, s]) => [steps - 1 - k, s]) : ticks(steps, labels);
    for (const [k, text] of xTicks) {
      const label = svgEl("text", { x: x(k), y: H - M.b + 18, "text-anchor": "middle" });
      label.textContent = text;
      axes.append(label);
    }
    const xName = svgEl("text", { x: (M.l + W - M.r) / 2, y: H - 4, "text-anchor": "middle", class: "lx-axis-title" });
    xName.textContent = labels && steps <= 40 ? "input" : xTitle;
    const yTitle = svgEl("text", { x: 14, y: (M.t + H - M.b) / 2, "text-anchor": "middle", transform: `rotate(-90 14 ${(M.t + H - M.b) / 2})`, class: "lx-axis-title" });
    yTitle.textContent = "norm (log scale)";
    axes.append(xName, yTitle);
    svg.append(axes);
    // the lines, clipped to the steps already reached by the backward pass
    const clipId = `${box.id}-clip`;
    const clip = svgEl("clipPath", { id: clipId });
    gc.clipRect = svgEl("rect", { x: M.l, y: 0, width: W, height: H });
    clip.append(gc.clipRect);
    svg.append(clip);
    const lines = svgEl("g", { "clip-path": `url(#${clipId})` });
    series.forEach(([key, name, logs, colour = COLOURS[key], dashed = key === "grad_c"], n) => {
      let d = "";
      let pen = "M";
      logs.forEach((v, t) => {
        if (v === null || !Number.isFinite(v)) pen = "M";
        else {
          d += `${pen}${x(t).toFixed(1)} ${y(v).toFixed(1)}`;
          pen = "L";
        }
      });
      const dash = dashed ? { "stroke-dasharray": "8 5" } : {};
      lines.append(svgEl("path", { d, class: "lx-line", stroke: colour, fill: "none", ...dash }));
      if (steps <= 80) {
        logs.forEach((v, t) => {
          if (v !== null && Number.isFinite(v)) lines.append(svgEl("circle", { cx: x(t), cy: y(v), r: 3.5, fill: colour }));
        });
      }
      const lx = M.l + 8 + n * 190;
      svg.append(svgEl("line", { x1: lx, x2: lx + 28, y1: 16, y2: 16, stroke: colour, class: "lx-line", ...dash }));
      const legend = svgEl("text", { x: lx + 34, y: 21, class: "lx-legend-text" });
      legend.textContent = name;
      svg.append(legend);
    });
    svg.append(lines);
    gc.cursor = svgEl("line", { y1: M.t, y2: H - M.b, class: "lx-cursor" });
    if (cursor) svg.append(gc.cursor);
    gc.setReveal(gc.reveal);
    gc.move(gc.t);
  };

  gc.move = (t) => {
    gc.t = t;
    if (!gc.geometry) return;
    const x = gc.geometry.x(t).toFixed(1);
    gc.cursor.setAttribute("x1", x);
    gc.cursor.setAttribute("x2", x);
  };

  // Steps before revealFrom are not drawn yet: the backward pass has not reached them.
  gc.setReveal = (revealFrom) => {
    gc.reveal = revealFrom;
    if (!gc.geometry) return;
    const left = revealFrom <= 0 ? 0 : gc.geometry.x(revealFrom - 0.5);
    gc.clipRect.setAttribute("x", String(left));
  };

  let width = 0;
  new ResizeObserver(() => {
    if (gc.steps && Math.abs(box.clientWidth - width) > 4) {
      width = box.clientWidth;
      gc.draw(gc.series, gc.steps, gc.labels);
    }
  }).observe(box);
  return gc;
}
