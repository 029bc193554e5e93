// The exact numbers of the view on show. A compact trace (api.js) holds every unit's values
// rounded for the heatmaps, and exact ones only for the units its stream was told are shown
// (the request's `view`): when the view moves to another unit, layer or pair of thresholds,
// the stream is told (a "view" message) and sends what the view lacks, and the page shows the
// view once its exact numbers are in, never a rounded value in their place. A stream that has
// gone away is replaced by one POST of the whole exact answer.
import * as api from "./api.js";
import { page, showError, state } from "./step-context.js";

let also = []; // more units of the layer shown whose exact numbers are read (a lesson's)

// What the stream needs to know of the URL state.
export function viewOf(s) {
  const view = { layer: s.layer, unit: s.unit === "mean" ? "mean" : Number(s.unit), lo: s.lo, hi: s.hi };
  return also.length ? { ...view, also } : view;
}

// Ask for these units' exact numbers as well as the unit shown's (a lesson reads them).
export function need(units) {
  if (units.join() === also.join()) return;
  also = units.filter((u) => Number.isInteger(u));
  if (page.trace) ready(page.trace);
}

let told = { trace: null, view: "" }; // the last view the stream of `trace` was told
let whole = () => {}; // called once a POST has replaced a compact trace's numbers

export function onWhole(fn) {
  whole = fn;
}

// Whether trace `tr` holds the exact numbers of the view in the URL state; if not, they are
// asked for (once per view).
export function ready(tr) {
  if (!tr.layers[state.layer]?.heat) return true; // a whole trace: every number is exact
  const view = viewOf(state);
  const width = tr.layers[state.layer].h.find((row) => row)?.length ?? 0;
  if (view.also) view.also = view.also.filter((u) => u >= 0 && u < width); // a lesson's units
  const key = JSON.stringify(view);
  if (told.trace !== tr || told.view !== key) {
    told = { trace: tr, view: key }; // (the server sends nothing twice: telling it again is free)
    if (page.socket?.isOpen()) page.socket.send({ type: "view", ...view });
    else fetchWhole(tr);
  }
  return api.hasExact(tr, state.layer, state.unit);
}

let fetching = null;
function fetchWhole(tr) {
  if (fetching === tr) return;
  fetching = tr;
  api.exactTrace(tr)
    .then((answer) => {
      if (page.trace !== tr) return;
      answer.layers.forEach((layer, k) => {
        Object.assign(tr.layers[k], layer, { heat: undefined, exact: undefined, reading: undefined });
      });
      tr.gradFrom = 0;
      whole();
    })
    .catch((err) => {
      if (page.trace === tr) showError(err.message);
    });
}
