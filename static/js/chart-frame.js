// What the step page's Plotly charts share: font and config, the step axis (labelled with the
// input's text, also past a thousand steps) and the overlay cursor moved with CSS, so playing at
// 30 steps per second redraws no plot.
export const Plotly = globalThis.Plotly;
export const FONT = { family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size: 15, color: "#1b2a3a" };
export const CONFIG = { displayModeBar: false, responsive: true, displaylogo: false, scrollZoom: false };

const shown = (s) => (s === " " ? "␣" : s === "\n" ? "↵" : s ?? "?");
const TICK_PX = 90; // room for one tick of text ("1200" over "the ca")

// A round stride (1, 2, 5, 10, 20, ...) of at least `raw`.
export function niceStride(raw) {
  const mag = 10 ** Math.floor(Math.log10(Math.max(1, raw)));
  return [1, 2, 5, 10].map((m) => m * mag).find((v) => v >= raw);
}

// The step axis. Without text: step numbers. With text (labels: one token per step), up to 40
// steps every token is a tick; past that a tick every `stride` steps (as many as fit in the
// plot's `width` px), labelled with its step and the text from there ("120" over "the c"), so a
// long run still reads as text whatever the heatmaps' binning. Tokens longer than a character
// are words: "input token".
export function stepAxis(steps, labels, width = 900) {
  const axis = { title: { text: "step t" }, range: [-0.5, steps - 0.5], fixedrange: true, zeroline: false };
  if (!labels || steps < 1) return axis;
  const words = labels.some((label) => label && label.length > 1);
  if (steps <= 40) {
    axis.tickvals = labels.map((_, t) => t);
    axis.ticktext = labels.map(shown);
    axis.title.text = words ? "input token" : "input character";
    return axis;
  }
  const stride = niceStride(steps / Math.max(2, Math.floor(width / TICK_PX)));
  const span = words ? 1 : Math.min(stride, 6); // tokens shown from each tick on
  axis.tickvals = [];
  for (let t = 0; t < steps; t += stride) axis.tickvals.push(t);
  axis.ticktext = axis.tickvals.map((t) => {
    const text = labels.slice(t, t + span).map(shown).join(words ? " " : "");
    return `${t}<br>${text.length > 8 ? `${text.slice(0, 7)}…` : text}`;
  });
  axis.tickangle = 0;
  axis.title.text = `step t, with the ${words ? "token" : "text"} read there`;
  return axis;
}

// The bottom margin a step axis needs (two lines of ticks under a long text run).
export const axisMargin = (axis) => (axis.ticktext?.some((s) => s.includes("<br>")) ? 72 : 52);

// The step line's x is the currentTime of a paused animation, 1 ms to 1 px, so each step moves
// it on the compositor. Written as a transform at every step, the same move made Chromium lay
// the whole page out in layers again: 4 ms a frame at 60 steps/s (bench/step_page.py).
const SLIDE_PX = 100000; // wider than any plot
function slider(el) {
  const slide = el.animate(
    [{ transform: "translateX(0px)" }, { transform: `translateX(${SLIDE_PX}px)` }],
    { duration: SLIDE_PX, fill: "both" },
  );
  slide.pause();
  return slide;
}

export function makeCursor(box) {
  const x = document.createElement("div");
  x.className = "cursor-x";
  const y = document.createElement("div");
  y.className = "cursor-y";
  box.append(x, y);
  return { x, y, slide: slider(x), xpx: null, box: "", row: "" };
}

// Place the overlay cursor at step t (and unit row, when given) using the plot's own geometry.
// Only what changed is written: at 60 steps/s every write that changes nothing still costs a
// style recalculation.
export function placeCursor(gd, cursor, t, steps, unit, units) {
  const size = gd._fullLayout && gd._fullLayout._size;
  if (!size || steps < 1) return;
  const xpx = size.l + ((t + 0.5) / steps) * size.w;
  if (xpx !== cursor.xpx) {
    cursor.xpx = xpx;
    cursor.slide.currentTime = xpx;
  }
  const box = `${size.t} ${size.h}`;
  if (box !== cursor.box) {
    cursor.box = box;
    cursor.x.style.top = `${size.t}px`;
    cursor.x.style.height = `${size.h}px`;
  }
  if (cursor.x.hidden) cursor.x.hidden = false;
  if (unit === null || unit === undefined || !units) {
    if (!cursor.y.hidden) cursor.y.hidden = true;
    return;
  }
  const ypx = size.t + ((unit + 0.5) / units) * size.h; // unit 0 at the top
  const row = `${ypx} ${size.l} ${size.w}`;
  if (row !== cursor.row) {
    cursor.row = row;
    cursor.y.style.transform = `translateY(${ypx}px)`;
    cursor.y.style.left = `${size.l}px`;
    cursor.y.style.width = `${size.w}px`;
  }
  if (cursor.y.hidden) cursor.y.hidden = false;
}
