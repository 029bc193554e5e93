// The self-contained gradient-lab view (lx.compare): log10 ‖∂L/∂h‖ (and the LSTM's ‖∂L/∂c‖)
// against steps back k for a tanh RNN, an LSTM and a GRU, k = 0 (the last step) at the right as
// in the lab, with each curve's fitted factor per step. The numbers are the lab's own answer
// (POST /api/compare), inlined; the chart is mini-charts.js's, colours the lab's (NETWORKS).
import { h } from "./class-dom.js";
import { NETWORKS } from "./compare-chart.js";
import { fmt } from "./encodings.js";
import { createGradChart } from "./mini-charts.js";

function fitText(name, fit) {
  if (!fit || fit.factor === null) return `${name}: too few finite points to fit`;
  const per = `×${fmt(fit.factor, 4)} per step back`;
  if (fit.half_life !== null) return `${name}: ${per}, halves every ${fmt(fit.half_life, 3)} steps`;
  if (fit.doubling !== null) return `${name}: ${per}, doubles every ${fmt(fit.doubling, 3)} steps`;
  return `${name}: ${per}`;
}

export function mount(root, data) {
  const T = data.steps;
  const box = h("div", { id: `${root.id}-chart`, class: "lx-grad" });
  const series = [];
  const fits = [];
  for (const [cell, c] of Object.entries(data.cells)) {
    const { name, colour } = NETWORKS[cell];
    const inTime = (byK) => byK.slice().reverse(); // k order -> time order (k = 0 at the right)
    series.push([`${cell}-h`, `${name} h`, inTime(c.grad_h), colour, false]);
    fits.push(fitText(`${name}, ‖∂L/∂h‖`, c.fit_h));
    if (c.grad_c) {
      series.push([`${cell}-c`, `${name} c`, inTime(c.grad_c), colour, true]);
      fits.push(fitText(`${name}, ‖∂L/∂c‖`, c.fit_c));
    }
  }
  root.replaceChildren(
    h("div", { class: "lx-head" }, h("strong", { class: "lx-title", text: data.title })),
    h("section", { class: "lx-panel", "aria-label": "Gradient decay" },
      h("h3", { text: "How far back does the gradient reach?" }),
      h("p", { class: "hint", text: "‖∂L/∂h‖ (dashed: the LSTM's ‖∂L/∂c‖) against steps back from the last step, divided by its value there (log scale)." }),
      box,
      h("ul", { class: "lx-fits" }, ...fits.map((text) => h("li", { text })))),
  );
  const chart = createGradChart(box, {
    stepsBack: true, xTitle: "steps back k", cursor: false,
    label: "Gradient norm by steps back, log scale, one line per network",
  });
  chart.draw(series, T, null);
  return { chart };
}
