// The step page's player: the Player and what it drives (the play-through that runs the
// forward pass, then the backward pass; the Code panel's phase; a class hears each step),
// its buttons, the scrubber and the global keys.
import { pageChanged } from "./pagelink.js";
import { Player } from "./player.js";
import { $, dom, page, showStatus, saveUrl, state } from "./step-context.js";
import { codePanel, render } from "./step-render.js";

export const player = new Player({
  speed: state.speed,
  onChange: (t) => {
    state.t = t;
    if (!player.playing) page.hideGradsFrom = 0; // moving by hand: show every gradient there is
    else if (player.direction < 0) page.hideGradsFrom = Math.min(page.hideGradsFrom, t);
    render(page.trace, t);
    saveUrl();
    pageChanged(); // a class hears every step at once, not the debounced URL write
  },
  onPlayState: (playing, direction) => {
    dom.play.textContent = playing ? "❚❚ Pause" : "▶ Play";
    dom.play.setAttribute("aria-label", playing ? "Pause (Space)" : "Play (Space)");
    pageChanged();
    if (playing) codePanel.setPhase(direction > 0 ? "forward" : "backward");
    else render(page.trace, player.t); // the text panels catch up with the step shown
    if (playing) showStatus(direction > 0 ? "Forward pass: gates open and close step by step." : "Backward pass: the gradient flows back through time.");
  },
  onEnd: (direction) => {
    // After the forward animation, run the backward pass from the last step to the first.
    if (direction > 0 && page.trace && page.trace.gradFrom === 0 && page.hideGradsFrom > 0) {
      player.play(-1);
    } else if (direction < 0) {
      page.hideGradsFrom = 0;
      render(page.trace, player.t);
      showStatus("Backward pass done: every step has its gradient.");
    }
  },
});

page.player = player;

function playPause() {
  if (player.playing) {
    player.pause();
    return;
  }
  if (!page.trace) return;
  if (player.t >= player.last_t || player.t === 0) {
    player.seek(0);
    page.hideGradsFrom = page.trace.steps; // a play-through: gradients come after the forward pass
    render(page.trace, 0);
  }
  player.play(1);
}

dom.scrubber.addEventListener("input", () => {
  player.pause();
  player.seek(Number(dom.scrubber.value));
});
$("btn-play").addEventListener("click", playPause);
$("btn-first").addEventListener("click", () => { player.pause(); player.seek(0); });
$("btn-last").addEventListener("click", () => { player.pause(); player.seek(player.last_t); });
$("btn-back").addEventListener("click", () => player.step(-1));
$("btn-fwd").addEventListener("click", () => player.step(1));

document.addEventListener("keydown", (ev) => {
  const tag = ev.target.tagName;
  if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || ev.target.isContentEditable) return;
  if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
  const actions = {
    " ": playPause,
    ArrowLeft: () => player.step(-1),
    ArrowRight: () => player.step(1),
    Home: () => { player.pause(); player.seek(0); },
    End: () => { player.pause(); player.seek(player.last_t); },
  };
  const act = actions[ev.key];
  if (!act || (ev.key === " " && tag === "BUTTON")) return;
  ev.preventDefault();
  act();
});
