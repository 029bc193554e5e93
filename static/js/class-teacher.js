// The teacher's side of a class: the panel (code, join link, QR, counts, explore / bring back,
// polls and their tally, end), and the sync: every change of the page's URL state, and every
// step of its player, goes out as a state, at most one per animation frame.

import { formatDetail } from "./api.js";
import { h, readJson, renderBars, writeJson } from "./class-dom.js";
import { openClassSocket } from "./class-socket.js";
import { forgetGatePoll, parseChoices, tallyBars, thinned } from "./class-state.js";
import { MEMBER_KEY, currentPage, onPageChanged, setRelaySender } from "./pagelink.js";

export const TEACHER_KEY = "lstmx.class.teacher"; // localStorage: {code, token, join_url}
const MAX_URL = 4096; // the server's cap on a state's url
// POST /api/models takes a model as /api/trace does; a page that knows its model's fields
// better says so (modelBody), others send these.
const MODEL_FIELDS = ["cell", "input_size", "hidden_size", "num_layers", "variant", "output_size", "init", "weights"];
const MIN_GAP_MS = 1000 / 32; // at most ~30 states a second: a 30 steps/s play, under the server's rate cap
const RELAY_GAP_MS = 250; // relayed training frames go out in batches, four a second
const RELAY_BYTES = 7000; // a batch's frames, under the server's 8192-byte message cap
const RELAY_FRAMES = 64; // and its cap on frames per message
const REPLAY_POINTS = 200; // progress frames per network in a replay for a late joiner
const REPLAY_WAIT_MS = 500; // students joining within this time share one replay

export function savedClass() {
  const saved = readJson(localStorage, TEACHER_KEY);
  return saved && saved.code && saved.token ? saved : null;
}

// POST /api/classes, keep the token in this browser, and run the class.
export async function startClass(header) {
  const response = await fetch("/api/classes", { method: "POST" });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok || !body?.code) {
    const detail = body?.detail ? formatDetail(body.detail) : `${response.status} ${response.statusText}`;
    throw new Error(`Could not start a class: ${detail}`);
  }
  const cls = { code: body.code, token: body.token, join_url: body.join_url || `/c/${body.code}` };
  writeJson(localStorage, TEACHER_KEY, cls);
  return runTeacher(cls, header);
}

