// The teacher's class panel: a strip docked at the bottom of the window, which the page makes
// room for (class-dom.js dock), never over the lesson, the controls or the charts. It holds the
// code, the link, the counts and the actions; minimised (kept per tab across pages and reloads)
// it is one slim line. The large code, link and QR code for the room open on demand ("Show the
// code") and stay until the teacher closes them. Only the DOM: class-teacher.js drives it.

import { dock, h } from "./class-dom.js";

const MINIMISED_KEY = "lstmx.class.minimised"; // sessionStorage: "1" while minimised
const SERVE = "make run HOST=0.0.0.0";
const SERVE_CLI = "lstm-explainer serve --host 0.0.0.0";

export function buildPanel(cls) {
  const link = new URL(cls.join_url || `/c/${cls.code}`, location.origin).href;
  const count = (label) => {
    const value = h("strong", { text: "0" });
    return [h("span", { class: "class-count" }, value, ` ${label}`), value];
  };
  const [joinedBox, joined] = count("joined");
  const [followingBox, following] = count("following");
  const [answeredBox, answered] = count("answered");
  const ui = {
    minimise: h("button", { type: "button", class: "class-min", "aria-controls": "class-panel" }),
    mini: h("span", { class: "class-mini" }),
    modeText: h("p", { class: "class-mode" }),
    explore: h("button", { type: "button", class: "primary", text: "Let the class explore" }),
    recall: h("button", { type: "button", class: "primary", text: "Bring everyone back" }),
    ask: h("button", { type: "button", text: "Ask the class" }),
    showCode: h("button", { type: "button", "aria-haspopup": "dialog", text: "Show the code" }),
    end: h("button", { type: "button", class: "class-end", text: "End class" }),
    endYes: h("button", { type: "button", class: "class-end", text: "Yes, end the class" }),
    endNo: h("button", { type: "button", text: "Keep the class" }),
    takeOver: h("button", { type: "button", class: "primary", text: "Take over the class here" }),
    viewerText: h("p", { class: "class-viewer-text", text: "Another tab of this browser drives the class: what you do here stays on this screen until you take over." }),
    question: h("input", { id: "class-question", type: "text", maxlength: "200", autocomplete: "off" }),
    choices: h("textarea", { id: "class-choices", rows: "3", spellcheck: "false" }),
    preset: h("button", { type: "button", text: "Forget gate at the next step" }),
    cancel: h("button", { type: "button", text: "Cancel" }),
    liveQuestion: h("p", { class: "class-question-text" }),
    bars: h("div", { class: "tally", role: "group", "aria-label": "Answers so far" }),
    closePoll: h("button", { type: "button", text: "Close poll" }),
    liveTitle: h("h3", { text: "The class answers" }),
    note: h("p", { class: "class-note", role: "status", "aria-live": "polite" }),
    reach: h("p", { class: "class-reach", hidden: true }),
    counts: { joined, following, answered },
    link: h("p", { class: "class-link" }),
    bigLink: h("p", { class: "class-big-link" }),
  };
  ui.countsBox = h("p", { class: "class-counts", "aria-live": "polite" }, joinedBox, followingBox, answeredBox);
  ui.endConfirm = h("div", { class: "class-actions", hidden: true }, ui.endYes, ui.endNo);
  ui.askForm = h(
    "form",
    { class: "class-ask", hidden: true, "aria-label": "Ask the class" },
    h("div", {}, h("label", { for: "class-question", text: "Question" }), ui.question),
    h("div", {}, h("label", { for: "class-choices", text: "Choices, one per line (2 to 4)" }), ui.choices),
    h("div", { class: "class-actions" }, h("button", { type: "submit", class: "primary", text: "Ask" }), ui.preset, ui.cancel),
  );
  ui.live = h("div", { class: "class-live", hidden: true }, h("div", {}, ui.liveTitle, ui.liveQuestion), ui.bars,
    h("div", { class: "class-actions" }, ui.closePoll));
  ui.qr = h("img", {
    class: "class-qr",
    src: `/api/classes/${encodeURIComponent(cls.code)}/qr.svg`,
    alt: `QR code of the join link ${link}`,
    width: "480",
    height: "480",
  });
  ui.closeCode = h("button", { type: "button", class: "primary", text: "Close" });
  ui.codeView = h(
    "div",
    { class: "class-code-view class-ui", role: "dialog", "aria-modal": "true", "aria-labelledby": "class-code-title", hidden: true },
    h(
      "div",
      { class: "class-code-card" },
      h("div", { class: "class-code-words" },
        h("h2", { id: "class-code-title", text: "Join the class" }),
        h("p", { class: "class-label", text: "Type the code at /join" }),
        h("p", { class: "class-code-big", text: cls.code }),
        h("p", { class: "class-label", text: "or open the link, or scan the code" }),
        ui.bigLink,
        ui.closeCode),
      ui.qr,
    ),
  );
  ui.panel = h(
    "section",
    { class: "class-panel class-ui", id: "class-panel", "aria-labelledby": "class-panel-title", "data-class-reachable": "unknown" },
    h(
      "div",
      { class: "class-strip" },
      h("h2", { id: "class-panel-title" }, "Class ",
        h("span", { class: "class-code", "data-class-code": cls.code, text: cls.code })),
      ui.link,
      ui.countsBox,
      ui.mini,
      ui.modeText,
      h("div", { class: "class-actions class-drive" }, ui.explore, ui.recall, ui.ask, ui.showCode, ui.end),
      h("div", { class: "class-actions class-view" }, ui.viewerText, ui.takeOver),
      ui.minimise,
    ),
    h("div", { class: "class-body", id: "class-body" }, ui.reach, ui.endConfirm, ui.askForm, ui.live, ui.note),
  );
  document.body.append(ui.panel, ui.codeView);
  ui.undock = dock(ui.panel);
  ui.setLink = (url) => {
    for (const box of [ui.link, ui.bigLink]) {
      const cut = url.indexOf("/c/");
      // the line may break before the code's path, never inside the host
      box.replaceChildren(h("span", { class: "nowrap", text: url.slice(0, cut) }), h("wbr"), h("span", { class: "nowrap", text: url.slice(cut) }));
    }
    ui.qr.alt = `QR code of the join link ${url}`;
  };
  ui.setLink(link);

  // The class's model cannot be had: said on the panel, and the page dimmed (never another model).
  ui.showMissing = (detail) => {
    let box = ui.panel.querySelector(".class-missing");
    if (!box && detail) {
      box = h("p", { class: "class-missing", role: "alert" });
      ui.panel.querySelector(".class-body").prepend(box);
    }
    if (!box) return;
    box.hidden = !detail;
    document.body.classList.toggle("class-stale", Boolean(detail));
    box.textContent = detail
      ? `The class's model could not be loaded (${detail}). This page does not show it, and the class is not switched to other weights: open or train the model again.`
      : "";
  };

  // minimised: kept per tab (sessionStorage), across the teacher's pages and reloads
  ui.setOpen = (open, header) => {
    ui.panel.dataset.minimised = String(!open);
    ui.minimise.setAttribute("aria-expanded", String(open));
    ui.minimise.textContent = open ? "Minimise" : "Show class";
    header?.button.setAttribute("aria-expanded", String(open));
    try {
      if (open) sessionStorage.removeItem(MINIMISED_KEY);
      else sessionStorage.setItem(MINIMISED_KEY, "1");
    } catch {
      // storage disabled: this page only
    }
  };
  ui.wasMinimised = () => {
    try {
      return sessionStorage.getItem(MINIMISED_KEY) === "1";
    } catch {
      return false;
    }
  };

  // the large code for the room: on demand, closed by the teacher (Close or Escape)
  let opener = null;
  ui.openCode = () => {
    opener = document.activeElement;
    ui.codeView.hidden = false;
    ui.closeCode.focus();
  };
  ui.closeCodeView = () => {
    ui.codeView.hidden = true;
    (opener instanceof HTMLElement ? opener : ui.showCode).focus();
  };
  ui.showCode.addEventListener("click", ui.openCode);
  ui.closeCode.addEventListener("click", ui.closeCodeView);
  ui.codeView.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") ui.closeCodeView();
    if (ev.key === "Tab") {
      ev.preventDefault(); // one control in the dialog: focus stays on it
      ui.closeCode.focus();
    }
  });

  // The server knows the link students can open (its LAN address when this page is on
  // loopback) and whether it listens there at all.
  fetch(`/api/classes/${encodeURIComponent(cls.code)}`)
    .then((r) => (r.ok ? r.json() : null))
    .then((body) => {
      if (!body) return;
      if (body.join_link) ui.setLink(body.join_link);
      showReach(ui, body.reachable === true);
    })
    .catch(() => {}); // the link from this page's own address stays
  return ui;
}

function showReach(ui, reachable) {
  ui.panel.dataset.classReachable = String(reachable);
  ui.reach.hidden = reachable;
  if (reachable) return;
  ui.reach.replaceChildren(
    h("strong", { text: "Students cannot open this link: " }),
    "the server listens on this computer only. Serve the room with ",
    h("code", { text: SERVE }),
    " or ",
    h("code", { text: SERVE_CLI }),
    ".",
  );
}
