// A few DOM helpers for the class and lesson panels and the step page (no HTML strings: text
// is always text).

// h("button", {type: "button", class: "big"}, "Join") -> an element.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  el.append(...children.filter((c) => c !== null && c !== undefined));
  return el;
}

// Bars of a tally: one row per choice, its label, a bar as wide as its share, and the count
// written out (the bar is never the only carrier of the number).
export function renderBars(box, bars) {
  box.replaceChildren(
    ...bars.map(({ label, count, share }) => {
      const bar = h("span", { class: "tally-bar" });
      bar.style.width = `${Math.round(share * 100)}%`; // CSSOM: no inline style attribute
      return h(
        "div",
        { class: "tally-row" },
        h("span", { class: "tally-label", text: label }),
        h("span", { class: "tally-track", "aria-hidden": "true" }, bar),
        h("span", { class: "tally-count", "data-count": count, text: String(count) }),
      );
    }),
  );
}

export function readJson(storage, key) {
  try {
    return JSON.parse(storage.getItem(key) || "null");
  } catch {
    return null;
  }
}

export function writeJson(storage, key, value) {
  try {
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, JSON.stringify(value));
  } catch {
    // storage disabled: the class lasts as long as this page
  }
}

// Text with "10^−7" written as a real superscript (text nodes only, never HTML).
export function withPowers(el, text) {
  const parts = text.split(/\^(−?\d+)/);
  el.replaceChildren(...parts.map((p, k) => {
    if (k % 2 === 0) return document.createTextNode(p);
    const sup = document.createElement("sup");
    sup.textContent = p;
    return sup;
  }));
}

// A class's docked element (the teacher's strip, a student's bar and poll) sits at the bottom
// of the window; the page makes room for it: --class-dock on the root is its height, which the
// body's padding and the lesson panel's scrolling read. Never over the page, at any size.
export function dock(el) {
  const root = document.documentElement;
  const set = () => {
    root.style.setProperty("--class-dock", `${Math.ceil(el.getBoundingClientRect().height)}px`);
    window.dispatchEvent(new Event("lstmx:dock"));
  };
  new ResizeObserver(set).observe(el);
  set();
  document.body.classList.add("has-class-dock");
  return () => {
    root.style.removeProperty("--class-dock");
    document.body.classList.remove("has-class-dock");
  };
}

// While a poll about a quantity is open, every screen hides its value and reading
// (class.css does, by body[data-class-hide~="i"]) until the teacher closes the poll.
export function setHidden(list) {
  const words = (list || []).filter((q) => /^[ifgorznch]$/.test(q));
  if (words.length) document.body.dataset.classHide = words.join(" ");
  else delete document.body.dataset.classHide;
}

// This tab's id, kept across its pages and reloads (sessionStorage): the class knows which
// tab of the teacher's browser drives it.
export function tabId(key = "lstmx.class.tab") {
  let id = null;
  try {
    id = sessionStorage.getItem(key);
  } catch {
    id = null;
  }
  if (!/^[0-9a-f]{32}$/.test(id ?? "")) {
    id = randomHex();
    try {
      sessionStorage.setItem(key, id);
    } catch {
      // storage disabled: a tab id for this page only
    }
  }
  return id;
}

// A duplicated tab ("Duplicate tab" copies sessionStorage) would share this tab's id. Where the
// page has Web Locks (a secure context: localhost or https) each page holds a lock named by its
// id for as long as it lives: a lock another page holds is a duplicate, whatever that page is
// busy with; a reload's page before lets go as it unloads (waited for up to RELOAD_MS). Elsewhere
// the page asks the others over a BroadcastChannel and the older answers; an answer that comes
// late still counts. A duplicate takes a fresh id (onTaken(newId)). Resolves when the id is this
// tab's alone; never for a duplicate.
const CHECK_MS = 150;
const RELOAD_MS = 3000;
export async function guardTab(id, onTaken, key = "lstmx.class.tab") {
  const retake = () => {
    const fresh = randomHex();
    try {
      sessionStorage.setItem(key, fresh);
    } catch {
      // storage disabled: this page only
    }
    onTaken(fresh);
    return new Promise(() => {});
  };
  if (globalThis.navigator?.locks?.request) {
    const name = `lstmx.class.tab.${id}`;
    if ((await holdLock(name, 0)) || (await holdLock(name, RELOAD_MS))) return undefined;
    return retake();
  }
  if (typeof BroadcastChannel !== "function") return undefined;
  const channel = new BroadcastChannel("lstmx.class.tabs");
  let taken = false;
  return new Promise((resolve) => {
    channel.onmessage = (ev) => {
      if (ev.data?.ask === id && !taken) channel.postMessage({ taken: id });
      else if (ev.data?.taken === id && !taken) {
        taken = true;
        retake();
      }
    };
    channel.postMessage({ ask: id });
    setTimeout(() => taken || resolve(), CHECK_MS);
  });
}

// Hold the lock `name` while this page lives: true once granted; false when another page holds
// it (at once with waitMs 0, else after waiting waitMs).
function holdLock(name, waitMs) {
  return new Promise((resolve) => {
    const options = waitMs ? { signal: AbortSignal.timeout(waitMs) } : { ifAvailable: true };
    navigator.locks
      .request(name, options, (lock) => {
        resolve(Boolean(lock));
        return lock ? new Promise(() => {}) : undefined;
      })
      .catch(() => resolve(false));
  });
}

export function randomHex() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