// header: {button} the header's class button, which then opens and closes the panel.
export function runTeacher(cls, header) {
  writeJson(sessionStorage, MEMBER_KEY, null); // a teacher's tab follows nobody
  document.body.dataset.classRole = "teacher";
  const ui = buildPanel(cls);
  let mode = "follow";
  let lastSent = "";
  let lastSentAt = -Infinity;
  let queued = false;
  let poll = null; // {id, question, choices} while a poll is open
  let members = { joined: 0, following: 0 };
  let answered = 0;
  const modelKeys = new WeakMap(); // model object -> {key} | {pending} | {error}

  const socket = openClassSocket(cls.code, () => ({ type: "hello", role: "teacher", token: cls.token }), {
    welcome(f) {
      if (f.state?.mode) mode = f.state.mode;
      setMembers({ members: f.members, following: f.following });
      if (f.poll) showPoll(f.poll);
      if (f.tally) showTally(f.tally);
      note("");
      lastSent = ""; // this page's view goes out at once, even if the class already had it
      schedule();
      showMode();
    },
    members: setMembers,
    tally: showTally,
    poll: (f) => showPoll(f),
    poll_closed: (f) => {
      showTally(f);
      hidePoll();
    },
    ended: () => finish("The class has ended."),
    error: (f) => note(f.detail ? formatDetail(f.detail) : "The server refused a message."),
    refused: (detail) => finish(`Class ${cls.code} is no longer running: ${detail}`),
    lost: (delay) => note(`Connection lost: reconnecting in ${Math.ceil(delay / 1000)} s…`),
  });

  // --- frames of work that runs on this page only (a training), for the students' pages ------
  // Live frames go out in batches; a student who joins mid-run is sent the run so far again
  // (a replay, its progress thinned to REPLAY_POINTS per network), which the others skip.
  let relayRun = null;
  let relayHistory = []; // this run's frames so far
  const relayQueue = [];
  let relayTimer = null;
  let replayTimer = null;
  const byteLength = (frame) => new TextEncoder().encode(JSON.stringify(frame)).length;
  setRelaySender((run, frame) => {
    if (run !== relayRun) {
      flushRelay(); // the old run's last frames first
      relayRun = run;
      relayHistory = [];
    }
    if (byteLength(frame) > RELAY_BYTES) return; // no frame of a training comes near it
    relayQueue.push(frame);
    relayHistory.push(frame);
    relayTimer ??= setTimeout(flushRelay, RELAY_GAP_MS);
  });
  // replay: 0 for live frames, else the number of the first part
  function sendFrames(frames, replay = 0) {
    for (let i = 0; i < frames.length; ) {
      const batch = [];
      let bytes = 0;
      while (i < frames.length && batch.length < RELAY_FRAMES) {
        const size = byteLength(frames[i]) + 1;
        if (batch.length && bytes + size > RELAY_BYTES) break;
        batch.push(frames[i++]);
        bytes += size;
      }
      const message = { type: "relay", run: relayRun, frames: batch };
      if (replay) message.replay = replay++;
      socket.send(message); // lost while reconnecting: a curve's gap
    }
  }
  function flushRelay() {
    clearTimeout(relayTimer);
    relayTimer = null;
    sendFrames(relayQueue.splice(0));
  }
  function replayRelay() {
    replayTimer = null;
    if (!relayHistory.length) return;
    flushRelay();
    sendFrames(thinned(relayHistory, REPLAY_POINTS), 1);
  }
  function studentJoined() {
    if (relayRun !== null) replayTimer ??= setTimeout(replayRelay, REPLAY_WAIT_MS); // one for a wave
  }

  // --- the sync -------------------------------------------------------------------------------
  function schedule() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(flush);
  }

  function flush(now) {
    queued = false;
    if (now - lastSentAt < MIN_GAP_MS) return schedule(); // the next frame sends the newest view
    const page = currentPage();
    const url = page?.url ? page.url() : location.pathname + location.search;
    if (url.length > MAX_URL) {
      return note(`This view's link is too long to share with the class (${url.length} characters, at most ${MAX_URL}).`);
    }
    const model = page?.model?.() ?? null;
    let key = null;
    if (model) {
      key = sharedModelKey(model, page.modelBody ? page.modelBody(model) : pick(model));
      if (!key) return; // sent once the model is stored (or the panel says why it cannot be)
    }
    const state = { type: "state", url, mode, playing: Boolean(page?.playing?.()), model: key };
    const signature = JSON.stringify(state);
    if (signature === lastSent) return;
    if (socket.send(state)) {
      lastSent = signature;
      lastSentAt = now;
    }
  }

  // The page's model that is not in its URL travels as a key: POST /api/models once per model.
  function sharedModelKey(model, body) {
    const known = modelKeys.get(model);
    if (known) return known.key || null;
    modelKeys.set(model, { pending: true });
    note("Sharing the model with the class…");
    fetch("/api/models", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    })
      .then(async (r) => {
        const answer = await r.json().catch(() => ({}));
        if (!r.ok || !answer.key) throw new Error(answer.detail ? formatDetail(answer.detail) : `${r.status} ${r.statusText}`);
        modelKeys.set(model, { key: answer.key });
        note("");
        schedule();
      })
      .catch((err) => {
        modelKeys.set(model, { error: err.message });
        note(`The model could not be shared (${err.message}): the class still shows the last view it had.`);
      });
    return null;
  }

  for (const name of ["replaceState", "pushState"]) {
    const original = history[name].bind(history);
    history[name] = (...args) => {
      original(...args);
      schedule();
    };
  }
  onPageChanged(schedule);
  addEventListener("popstate", schedule);

  // --- the panel --------------------------------------------------------------------------------
  // m: a members frame {members, following}, or a part of one.
  function setMembers(m) {
    if ((m.members ?? 0) > members.joined) studentJoined();
    members = { joined: m.members ?? members.joined, following: m.following ?? members.following };
    if (m.answered !== undefined) answered = m.answered;
    ui.counts.joined.textContent = String(members.joined);
    ui.counts.following.textContent = String(members.following);
    ui.counts.answered.textContent = String(poll ? answered : 0);
    ui.mini.textContent = `${members.joined} joined`;
    for (const [name, el] of Object.entries(ui.counts)) ui.countsBox.dataset[name] = el.textContent;
  }

  function showMode() {
    ui.explore.hidden = mode === "explore";
    ui.recall.hidden = mode !== "explore";
    ui.modeText.textContent = mode === "explore" ? "Students may explore on their own." : "Students follow your screen.";
  }

  function note(text) {
    ui.note.textContent = text;
  }

  function showPoll(p) {
    poll = { id: p.poll ?? p.id ?? poll?.id ?? null, question: p.question, choices: p.choices };
    ui.askForm.hidden = true;
    ui.ask.hidden = true;
    ui.live.hidden = false;
    ui.panel.dataset.polling = "true";
    ui.closePoll.hidden = false;
    ui.liveTitle.textContent = "The class answers";
    ui.liveQuestion.textContent = p.question;
    answered = 0;
    renderBars(ui.bars, tallyBars(poll.choices, []));
    setMembers({ answered: 0 });
  }

  function showTally(f) {
    if (!poll) return;
    if (f.poll !== undefined) poll.id = f.poll;
    answered = f.answered ?? answered;
    renderBars(ui.bars, tallyBars(poll.choices, f.counts));
    setMembers({ members: f.members, answered });
    ui.bars.dataset.answered = String(answered);
  }

  // The last tally stays on screen, marked final, until the next question.
  function hidePoll() {
    if (!poll) return;
    poll = null;
    ui.closePoll.hidden = true;
    ui.liveTitle.textContent = "Final answers (poll closed)";
    delete ui.panel.dataset.polling;
    ui.ask.hidden = false;
  }

  function finish(message) {
    setRelaySender(null);
    clearTimeout(relayTimer);
    clearTimeout(replayTimer);
    socket.close();
    writeJson(localStorage, TEACHER_KEY, null);
    delete document.body.dataset.classRole;
    ui.panel.remove();
    header.ended(message);
  }

  ui.minimise.addEventListener("click", () => setOpen(ui.panel.dataset.minimised === "true"));
  function setOpen(open) {
    ui.panel.dataset.minimised = String(!open);
    ui.minimise.setAttribute("aria-expanded", String(open));
    ui.minimise.textContent = open ? "Minimise" : "Show class";
    header.button.setAttribute("aria-expanded", String(open));
  }
  header.running(cls.code, () => {
    setOpen(ui.panel.dataset.minimised === "true");
    if (ui.panel.dataset.minimised === "false") ui.minimise.focus();
  });
  setOpen(true);

  ui.explore.addEventListener("click", () => {
    mode = "explore";
    showMode();
    schedule();
    ui.recall.focus();
  });
  ui.recall.addEventListener("click", () => {
    mode = "follow";
    showMode();
    socket.send({ type: "recall" });
    schedule();
    ui.explore.focus();
  });
  ui.ask.addEventListener("click", () => {
    ui.askForm.hidden = false;
    ui.preset.hidden = !stepPageForgetGate();
    ui.question.focus();
  });
  ui.preset.addEventListener("click", () => {
    const p = stepPageForgetGate();
    if (!p) return;
    ui.question.value = p.question;
    ui.choices.value = p.choices.join("\n");
  });
  ui.cancel.addEventListener("click", () => {
    ui.askForm.hidden = true;
    ui.ask.focus();
  });
  ui.askForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const question = ui.question.value.trim();
    const parsed = parseChoices(ui.choices.value);
    if (!question) return note("Type a question first.");
    if (parsed.error) return note(parsed.error);
    if (!socket.send({ type: "poll", question, choices: parsed.choices })) {
      return note("Not connected: the question was not sent. Try again in a moment.");
    }
    note("");
    showPoll({ question, choices: parsed.choices });
    ui.closePoll.focus();
  });
  // A lesson stop's question becomes the class poll (lesson.js): true once it is sent.
  globalThis.lstmxClass = {
    ask(question, choices) {
      if (!socket.send({ type: "poll", question, choices })) return false;
      showPoll({ question, choices });
      return true;
    },
  };
  ui.closePoll.addEventListener("click", () => {
    socket.send({ type: "close_poll" });
    hidePoll();
    ui.ask.focus();
  });
  ui.end.addEventListener("click", () => {
    ui.endConfirm.hidden = false;
    ui.end.hidden = true;
    ui.endYes.focus();
  });
  ui.endNo.addEventListener("click", () => {
    ui.endConfirm.hidden = true;
    ui.end.hidden = false;
    ui.end.focus();
  });
  ui.endYes.addEventListener("click", () => {
    socket.send({ type: "end" });
    finish("You ended the class.");
  });
  showMode();
}

