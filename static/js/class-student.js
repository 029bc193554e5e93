// A student's side of a class: follow the teacher's page and URL state through the page's own
// apply() (or navigate to the teacher's page and rejoin there), keep the controls from
// diverging while following, explore when the teacher allows it, answer polls with one tap,
// leave. Class membership lives in sessionStorage, so a navigation rejoins by itself.

import { formatDetail } from "./api.js";
import { dock, h, randomHex, readJson, setHidden, writeJson } from "./class-dom.js";
import { fetchModel } from "./class-models.js";
import { openClassSocket } from "./class-socket.js";
import { followAction, splitUrl } from "./class-state.js";
import { MEMBER_KEY, currentPage, joiningClass } from "./pagelink.js";

// What a student may not touch while following: the page's controls, charts and links.
const CONTROLS = "button, a[href], input, select, textarea, .chart, [role='slider'], [tabindex]:not(main)";
const PLAYER_KEYS = new Set([" ", "ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "Enter"]);
const FREE_KEYS = new Set(["Tab", "Shift", "Control", "Alt", "Meta", "Escape", "PageUp", "PageDown"]);

// exploring: this tab was exploring on its own when it left its last page.
export function runStudent(code, { onJoinPage = null, exploring = false } = {}) {
  document.body.dataset.classRole = "student";
  const ui = buildBar(code);
  let status = exploring ? "exploring" : "following";
  let mode = exploring ? "explore" : "follow";
  let latest = null; // the teacher's last state
  let started = Boolean(currentPage()) && !joiningClass(); // the page showed its own view
  // This tab's id in the class, kept with its membership: a page change is the same student
  const kept = readJson(sessionStorage, MEMBER_KEY);
  const id = kept?.code === code && /^[0-9a-f]{32}$/.test(kept.id ?? "") ? kept.id : randomHex();
  writeJson(sessionStorage, MEMBER_KEY, { code, exploring, id });
  let appliedModel = null; // the model key the page shows (null: its own seeded model)
  let navigating = false;
  let poll = null;
  const models = new Map(); // key -> {pending} | {model} | {error}

  const socket = openClassSocket(code, () => ({ type: "hello", role: "student", member: id }), {
    welcome(f) {
      say(following());
      ui.back.hidden = status !== "exploring";
      if (status !== "following") {
        socket.send({ type: "status", following: false });
        startSolo();
      }
      if (f.poll) showPoll(f.poll);
      if (f.poll && f.answer !== null && f.answer !== undefined) answered(f.poll.poll, f.answer); // before this page
      if (f.state && f.state.url) onState(f.state);
      else {
        onJoinPage?.waiting();
        startSolo();
      }
    },
    state: onState,
    relay: (f) => {
      if (status === "following" && !navigating) currentPage()?.relay?.(f);
    },
    poll: showPoll,
    answered: (f) => answered(f.poll, f.choice),
    poll_closed: hidePoll,
    close_poll: hidePoll,
    ended: () => end("The teacher ended the class. You can keep exploring on your own."),
    error: (f) => say(f.detail ? formatDetail(f.detail) : "The class refused a message."),
    refused(detail) {
      onJoinPage?.refused(detail);
      end(`Could not follow class ${code}: ${detail}`);
    },
    lost: (delay) => say(`Connection to the class lost: reconnecting in ${Math.ceil(delay / 1000)} s…`),
  });

  function onState(st) {
    latest = st;
    mode = st.mode === "explore" ? "explore" : "follow";
    document.body.dataset.classMode = mode;
    document.body.dataset.classPlaying = String(Boolean(st.playing));
    if (mode === "follow" && status === "exploring") setStatus("following"); // the teacher took the class back
    if (status === "following" && ui.text.textContent !== following()) say(following());
    follow(st);
  }

  function follow(st) {
    if (!st || status !== "following" || navigating) return;
    const there = splitUrl(st.url);
    if (!there) return;
    const page = currentPage();
    const search = (page?.url ? page.url() : location.search).split("?")[1] || "";
    const here = { path: location.pathname, search, model: appliedModel };
    const action = followAction(here, st);
    // another page, or one that cannot apply a URL state itself: load the teacher's URL. Another
    // stop of this lesson on the same page is shown in place (no reload).
    const inPlace = action === "stop" && page && globalThis.lstmxLesson?.canShow?.(there.path);
    if ((action === "navigate" || action === "stop") && !inPlace) {
      navigating = true;
      location.assign(st.url);
      return;
    }
    if (!page) {
      if (`${location.pathname}${location.search}` !== st.url) {
        navigating = true;
        location.assign(st.url);
      }
      return;
    }
    let model = null;
    if (st.model_key) {
      const got = models.get(st.model_key) ?? fetchOnce(st.model_key);
      if (got.pending) return; // follow(latest) again when it arrives
      if (got.error) return showMissing(got.error);
      model = got.model;
    }
    showMissing("");
    if (started && action === "none") return;
    started = true;
    appliedModel = st.model_key ?? null;
    if (inPlace) history.replaceState(null, "", st.url); // the page writes its state under this path
    page.apply(there.search, { model, playing: Boolean(st.playing) });
    if (inPlace) globalThis.lstmxLesson.showPath(there.path); // its numbers read the new view
  }

  // GET /api/models/{key} once per key; a model that cannot be had is said, never replaced.
  function fetchOnce(key) {
    const entry = { pending: true };
    models.set(key, entry);
    fetchModel(key)
      .then((model) => models.set(key, { model }))
      .catch((err) => models.set(key, { error: err.message }))
      .finally(() => follow(latest));
    return entry;
  }

  function showMissing(detail) {
    ui.missing.hidden = !detail;
    document.body.classList.toggle("class-stale", Boolean(detail));
    ui.missing.textContent = detail
      ? `The teacher's model could not be loaded (${detail}), so this page cannot show the teacher's view. ` +
        "What you see is not the teacher's model: ask the teacher to share it again."
      : "";
  }

  // The page starts with its own URL state when there is no teacher's view to show.
  function startSolo() {
    const page = currentPage();
    if (started || !page) return;
    started = true;
    page.apply(location.search.slice(1), { model: null, playing: false });
  }

  function following() {
    if (status === "exploring") return "Exploring on your own.";
    const playing = latest?.playing ? " The teacher is playing it." : "";
    return mode === "explore"
      ? `Following the teacher.${playing} You may explore: change anything.`
      : `Following the teacher's screen.${playing}`;
  }

  function say(text) {
    ui.text.textContent = text;
  }

  function setStatus(next) {
    if (next === status) return;
    status = next;
    writeJson(sessionStorage, MEMBER_KEY, { code, exploring: status === "exploring", id }); // kept across pages
    document.body.dataset.classStatus = status;
    ui.back.hidden = status !== "exploring";
    say(following());
    socket.send({ type: "status", following: status === "following" });
  }

  // --- following: the page's controls do not diverge; with explore allowed, touching one explores
  function guard(ev) {
    if (status !== "following" || !currentPage()) return;
    const target = ev.target instanceof Element ? ev.target : null;
    if (target?.closest(".class-ui")) return;
    const control = target?.closest(CONTROLS);
    const inPage = control && control.closest("main, .site-header");
    if (ev.type === "keydown") {
      if (FREE_KEYS.has(ev.key) || ev.altKey || ev.ctrlKey || ev.metaKey) return;
      if (!inPage && !PLAYER_KEYS.has(ev.key)) return;
    } else if (!inPage) return;
    if (mode === "explore") {
      setStatus("exploring");
      return;
    }
    ev.stopImmediatePropagation();
    if (ev.type === "keydown" && !inPage) return; // the page still scrolls
    ev.preventDefault();
    say("Following the teacher's screen: the teacher moves this view.");
  }
  for (const type of ["keydown", "pointerdown", "mousedown", "touchstart", "click", "beforeinput", "input", "change"]) {
    addEventListener(type, guard, { capture: true, passive: false });
  }

  // --- polls: a compact part of the dock; the question gets the focus, never a choice ----------
  function showPoll(p) {
    poll = { id: p.poll ?? p.id ?? null, choices: p.choices || [] };
    ui.pollQuestion.textContent = p.question || "";
    ui.pollNote.textContent = "Tap your answer.";
    ui.pollChoices.replaceChildren(
      ...poll.choices.map((label, k) =>
        h("button", { type: "button", class: "poll-choice", "aria-pressed": "false", "data-choice": k, text: label,
          onclick: () => answer(k) }),
      ),
    );
    setHidden(p.hide);
    collapse(false);
    ui.pollFold.hidden = true;
    delete ui.poll.dataset.answered;
    ui.poll.hidden = false;
    // the question is read first (a screen reader, a keyboard), unless the student is busy
    if (!document.activeElement || document.activeElement === document.body) {
      ui.pollQuestion.focus({ preventScroll: true });
    }
  }

  function answer(k) {
    if (!poll) return;
    if (!socket.send({ type: "answer", poll: poll.id, choice: k })) {
      ui.pollNote.textContent = "Not connected: your answer was not sent. Tap again in a moment.";
      return;
    }
    ui.pollNote.textContent = "Sending…";
  }

  // The server's receipt: only then is the answer shown as counted.
  function answered(id, k) {
    if (!poll || id !== poll.id) return;
    for (const b of ui.pollChoices.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.choice === String(k)));
    ui.poll.dataset.answered = "1";
    ui.pollNote.textContent = `Your answer: ${poll.choices[k]}. Tap another to change it.`;
    ui.pollFolded.textContent = `You answered “${poll.choices[k]}”.`;
    ui.pollFold.hidden = false;
  }

  // After answering, the student may fold the question away (one line stays in the dock).
  function collapse(folded) {
    ui.poll.dataset.folded = String(folded);
    ui.pollFold.textContent = folded ? "Show the question" : "Hide the question";
    ui.pollFold.setAttribute("aria-expanded", String(!folded));
  }
  ui.pollFold.addEventListener("click", () => collapse(ui.poll.dataset.folded !== "true"));

  function hidePoll() {
    poll = null;
    ui.poll.hidden = true;
    delete ui.poll.dataset.answered;
    setHidden([]);
  }

  // --- leaving and ending -------------------------------------------------------------------------
  function end(message) {
    socket.close();
    writeJson(sessionStorage, MEMBER_KEY, null);
    for (const type of ["keydown", "pointerdown", "mousedown", "touchstart", "click", "beforeinput", "input", "change"]) {
      removeEventListener(type, guard, { capture: true });
    }
    document.body.dataset.classStatus = "left";
    delete document.body.dataset.classRole;
    delete document.body.dataset.classMode;
    delete document.body.dataset.classPlaying;
    hidePoll();
    showMissing("");
    ui.back.hidden = true;
    ui.leave.hidden = true;
    ui.dismiss.hidden = false;
    say(message);
    startSolo();
  }

  ui.back.addEventListener("click", () => {
    setStatus("following");
    follow(latest);
  });
  ui.leave.addEventListener("click", () => end(`You left class ${code}. Everything here is yours to change.`));
  ui.dismiss.addEventListener("click", () => {
    ui.undock();
    ui.dock.remove();
    delete document.body.dataset.classRole;
  });
  document.body.dataset.classStatus = status;
}

function buildBar(code) {
  const ui = {
    text: h("p", { class: "class-bar-text", role: "status", "aria-live": "polite", text: "Connecting…" }),
    back: h("button", { type: "button", class: "primary", hidden: true, text: "Back to the class view" }),
    leave: h("button", { type: "button", text: "Leave the class" }),
    dismiss: h("button", { type: "button", hidden: true, text: "Close" }),
    missing: h("p", { class: "class-missing", role: "alert", hidden: true }),
    pollQuestion: h("p", { class: "poll-question", id: "poll-question", tabindex: "-1" }),
    pollChoices: h("div", { class: "poll-choices", role: "group", "aria-labelledby": "poll-question" }),
    pollNote: h("p", { class: "poll-note", "aria-live": "polite" }),
    pollFolded: h("p", { class: "poll-folded" }),
    pollFold: h("button", { type: "button", class: "poll-fold", hidden: true, "aria-controls": "poll-body" }),
  };
  ui.poll = h(
    "section",
    { class: "class-poll", "aria-labelledby": "poll-title", hidden: true },
    h("div", { class: "poll-head" }, h("h2", { id: "poll-title", text: "The teacher asks" }), ui.pollFolded, ui.pollFold),
    h("div", { class: "poll-body", id: "poll-body" }, ui.pollQuestion, ui.pollChoices, ui.pollNote),
  );
  ui.bar = h(
    "section",
    { class: "class-bar", "aria-label": `Class ${code}` },
    h("p", { class: "class-bar-code" }, "Class ", h("strong", { text: code })),
    ui.text,
    h("div", { class: "class-actions" }, ui.back, ui.leave, ui.dismiss),
  );
  ui.dock = h("div", { class: "class-dock class-ui" }, ui.missing, ui.poll, ui.bar);
  document.body.append(ui.dock);
  ui.undock = dock(ui.dock);
  return ui;
}
