// Classroom mode on every page (loaded by base.html after the page's own module, so the page
// has registered its apply() with pagelink.js by now). This tab is the teacher of a class (its
// token is in localStorage), a student of one (sessionStorage, set by /c/CODE), or neither:
// then the header offers "Start a class".

import { normaliseCode } from "./class-state.js";
import { runStudent } from "./class-student.js";
import { runTeacher, savedClass, startClass } from "./class-teacher.js";
import { MEMBER_KEY } from "./pagelink.js";
import { readJson } from "./class-dom.js";

const button = document.getElementById("class-start");
const message = document.getElementById("class-message");

// The header button: "Start a class", then "Class K7QX" that opens and closes the panel.
const header = {
  button,
  running(code, toggle) {
    button.textContent = `Class ${code}`;
    button.setAttribute("aria-controls", "class-panel");
    button.onclick = toggle;
  },
  ended(text) {
    button.textContent = "Start a class";
    button.removeAttribute("aria-controls");
    button.removeAttribute("aria-expanded");
    button.onclick = start;
    say(text);
  },
};

function say(text) {
  message.textContent = text;
  message.hidden = !text;
}

async function start() {
  button.disabled = true;
  say("");
  try {
    await startClass(header);
  } catch (err) {
    say(err.message);
  } finally {
    button.disabled = false;
  }
}

// /c/CODE and /join: the page that brings a student in.
function joinPage() {
  const box = document.getElementById("join");
  if (!box) return null;
  const status = document.getElementById("join-status");
  const show = (text) => (status.textContent = text);
  const form = document.getElementById("join-form");
  form?.addEventListener("submit", (ev) => {
    const code = normaliseCode(form.elements.code.value);
    if (!code) {
      ev.preventDefault();
      show("A class code is 4 to 6 letters or digits, as the teacher shows it.");
      form.elements.code.setAttribute("aria-invalid", "true");
      form.elements.code.focus();
    }
  });
  return {
    code: normaliseCode(box.dataset.joinCode),
    waiting: () => show("You are in. Waiting for the teacher to open a page…"),
    refused: (detail) => show(`Could not join: ${detail}`),
  };
}

const join = joinPage();
const teacher = savedClass();
const member = readJson(sessionStorage, MEMBER_KEY);
if (teacher) {
  runTeacher(teacher, header);
} else if (join?.code || member?.code) {
  button.hidden = true; // a student's tab follows; it starts no class of its own
  runStudent(join?.code || member.code, {
    onJoinPage: join?.code ? join : null,
    exploring: !join?.code && Boolean(member?.exploring),
  });
} else {
  button.onclick = start;
  if (location.hash === "#class") {
    // "Use in a class" (the gallery page): start one on the page this link opens
    history.replaceState(null, "", location.pathname + location.search);
    start();
  }
}