function pick(model) {
  return Object.fromEntries(MODEL_FIELDS.filter((k) => model[k] !== undefined).map((k) => [k, model[k]]));
}

// On the step page, with an LSTM that has a forget gate: the preset for its current view.
function stepPageForgetGate() {
  const page = currentPage();
  if (location.pathname !== "/" || !page?.url) return null;
  const params = new URLSearchParams(page.url().split("?")[1] || "");
  const cell = params.get("cell") || "lstm";
  if (cell !== "lstm" || params.get("variant") === "no_forget_gate") return null;
  return forgetGatePoll(Number(params.get("t") || 0), params.get("unit") || "0");
}

function buildPanel(cls) {
  const link = new URL(cls.join_url || `/c/${cls.code}`, location.origin).href;
  const count = (name, label) => {
    const value = h("strong", { text: "0" });
    return [h("span", { class: "class-count" }, value, ` ${label}`), value];
  };
  const [joinedBox, joined] = count("joined", "joined");
  const [followingBox, following] = count("following", "following");
  const [answeredBox, answered] = count("answered", "answered");
  const ui = {
    minimise: h("button", { type: "button", class: "class-min", "aria-controls": "class-body" }),
    mini: h("span", { class: "class-mini" }),
    modeText: h("p", { class: "class-mode" }),
    explore: h("button", { type: "button", class: "primary", text: "Let the class explore" }),
    recall: h("button", { type: "button", class: "primary", text: "Bring everyone back" }),
    ask: h("button", { type: "button", text: "Ask the class" }),
    end: h("button", { type: "button", class: "class-end", text: "End class" }),
    endYes: h("button", { type: "button", class: "class-end", text: "Yes, end the class" }),
    endNo: h("button", { type: "button", text: "Keep the class" }),
    question: h("input", { id: "class-question", type: "text", maxlength: "200", autocomplete: "off" }),
    choices: h("textarea", { id: "class-choices", rows: "4", spellcheck: "false" }),
    preset: h("button", { type: "button", text: "Forget gate at this step" }),
    cancel: h("button", { type: "button", text: "Cancel" }),
    liveQuestion: h("p", { class: "class-question-text" }),
    bars: h("div", { class: "tally", role: "group", "aria-label": "Answers so far" }),
    closePoll: h("button", { type: "button", text: "Close poll" }),
    liveTitle: h("h3", { text: "The class answers" }),
    note: h("p", { class: "class-note", role: "status", "aria-live": "polite" }),
    counts: { joined, following, answered },
  };
  ui.link = h("p", { class: "class-link" });
  ui.setLink = (url) => {
    const cut = url.indexOf("/c/");
    // the line may break after the host, never inside it
    ui.link.replaceChildren(h("span", { text: url.slice(0, cut) }), h("wbr"), h("span", { text: url.slice(cut) }));
    ui.qr.alt = `QR code of the join link ${url}`;
  };
  ui.countsBox = h("p", { class: "class-counts", "aria-live": "polite" }, joinedBox, followingBox, answeredBox);
  ui.endConfirm = h("div", { class: "class-actions", hidden: true }, ui.endYes, ui.endNo);
  ui.askForm = h(
    "form",
    { class: "class-ask", hidden: true, "aria-label": "Ask the class" },
    h("label", { for: "class-question", text: "Question" }),
    ui.question,
    h("label", { for: "class-choices", text: "Choices, one per line (2 to 4)" }),
    ui.choices,
    h("div", { class: "class-actions" }, h("button", { type: "submit", class: "primary", text: "Ask" }), ui.preset, ui.cancel),
  );
  ui.live = h(
    "div",
    { class: "class-live", hidden: true },
    ui.liveTitle,
    ui.liveQuestion,
    ui.bars,
    h("div", { class: "class-actions" }, ui.closePoll),
  );
  ui.qr = h("img", {
    class: "class-qr",
    src: `/api/classes/${encodeURIComponent(cls.code)}/qr.svg`,
    alt: `QR code of the join link ${link}`,
    width: "200",
    height: "200",
  });
  ui.panel = h(
    "section",
    { class: "class-panel", id: "class-panel", "aria-labelledby": "class-panel-title" },
    h(
      "div",
      { class: "class-head" },
      h("h2", { id: "class-panel-title" }, "Class ", h("span", { class: "class-code-small", text: cls.code })),
      ui.mini,
      ui.minimise,
    ),
    h(
      "div",
      { class: "class-body", id: "class-body" },
      h(
        "div",
        { class: "class-join" },
        h("p", { class: "class-label", text: "Join with the code" }),
        h("p", { class: "class-code", "data-class-code": cls.code, text: cls.code }),
        h(
          "div",
          { class: "class-join-row" },
          h("div", {}, h("p", { class: "class-label", text: "or open the link, or scan it" }),
            ui.link),
          ui.qr,
        ),
      ),
      ui.countsBox,
      ui.modeText,
      h("div", { class: "class-actions" }, ui.explore, ui.recall, ui.ask, ui.end),
      ui.endConfirm,
      ui.askForm,
      ui.live,
      ui.note,
    ),
  );
  document.body.append(ui.panel);
  ui.setLink(link);
  // The server knows the link students can open (its LAN address when this page is on loopback).
  fetch(`/api/classes/${encodeURIComponent(cls.code)}`)
    .then((r) => (r.ok ? r.json() : null))
    .then((body) => body?.join_link && ui.setLink(body.join_link))
    .catch(() => {}); // the link from this page's own address stays
  return ui;
}
