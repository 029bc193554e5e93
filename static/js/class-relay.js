// The teacher's page hands the students' pages the frames of work that runs on its page alone
// (a training): live frames go out in batches, four a second; a student who joins mid-run is
// sent the run so far again (a replay, its progress thinned), which the others skip. A
// snapshot's trace is too large for a class message: it is stored on the server (at most one
// every SNAPSHOT_GAP_MS, the newest) and its key relayed; the students' pages fetch it.

import { thinned } from "./class-state.js";
import { setRelaySender } from "./pagelink.js";

const RELAY_GAP_MS = 250; // relayed training frames go out in batches, four a second
const RELAY_BYTES = 7000; // a batch's frames, under the server's 8192-byte message cap
const RELAY_FRAMES = 64; // and its cap on frames per message
const REPLAY_POINTS = 200; // progress frames per network in a replay for a late joiner
const REPLAY_WAIT_MS = 500; // students joining within this time share one replay
const SNAPSHOT_GAP_MS = 1500; // snapshots stored for the class at most this often

const byteLength = (frame) => new TextEncoder().encode(JSON.stringify(frame)).length;

// send(message): false when it could not go (a curve's gap); cls: {code, token}.
// Returns {joined(), stop()}.
export function startRelay(send, cls) {
  let run = null;
  let history = []; // this run's frames so far
  const queue = [];
  let timer = null;
  let replayTimer = null;

  setRelaySender((id, frame) => {
    if (id !== run) {
      flush(); // the old run's last frames first
      run = id;
      history = [];
    }
    if (frame.type === "snapshot") return shareSnapshot(frame);
    push(frame);
  });

  function push(frame) {
    if (byteLength(frame) > RELAY_BYTES) return; // no frame of a training comes near it
    queue.push(frame);
    history.push(frame);
    timer ??= setTimeout(flush, RELAY_GAP_MS);
  }

  // The newest snapshot waiting, and whether one is being stored.
  let nextSnap = null;
  let storing = false;
  let storedAt = -Infinity;
  function shareSnapshot(frame) {
    if (!frame.trace || frame.trace.skipped) return;
    nextSnap = { id: run, frame };
    if (!storing) storeSnapshot();
  }
  async function storeSnapshot() {
    storing = true;
    const wait = SNAPSHOT_GAP_MS - (performance.now() - storedAt);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const { id, frame } = nextSnap;
    nextSnap = null;
    storedAt = performance.now();
    try {
      const r = await fetch(`/api/classes/${encodeURIComponent(cls.code)}/snapshots`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Class-Token": cls.token },
        body: JSON.stringify(frame.trace),
      });
      const body = await r.json().catch(() => ({}));
      if (r.ok && body.key && id === run) push({ cell: frame.cell, type: "snapshot", step: frame.step, key: body.key });
    } catch {
      // not stored: the students' pages draw the next one
    } finally {
      storing = false;
      if (nextSnap) storeSnapshot();
    }
  }

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
      const message = { type: "relay", run, frames: batch };
      if (replay) message.replay = replay++;
      send(message);
    }
  }
  function flush() {
    clearTimeout(timer);
    timer = null;
    sendFrames(queue.splice(0));
  }
  function replay() {
    replayTimer = null;
    if (!history.length) return;
    flush();
    sendFrames(thinned(history, REPLAY_POINTS), 1);
  }
  return {
    joined() {
      if (run !== null) replayTimer ??= setTimeout(replay, REPLAY_WAIT_MS); // one for a wave
    },
    stop() {
      setRelaySender(null);
      clearTimeout(timer);
      clearTimeout(replayTimer);
    },
  };
}
