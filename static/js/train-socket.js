// WS /ws/train: send the request once, hand every frame to handlers[frame.type].
// Returns {stop(), pause(), resume(), close()}: stop asks the server to finish early (it
// answers "done"); pause holds the run and resume continues it exactly where it was.

export function trainSocketUrl(loc = window.location) {
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws/train`;
}

export function openTrainSocket(body, handlers) {
  const ws = new WebSocket(trainSocketUrl());
  let finished = false;
  ws.addEventListener("open", () => ws.send(JSON.stringify(body)));
  ws.addEventListener("message", (ev) => {
    const frame = JSON.parse(ev.data);
    if (frame.type === "done" || frame.type === "error") finished = true;
    const handler = handlers[frame.type];
    if (handler) handler(frame);
  });
  ws.addEventListener("close", (ev) => {
    if (handlers.close) handlers.close({ finished, code: ev.code, reason: ev.reason });
  });
  const say = (type, extra = {}) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type, ...extra }));
  };
  return {
    temperature: (value) => say("temperature", { value }),
    stop: () => say("stop"),
    pause: () => say("pause"),
    resume: () => say("resume"),
    close() {
      ws.close();
    },
  };
}

// The request body from the page's settings, for one cell; text: charlm's own text, if any.
export function trainBody(s, cell, text = null) {
  return {
    task: { name: s.task, length: s.len, seed: s.tseed, ...(text === null ? {} : { text }) },
    model: {
      cell,
      hidden_size: s.hidden,
      num_layers: 1,
      variant: "standard",
      init: { seed: s.seed, forget_bias: s.fbias, recurrent_init: "uniform", recurrent_gain: 1 },
    },
    train: {
      steps: s.steps, batch_size: s.batch, optimizer: s.optimizer, lr: s.lr, clip: s.clip,
      seed: s.seed, eval_every: evalEvery(s.steps), temperature: s.temp ?? 0.8,
    },
  };
}

// About 24 evaluations per run, at a round number of steps.
export function evalEvery(steps) {
  const raw = Math.max(1, Math.round(steps / 24));
  const nice = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000];
  return nice.find((n) => n >= raw) || raw;
}

// "1 min 5 s" / "12 s" / "0.4 s".
export function formatEta(seconds) {
  if (!Number.isFinite(seconds)) return "—";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}
