// The lesson panel: plays one stop of a lesson on top of a page (step, compare or train).
// The stop's URL is /lessons/<slug>/<k>?<the page's own URL state>: the page reads its state
// from location.search and writes it back with location.pathname, so the lesson stays in the
// address while the page works as usual. Numbers are evaluated on the page's own run
// (lesson-eval.js) a few times a second, so they follow the player and every change.
import { withPowers } from "./class-dom.js";
import { answer, formatValue, holds, pageData, unitsRead, value } from "./lesson-eval.js";
import { onPageChanged } from "./pagelink.js";

const OWN_KEY = "lstmx.ownLesson"; // sessionStorage: a lesson file the user loaded
const TICK_MS = 250;
const SETTLE_MS = 3000; // after a stop is brought into view, it is kept there this long
const SCROLL_KEYS = new Set(["PageUp", "PageDown", "ArrowUp", "ArrowDown"]);
const $ = (id) => document.getElementById(id);

// /lessons/<slug>/<k> or /lessons/own/<page>/<k> -> {slug, k (1-based), base}
export function parseLessonPath(path) {
  let m = /^\/lessons\/own\/(step|compare|train)\/(\d+)\/?$/.exec(path);
  if (m) return { slug: null, k: Number(m[2]), own: true };
  m = /^\/lessons\/([a-z0-9-]+)\/(\d+)\/?$/.exec(path);
  return m ? { slug: m[1], k: Number(m[2]), own: false } : null;
}

export function stopUrl(lesson, k, own) {
  const stop = lesson.stops[k - 1];
  const base = own ? `/lessons/own/${stop.page}/${k}` : `/lessons/${lesson.slug}/${k}`;
  return stop.view ? `${base}?${stop.view}` : base;
}

async function loadLesson(where) {
  if (where.own) {
    try {
      return JSON.parse(sessionStorage.getItem(OWN_KEY) || "null");
    } catch {
      return null;
    }
  }
  const r = await fetch(`/api/lessons/${where.slug}`);
  return r.ok ? r.json() : null;
}

class Panel {
  constructor(root, lesson, where) {
    this.root = root;
    this.lesson = lesson;
    this.own = where.own;
    this.k = Math.min(Math.max(1, where.k), lesson.stops.length);
    this.spans = [];
    this.asked = false;
    this.chosen = null;
    this.revealed = false;
    this.marked = null;
    $("lesson-back").addEventListener("click", () => this.go(this.k - 1));
    $("lesson-next").addEventListener("click", () => this.go(this.k + 1));
    $("lesson-return").addEventListener("click", () => location.assign(stopUrl(this.lesson, this.k, this.own)));
    root.addEventListener("keydown", (ev) => this.panelKey(ev));
    document.addEventListener("keydown", (ev) => this.pageKey(ev));
    window.addEventListener("popstate", () => location.reload());
    window.addEventListener("lstmx:dock", () => this.keepVisible()); // a class's dock grew
    const moved = () => { this.userMoved = true; }; // the reader scrolls: the page stays put
    for (const type of ["wheel", "touchmove"]) window.addEventListener(type, moved, { passive: true });
    window.addEventListener("keydown", (ev) => SCROLL_KEYS.has(ev.key) && moved());
    this.show();
    setInterval(() => this.tick(), TICK_MS);
    // the page moved (a step, a class's view applied): its numbers at once, not at the next tick
    onPageChanged(() => {
      if (this.soon) return;
      this.soon = true;
      setTimeout(() => requestAnimationFrame(() => {
        this.soon = false;
        this.tick();
      }), 40);
    });
  }

  get stop() {
    return this.lesson.stops[this.k - 1];
  }

  // A class follower shows another stop of this lesson in place when it is on this page.
  canShow(path) {
    const where = parseLessonPath(path);
    const stop = where && !where.own === !this.own && this.lesson.stops[where.k - 1];
    return Boolean(stop && stop.page === this.stop.page);
  }

  showPath(path) {
    if (!this.canShow(path)) return false;
    this.k = parseLessonPath(path).k;
    this.show();
    return true;
  }

  // Next/Back: a stop with the same page and view as this one (only the text or the
  // highlight change) is shown in place; any other stop loads its page.
  go(k) {
    if (k < 1 || k > this.lesson.stops.length) return;
    const next = this.lesson.stops[k - 1];
    const here = location.search.replace(/^\?/, "");
    if (next.page === this.stop.page && next.view === this.stop.view && here === next.view) {
      this.k = k;
      history.pushState(null, "", stopUrl(this.lesson, k, this.own));
      this.show();
      // The address changed without a page load: classroom mode listens for this to send it.
      window.dispatchEvent(new CustomEvent("lstmx:urlchange", { detail: { lessonStop: k } }));
      $("lesson-text").focus();
      return;
    }
    location.assign(stopUrl(this.lesson, k, this.own));
  }

