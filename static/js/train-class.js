// The Train page in a class. On the teacher's page, the run's frames go to the students' pages
// too (pagelink.relay), which draw them through the same handlers: the training runs once,
// there. A snapshot's trace is too large for a class message: class-relay.js stores it on the
// server and relays its key, which the students' pages fetch. The model is not relayed: it
// travels with the class's state by its key once the run is done.
import { relay } from "./pagelink.js";

const RELAYED = ["start", "queued", "progress", "eval", "snapshot", "sample", "paused", "resumed", "done", "error"];

// The run's handlers, each also relaying its frame under the run's id.
export function relaying(runId, run, hooks) {
  const out = { ...hooks };
  for (const type of RELAYED) {
    out[type] = (f) => {
      const frame = { ...f, cell: run.cell, type };
      delete frame.model;
      relay(runId, frame);
      hooks[type](f);
    };
  }
  return out;
}

// A student following a class: the teacher's training, drawn from the relayed frames. A
// student who joined mid-run gets the run so far as a replay (parts 1, 2, ...), which rebuilds
// the view; one who saw the run from its start frame already has it and skips the replay.
// runs(): the page's runs; reset(id): the page prepared afresh for the teacher's run `id`.
export function watcher({ runs, reset }) {
  let watching = "";
  let fromStart = false; // this page has the watched run from its start
  let replaying = false;
  let snapStep = -1; // the step of the newest snapshot drawn

  function start(id) {
    watching = id;
    fromStart = false;
    snapStep = -1;
    reset(id);
  }

  // A relayed snapshot names its trace by key: fetched, then drawn unless a newer one was.
  function snapshot(run, f) {
    if (f.trace || !/^[0-9a-f]{64}$/.test(f.key ?? "")) return run.on.snapshot(f);
    const id = watching;
    fetch(`/api/models/${f.key}`)
      .then((r) => (r.ok ? r.json() : null))
      .then((trace) => {
        if (!trace || id !== watching || f.step < snapStep) return;
        snapStep = f.step;
        run.on.snapshot({ ...f, trace });
      })
      .catch(() => {}); // a missed snapshot: the next one draws
  }

  return function watchRelay({ run: id, frames, replay }) {
    if (replay) {
      if (replay === 1 && !(id === watching && fromStart)) {
        start(id);
        replaying = true;
      }
      if (!replaying || id !== watching) return;
    } else {
      replaying = false;
      if (id !== watching) start(id);
    }
    for (const f of frames) {
      if (f.type === "start") fromStart = true;
      if (!fromStart) continue; // joined mid-run: the run's replay brings these, with its start
      const run = runs().find((r) => r.cell === f.cell);
      if (!run) continue;
      if (f.type === "snapshot") snapshot(run, f);
      else run.on[f.type]?.(f);
    }
  };
}
