// The teacher's side of a class: the sync (every change of the page's URL state, and every
// step of its player, goes out as a state, at most one per animation frame), the roles (one
// tab of the teacher's browser drives; another is a viewer until it takes over), the model
// kept with the class by key (a reload restores it), polls and their tally. The panel's DOM is
// class-panel.js; the relay of a training, class-relay.js.

import { formatDetail } from "./api.js";
import { guardTab, readJson, renderBars, setHidden, tabId, writeJson } from "./class-dom.js";
import { buildPanel } from "./class-panel.js";
import { startRelay } from "./class-relay.js";
import { fetchModel, modelSharer } from "./class-models.js";
import { openClassSocket } from "./class-socket.js";
import { forgetGatePoll, parseChoices, splitUrl, tallyBars } from "./class-state.js";
import { MEMBER_KEY, currentPage, onPageChanged } from "./pagelink.js";

export const TEACHER_KEY = "lstmx.class.teacher"; // localStorage: {code, token, join_url}
const ROLE_KEY = "lstmx.class.role"; // sessionStorage: this tab's role on its last page
const MAX_URL = 4096; // the server's cap on a state's url
// POST /api/models takes a model as /api/trace does; a page that knows its model's fields
// better says so (modelBody), others send these.
const MODEL_FIELDS = ["cell", "input_size", "hidden_size", "num_layers", "variant", "output_size", "init", "weights"];
const MIN_GAP_MS = 1000 / 32; // at most ~30 states a second: a 30 steps/s play, under the server's rate cap

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
  const tab = tabId();
  const ui = buildPanel(cls);
  let role = "pending"; // until the welcome says whether this tab drives (nothing is sent before)
  let mode = "follow";
  let lastSent = "";
  let lastSentAt = -Infinity;
  let queued = false;
  let poll = null; // {id, question, choices} while a poll is open
  let members = { joined: 0, following: 0 };
  let answered = 0;
  let confirmed = false; // the server has said which role this tab has
  let tabChecked = false; // no other page of this browser holds this tab's id
  let restoring = false; // fetching the class's model after a reload: no state goes out
  let inherited = null; // {key, path}: the class's model, which this page could not load
  let presetHide = null; // {question, hide} of the preset in the ask form
  const models = modelSharer(note, () => schedule());
  setRole(lastRole() || "pending"); // shown as it was on this tab's last page: no flicker

  const socket = openClassSocket(cls.code, () => ({ type: "hello", role: "teacher", token: cls.token, tab }), {
    welcome(f) {
      if (f.state?.mode) mode = f.state.mode;
      setMembers({ members: f.members, following: f.following });
      if (f.poll) showPoll(f.poll);
      else hidePoll();
      if (f.tally) showTally(f.tally);
      note("");
      confirmed = true;
      setRole(f.role === "teacher" ? "teacher" : "viewer");
      restore(f.state);
      lastSent = ""; // this page's view goes out at once, even if the class already had it
      schedule();
      showMode();
    },
    driver(f) {
      setRole(f.tab === tab ? "teacher" : "viewer");
      lastSent = "";
      schedule();
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
  // a duplicated tab is not the driving tab: it rejoins under a fresh id, as a viewer; nothing
  // is sent until this tab's id is known to be its own
  guardTab(tab, () => location.reload()).then(() => {
    tabChecked = true;
    schedule();
  });
  const relay = startRelay((message) => role === "teacher" && tabChecked && socket.send(message), cls);

  function setRole(next) {
    role = next;
    document.body.dataset.classRole = role === "pending" ? "teacher" : role;
    ui.panel.dataset.role = role;
    if (role !== "pending") {
      try {
        sessionStorage.setItem(ROLE_KEY, role);
      } catch {
        // storage disabled: the panel waits for the welcome on each page
      }
    }
  }

  // --- the sync -------------------------------------------------------------------------------
  function schedule() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(flush);
  }

  function flush(now) {
    queued = false;
    if (role !== "teacher" || !confirmed || !tabChecked || restoring) return;
    if (now - lastSentAt < MIN_GAP_MS) return schedule(); // the next frame sends the newest view
    const page = currentPage();
    const url = page?.url ? page.url() : location.pathname + location.search;
    if (url.length > MAX_URL) {
      return note(`This view's link is too long to share with the class (${url.length} characters, at most ${MAX_URL}).`);
    }
    const model = page?.model?.() ?? null;
    let key = null;
    if (model) {
      key = models.keyFor(model, page.modelBody ? page.modelBody(model) : pick(model));
      if (!key) return; // sent once the model is stored (or the panel says why it cannot be)
    } else if (inherited && inherited.path === location.pathname) {
      key = inherited.key; // gone from the server: the class keeps saying so, never seeded weights
    }
    const state = { type: "state", url, mode, playing: Boolean(page?.playing?.()), model_key: key };
    const signature = JSON.stringify(state);
    if (signature === lastSent) return;
    if (socket.send(state)) {
      lastSent = signature;
      lastSentAt = now;
    }
  }

  // A reload (or a new page of the driving tab at the class's URL) shows the class's model: the
  // state names it by key, and this page, which no longer has it, fetches it and applies it.
  function restore(state) {
    const page = currentPage();
    const there = splitUrl(state?.url);
    if (!state?.model_key || !page?.apply || !there || there.path !== location.pathname) return;
    if (page.model?.()) return; // the page kept its own model (it is the class's, or newer)
    const key = state.model_key;
    restoring = true;
    fetchModel(key)
      .then((model) => {
        models.known(model, key);
        ui.showMissing("");
        const search = (page.url ? page.url() : location.search).split("?")[1] || "";
        page.apply(search, { model, playing: false });
      })
      .catch((err) => {
        inherited = { key, path: there.path };
        ui.showMissing(err.message);
      })
      .finally(() => {
        restoring = false;
        schedule();
      });
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
    if ((m.members ?? 0) > members.joined) relay.joined();
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
    ui.closePoll.textContent = p.hide?.length ? "Close poll and reveal" : "Close poll";
    ui.liveTitle.textContent = "The class answers";
    ui.liveQuestion.textContent = p.question;
    setHidden(p.hide);
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

  // The last tally stays on screen, marked final, until the next question; what the question
  // hid is shown again.
  function hidePoll() {
    setHidden([]);
    if (!poll) return;
    poll = null;
    ui.closePoll.hidden = true;
    ui.liveTitle.textContent = "Final answers (poll closed)";
    delete ui.panel.dataset.polling;
    ui.ask.hidden = false;
  }

  function sendPoll(question, choices, hide = []) {
    const message = { type: "poll", question, choices };
    if (hide.length) message.hide = hide;
    if (!socket.send(message)) return false;
    showPoll(message);
    return true;
  }

  function finish(message) {
    relay.stop();
    socket.close();
    writeJson(localStorage, TEACHER_KEY, null);
    delete document.body.dataset.classRole;
    setHidden([]);
    ui.undock();
    ui.panel.remove();
    ui.codeView.remove();
    header.ended(message);
  }

  ui.minimise.addEventListener("click", () => ui.setOpen(ui.panel.dataset.minimised === "true", header));
  header.running(cls.code, () => {
    ui.setOpen(ui.panel.dataset.minimised === "true", header);
    if (ui.panel.dataset.minimised === "false") ui.minimise.focus();
  });
  ui.setOpen(!ui.wasMinimised(), header);

  ui.takeOver.addEventListener("click", () => {
    if (!socket.send({ type: "take_over" })) note("Not connected: try again in a moment.");
  });
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
    presetHide = { question: p.question, hide: p.hide };
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
    const hide = presetHide?.question === question ? presetHide.hide : [];
    if (!sendPoll(question, parsed.choices, hide)) {
      return note("Not connected: the question was not sent. Try again in a moment.");
    }
    note("");
    ui.closePoll.focus();
  });
  // A lesson stop's question becomes the class poll (lesson.js): true once it is sent.
  globalThis.lstmxClass = {
    ask(question, choices, hide = []) {
      return role === "teacher" && confirmed && tabChecked && sendPoll(question, choices, hide);
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

function lastRole() {
  try {
    const role = sessionStorage.getItem(ROLE_KEY);
    return role === "teacher" || role === "viewer" ? role : null;
  } catch {
    return null;
  }
}

function pick(model) {
  return Object.fromEntries(MODEL_FIELDS.filter((k) => model[k] !== undefined).map((k) => [k, model[k]]));
}

// On the step page, with an LSTM that has a forget gate: the preset asks about the next step
// (the one shown would give the answer away), or the one before at the last step.
function stepPageForgetGate() {
  const page = currentPage();
  if (location.pathname !== "/" || !page?.url) return null;
  const params = new URLSearchParams(page.url().split("?")[1] || "");
  const cell = params.get("cell") || "lstm";
  if (cell !== "lstm" || params.get("variant") === "no_forget_gate") return null;
  const steps = globalThis.lstmExplainer?.trace?.steps ?? Infinity;
  return forgetGatePoll(Number(params.get("t") || 0), params.get("unit") || "0", steps);
}
