import { test } from "node:test";
import assert from "node:assert/strict";
import { Player } from "../../static/js/player.js";

// A fake clock and frame scheduler: frames run only when the test calls advance().
function harness(opts = {}) {
  let now = 0;
  let queue = [];
  const moves = [];
  const ends = [];
  const player = new Player({
    length: 10,
    speed: 4,
    now: () => now,
    requestFrame: (fn) => {
      queue.push(fn);
      return queue.length;
    },
    cancelFrame: () => {
      queue = [];
    },
    onChange: (t) => moves.push(t),
    onEnd: (d) => ends.push(d),
    ...opts,
  });
  const advance = (ms) => {
    now += ms;
    const q = queue;
    queue = [];
    for (const fn of q) fn();
  };
  return { player, advance, moves, ends, pending: () => queue.length };
}

test("play advances one step per 1/speed seconds of injected time", () => {
  const { player, advance } = harness();
  player.play();
  advance(100);
  assert.equal(player.t, 0); // 100 ms < 250 ms at 4 steps/s
  advance(150);
  assert.equal(player.t, 1);
  advance(500);
  assert.equal(player.t, 3); // a late frame catches up with whole steps
  assert.equal(player.playing, true);
});

test("pause stops the clock from moving the player", () => {
  const { player, advance, pending } = harness();
  player.play();
  advance(250);
  player.pause();
  assert.equal(pending(), 0);
  advance(5000);
  assert.equal(player.t, 1);
  assert.equal(player.playing, false);
});

test("playing stops at the last step and reports the end", () => {
  const { player, advance, ends } = harness();
  player.play();
  advance(10_000);
  assert.equal(player.t, 9);
  assert.equal(player.playing, false);
  assert.deepEqual(ends, [1]);
});

test("play from the last step starts over; playing backwards stops at 0", () => {
  const { player, advance, ends } = harness();
  player.seek(9);
  player.play();
  assert.equal(player.t, 0);
  player.pause();
  player.seek(5);
  player.play(-1);
  advance(250);
  assert.equal(player.t, 4);
  advance(10_000);
  assert.equal(player.t, 0);
  assert.deepEqual(ends, [-1]);
});

test("step moves by one and stays in bounds", () => {
  const { player } = harness();
  player.step(-1);
  assert.equal(player.t, 0);
  player.step(1);
  player.step(1);
  assert.equal(player.t, 2);
  player.seek(9);
  player.step(1);
  assert.equal(player.t, 9);
});

test("seek clamps to [0, length-1] and rounds", () => {
  const { player, moves } = harness();
  player.seek(42);
  assert.equal(player.t, 9);
  player.seek(-3);
  assert.equal(player.t, 0);
  player.seek(2.6);
  assert.equal(player.t, 3);
  assert.deepEqual(moves, [9, 0, 3]);
});

test("speed changes the step period", () => {
  const { player, advance } = harness();
  player.setSpeed(20); // 50 ms per step
  player.play();
  advance(50);
  assert.equal(player.t, 1);
  advance(100);
  assert.equal(player.t, 3);
  player.setSpeed(0); // ignored
  assert.equal(player.speed, 20);
});

test("a shorter trace pulls the player back in range", () => {
  const { player } = harness();
  player.seek(8);
  player.setLength(4);
  assert.equal(player.t, 3);
  player.setLength(0);
  assert.equal(player.t, 0);
});

test("play does nothing with fewer than two steps", () => {
  const { player, pending } = harness({ length: 1 });
  player.play();
  assert.equal(player.playing, false);
  assert.equal(pending(), 0);
});
