// The seam between a page and classroom mode (classroom.js), in the way reveal.js' multiplex
// drives Reveal.slide: a page registers its own parse-and-render path, and a follower applies
// the teacher's URL state through it; there is no second state system.
//
// A page calls registerPage({ apply, url, playing, model }) once:
//   apply(search, { model }) re-parses the URL state and re-renders (re-running the
//     computation only when its inputs change); model: a model object the teacher shared, or
//     null for the page's own seeded model;
//   url() the page's current URL state ("/?t=3&unit=2"), fresh even before the URL is written;
//   playing() whether it is playing (optional);
//   model() the model the page shows that is not in its URL (uploaded, trained), or null;
//   modelBody(model) that model as /api/trace takes it (optional);
//   relay({run, frames}) draw the teacher's relayed frames as the page's own (optional: a
//     page whose work runs on the teacher's page alone, a training).
// and calls pageChanged() when its view moves without a URL write (the player's steps).
// A page whose tab follows a class starts only when told: `if (!joiningClass()) start()`.

const CLASS_KEY = "lstmx.class.member"; // sessionStorage: the class this tab follows

let page = null;
const watchers = new Set();
const registered = [];

export function registerPage(hooks) {
  page = hooks;
  for (const fn of registered.splice(0)) fn(page);
}

// Resolves with the page's hooks once it has registered (at once if it has).
export function whenRegistered() {
  return new Promise((resolve) => (page ? resolve(page) : registered.push(resolve)));
}

export function currentPage() {
  return page;
}

export function pageChanged() {
  for (const fn of watchers) fn();
}

export function onPageChanged(fn) {
  watchers.add(fn);
}

// True when this tab follows a class: the page waits for the teacher's state (and model)
// instead of first showing its own, so a follower never sees a seeded model in passing.
// A student exploring on their own starts the page as usual.
export function joiningClass() {
  try {
    const member = JSON.parse(sessionStorage.getItem(CLASS_KEY) || "null");
    return Boolean(member?.code) && !member.exploring;
  } catch {
    return false;
  }
}

export const MEMBER_KEY = CLASS_KEY;

// A teacher's page hands the class the frames of work that runs on its page alone (a
// training): relay(run, frame) does nothing unless this tab leads a class, whose panel
// (class-teacher.js) sets the sender; a new run id tells the students to start afresh.
let relaySender = null;
export function setRelaySender(fn) {
  relaySender = fn;
}
export function relay(run, frame) {
  relaySender?.(run, frame);
}
