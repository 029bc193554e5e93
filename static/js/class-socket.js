// One class connection: WS /ws/class/{code}, the hello first, JSON frames to handlers[type],
// and reconnects with backoff until it is closed on purpose or the server refuses for good
// (close 1008: unknown code or wrong token; or the class ended).

import { formatDetail } from "./api.js";
import { backoff } from "./class-state.js";

const REFUSED = 1008;

export function openClassSocket(code, hello, handlers) {
  let ws = null;
  let attempt = 0;
  let timer = null;
  let stopped = false;
  let refusal = "";

  const url = () => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws/class/${encodeURIComponent(code)}`;
  };

  function connect() {
    timer = null;
    ws = new WebSocket(url());
    ws.addEventListener("open", () => ws.send(JSON.stringify(hello())));
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return; // not JSON: nothing the server sends
      }
      if (frame.type === "welcome") attempt = 0;
      if (frame.type === "error") refusal = formatDetail(frame.detail);
      if (frame.type === "ended") stopped = true;
      handlers[frame.type]?.(frame);
    });
    ws.addEventListener("close", (event) => {
      ws = null;
      if (stopped) return;
      if (event.code === REFUSED) {
        stopped = true;
        handlers.refused?.(refusal || event.reason || "refused");
        return;
      }
      const delay = backoff(attempt);
      attempt += 1;
      handlers.lost?.(delay);
      timer = setTimeout(connect, delay);
    });
  }

  connect();
  return {
    // false when the frame could not go (not connected): the caller sends it again later.
    send(frame) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(frame));
      return true;
    },
    close() {
      stopped = true;
      clearTimeout(timer);
      if (ws) ws.close(1000);
    },
    get open() {
      return Boolean(ws && ws.readyState === WebSocket.OPEN);
    },
  };
}