  panelKey(ev) {
    if (ev.target.closest("input, select, textarea") || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
    ev.preventDefault();
    ev.stopPropagation(); // the step page's player listens for the arrows on the document
    this.go(this.k + (ev.key === "ArrowRight" ? 1 : -1));
  }

  pageKey(ev) {
    if (ev.target.closest?.("input, select, textarea") || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (ev.key !== "PageUp" && ev.key !== "PageDown") return; // presenter remotes send these
    ev.preventDefault();
    this.go(this.k + (ev.key === "PageDown" ? 1 : -1));
  }

  show() {
    const { lesson, stop, k } = this;
    const n = lesson.stops.length;
    $("lesson-name").textContent = lesson.title;
    $("lesson-title").textContent = stop.title;
    $("lesson-progress").textContent = `Stop ${k} of ${n}`;
    this.root.dataset.stop = String(k);
    $("lesson-back").disabled = k === 1;
    $("lesson-next").disabled = k === n;
    this.spans = [];
    const text = $("lesson-text");
    text.replaceChildren(...stop.say.map((segments) => {
      const p = document.createElement("p");
      for (const seg of segments) {
        if (seg.text !== undefined) {
          p.append(seg.text);
          continue;
        }
        const span = document.createElement("span");
        span.className = "lesson-q";
        span.dataset.q = seg.q.src;
        span.dataset.pending = "true";
        span.title = seg.q.src;
        span.textContent = "…";
        this.spans.push({ span, seg, shown: null });
        p.append(span);
      }
      return p;
    }));
    $("lesson-look").textContent = `Look at ${stop.highlight.label} (outlined).`;
    this.showQuestion();
    this.unmark();
    this.asked = false;
    this.askTries = 0;
    this.settled = 0;
    this.userMoved = false;
    this.tick();
  }

  showQuestion() {
    const q = this.stop.question;
    const box = $("lesson-question");
    box.hidden = !q;
    this.chosen = null;
    this.revealed = false;
    if (!q) return;
    $("lesson-question-text").textContent = q.text;
    const choices = $("lesson-choices");
    choices.replaceChildren(...q.choices.map((c) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = c.text;
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", () => {
        this.chosen = c.text;
        for (const other of choices.children) other.setAttribute("aria-pressed", String(other === b));
        this.updateAnswer();
      });
      return b;
    }));
    $("lesson-reveal").onclick = () => {
      this.revealed = true;
      this.updateAnswer();
    };
    $("lesson-answer").textContent = "";
    $("lesson-class").hidden = true;
  }

  updateAnswer(data = pageData(this.stop.page)) {
    const q = this.stop.question;
    if (!q) return;
    const out = $("lesson-answer");
    if (!this.revealed) {
      out.textContent = this.chosen ? `You chose “${this.chosen}”. Press Reveal to check it on this run.` : "";
      return;
    }
    const right = answer(q, data);
    if (right === null) {
      out.textContent = "The run has not got that far yet…";
      return;
    }
    const said = right.length ? right.join(" / ") : "none of these, in this view";
    const verdict = this.chosen ? (right.includes(this.chosen) ? " Right." : ` You chose “${this.chosen}”.`) : "";
    out.textContent = `Answer, computed from this run: ${said}.${verdict}`;
    out.dataset.answer = right.join("|");
  }

  // Outline the stop's element (it may be drawn later than the panel, or redrawn).
  mark() {
    const el = document.querySelector(this.stop.highlight.selector);
    if (el === this.marked) return;
    this.unmark();
    if (!el) return;
    el.classList.add("lesson-highlight");
    el.setAttribute("data-lesson-highlight", "true");
    // Screen readers hear "Look at ... (outlined)" with the element, after its own description.
    this.describedBy = el.getAttribute("aria-describedby");
    el.setAttribute("aria-describedby", this.describedBy ? `${this.describedBy} lesson-look` : "lesson-look");
    this.marked = el;
  }

  // Once per stop, bring the element into view under the (sticky) panel and above a class's
  // dock (--class-dock), if it is not. A class's student, whose screen the teacher moves, has it
  // brought into view on a phone too, where the panel scrolls with the page.
  reveal(el) {
    const sticky = getComputedStyle(this.root).position === "sticky";
    const student = document.body.dataset.classRole === "student";
    if (this.revealedStop === this.k || !(sticky || student)) return;
    this.revealedStop = this.k;
    this.revealedAt = performance.now();
    document.documentElement.style.setProperty("--lesson-h", `${this.root.offsetHeight}px`);
    const box = el.getBoundingClientRect();
    const top = sticky ? this.root.getBoundingClientRect().bottom : 0;
    const bottom = innerHeight - dockHeight();
    if (box.top >= top && box.bottom <= bottom) return;
    if (box.height > bottom - top || !sticky) return this.keepVisible();
    el.scrollIntoView({ block: "nearest", behavior: "instant" });
    if (el.getBoundingClientRect().bottom > bottom) window.scrollBy(0, el.getBoundingClientRect().bottom - bottom);
  }

  // The highlighted element's centre between the sticky panel and the dock (scrolled there).
  keepVisible() {
    const el = this.marked;
    if (!el || this.revealedStop !== this.k) return;
    const sticky = getComputedStyle(this.root).position === "sticky";
    const top = sticky ? this.root.getBoundingClientRect().bottom : 0;
    const bottom = innerHeight - dockHeight();
    const box = el.getBoundingClientRect();
    const centre = (box.top + box.bottom) / 2;
    if (centre > top + 8 && centre < bottom - 8) return;
    window.scrollBy({ top: centre - (top + bottom) / 2, behavior: "instant" });
  }

  unmark() {
    const el = this.marked;
    if (!el) return;
    el.classList.remove("lesson-highlight");
    el.removeAttribute("data-lesson-highlight");
    if (this.describedBy) el.setAttribute("aria-describedby", this.describedBy);
    else el.removeAttribute("aria-describedby");
    this.marked = null;
  }

  // Every quantity the stop reads: its sentences', its checks' and its question's.
  quantities() {
    const { stop } = this;
    const conds = [...stop.checks, ...(stop.question?.choices || []).map((c) => c.when)].filter(Boolean);
    return [...this.spans.map((item) => item.seg.q), ...conds.flatMap((c) => [c.a, c.b]), stop.question?.answer];
  }

  tick() {
    const data = pageData(this.stop.page);
    globalThis.lstmExplainer?.need?.(unitsRead(this.quantities(), data)); // their exact numbers
    let pending = 0;
    for (const item of this.spans) {
      const v = value(item.seg.q, data);
      const text = formatValue(v, item.seg.format);
      if (v === null) pending += 1;
      if (text === item.shown) continue;
      item.shown = text;
      withPowers(item.span, text);
      item.span.dataset.text = text;
      item.span.dataset.value = v === null ? "" : JSON.stringify(v);
      item.span.dataset.pending = String(v === null);
    }
    const complete = pending === 0 && data !== null;
    this.root.dataset.complete = String(complete);
    this.mark();
    // scroll only once the page has drawn its run: before, the element is not where it will be
    if (complete && this.marked) this.settled = (this.settled ?? 0) + 1;
    if (this.settled >= 2) this.reveal(this.marked); // once; later if a student's role comes late
    // the page may still move under it (the panel's numbers, a poll in the dock, a chart drawn
    // above): kept in view for a moment after, unless the reader scrolls
    if (this.revealedStop === this.k && !this.userMoved && performance.now() - this.revealedAt < SETTLE_MS) this.keepVisible();
    const here = location.search.replace(/^\?/, "");
    const moved = here !== this.stop.view;
    const failing = moved ? this.stop.checks.filter((c) => holds(c, data) === false) : [];
    $("lesson-moved").hidden = !moved;
    $("lesson-moved-text").textContent = failing.length
      ? `You have changed the view: the numbers are live, and here “${failing[0].src}” no longer holds.`
      : "You have changed the view: the numbers follow it.";
    if (this.revealed || this.chosen) this.updateAnswer(data);
    this.askClass();
  }

  // In a class the teacher's stop question becomes the class poll (class-teacher.js sets
  // lstmxClass; ask() is false until the class socket is open, so it is tried again).
  askClass() {
    const q = this.stop.question;
    if (!q || this.asked || !globalThis.lstmxClass || this.askTries > 40) return;
    this.askTries = (this.askTries ?? 0) + 1;
    this.asked = Boolean(globalThis.lstmxClass.ask?.(q.text, q.choices.map((c) => c.text), q.hide || []));
    $("lesson-class").hidden = !this.asked;
  }
}

function dockHeight() {
  return parseFloat(getComputedStyle(document.documentElement).getPropertyValue("--class-dock")) || 0;
}

async function main() {
  const root = $("lesson-panel");
  const where = parseLessonPath(location.pathname);
  const lesson = where && (await loadLesson(where));
  if (!lesson || !lesson.stops?.length) {
    $("lesson-title").textContent = where?.own
      ? "This lesson was loaded in another browser: open it from the lessons page."
      : "This lesson was not found.";
    return;
  }
  globalThis.lstmxLesson = new Panel(root, lesson, where);
}

if (typeof document !== "undefined" && document.getElementById("lesson-panel")) main();
