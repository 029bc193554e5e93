// Talking to the server: POST /api/trace, WS /ws/trace (streamed and live), POST /api/weights.
// Streamed frames are assembled into the same shape /api/trace answers, so renderers see one
// kind of trace whichever way it arrived.

export class ApiError extends Error {}

// FastAPI's {"detail": ...}: a string, or a list of {loc, msg} -> one readable message.
export function formatDetail(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        const loc = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
        return loc ? `${loc}: ${d.msg}` : String(d.msg ?? JSON.stringify(d));
      })
      .join("\n");
  }
  return detail === undefined ? "Unknown error" : JSON.stringify(detail);
}

async function errorFrom(response) {
  let text = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.detail !== undefined) text = formatDetail(body.detail);
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(text);
}

export async function postTrace(body) {
  const response = await fetch("/api/trace", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

// The run a trace body describes, as one self-contained HTML file (the step page's "Save as HTML").
export async function postHtml(body) {
  const response = await fetch("/api/html", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await errorFrom(response);
  return response.text();
}

export async function uploadWeights(file) {
  const form = new FormData();
  form.append("file", file);
  const response = await fetch("/api/weights", { method: "POST", body: form });
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

function wsUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

// Open WS /ws/trace, send the body, and pass each frame to handlers[frame.type](frame).
// Returns {send, close}. handlers.closed(event) is called when the socket closes. With
// body.frames = "compact" the steps arrive as binary blocks (decodeFrame); the handlers still
// see one "step" or "grad" frame per step.
export function openTraceSocket(body, handlers) {
  const ws = new WebSocket(wsUrl("/ws/trace"));
  let closedByUs = false;
  ws.addEventListener("open", () => {
    if (!closedByUs) ws.send(JSON.stringify(body));
  });
  ws.binaryType = "arraybuffer";
  ws.addEventListener("message", (event) => {
    if (closedByUs) return;
    if (typeof event.data !== "string") {
      // a compact block: the heatmaps' steps and the norms are handed on as the per-step
      // frames they stand for; a unit's exact columns and the reading counts as they are
      const block = decodeFrame(event.data);
      if (block.type === "columns" || block.type === "reading") handlers[block.type]?.(block);
      else for (const frame of stepFrames(block)) handlers[frame.type]?.(frame);
      return;
    }
    const frame = JSON.parse(event.data);
    if (frame.type === "start") frame.request = body; // kept for exactTrace
    const handler = handlers[frame.type];
    if (handler) handler(frame);
  });
  ws.addEventListener("close", (event) => {
    if (handlers.closed) handlers.closed(event, closedByUs);
  });
  return {
    send: (msg) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
    },
    isOpen: () => ws.readyState === WebSocket.OPEN && !closedByUs,
    close: () => {
      closedByUs = true;
      // Closing a socket that is still connecting makes the browser log a warning: wait for it.
      if (ws.readyState === WebSocket.CONNECTING) ws.addEventListener("open", () => ws.close());
      else ws.close();
    },
  };
}

// --- assembling a trace from frames ------------------------------------------------------

const GRAD_KEYS = ["grad_h", "grad_c", "grad_h_norm", "grad_c_norm", "grad_h_log10_norm", "grad_c_log10_norm"];

// An empty trace from a "start" frame; rows are appended as "step" frames arrive.
export function traceFromStart(start) {
  const gates = start.gates || [];
  const isLstm = start.cell === "lstm";
  const entries = start.num_layers * (start.bidirectional ? 2 : 1); // [l0, l0 reverse, l1, ...]
  const layers = Array.from({ length: entries }, () => ({
    gates: Object.fromEntries(gates.map((g) => [g, []])),
    c: isLstm ? [] : null,
    h: [],
  }));
  const trace = {
    cell: start.cell,
    steps: 0,
    hidden_size: start.hidden_size,
    num_layers: start.num_layers,
    input_size: start.input_size,
    inputs: [],
    alphabet: start.alphabet ?? null,
    bidirectional: Boolean(start.bidirectional),
    tokens: start.tokens ?? null, // token ids, for a model with an embedding
    loss: null,
    layers,
    nonfinite: null,
    gradFrom: Infinity, // smallest t whose gradient has arrived (Infinity: none yet)
  };
  clearGrads(trace);
  trace.pendingInputs = start.inputs || [];
  trace.request = start.request ?? null; // the body that asked for it (exactTrace)
  return trace;
}

export function clearGrads(trace) {
  const isLstm = trace.cell === "lstm";
  for (const layer of trace.layers) {
    for (const key of GRAD_KEYS) {
      layer[key] = key.startsWith("grad_c") && !isLstm ? null : new Array(trace.steps).fill(null);
    }
  }
  trace.gradFrom = Infinity;
  trace.loss = null;
}

// Append one forward step; x is the step's input row when known. A compact step (frame.heat)
// holds the heatmaps' values, rounded to `decimals`: they go to layer.heat, and the exact rows
// wait, empty (null), for the columns of the units shown (addColumns).
export function addStep(trace, frame, x) {
  frame.layers.forEach((row, k) => {
    const exact = trace.layers[k];
    if (frame.heat) {
      exact.heat ??= { decimals: frame.heat, gates: {}, c: exact.c ? [] : null, h: [] };
      exact.exact ??= { forward: new Set(), backward: new Set() };
      const empty = () => new Array(row.h.length).fill(null);
      for (const g of Object.keys(row.gates || {})) (exact.gates[g] ??= [])[frame.t] ??= empty();
      if (exact.c) exact.c[frame.t] ??= empty();
      exact.h[frame.t] ??= empty();
    }
    const layer = frame.heat ? exact.heat : exact;
    for (const [g, values] of Object.entries(row.gates || {})) {
      if (!layer.gates[g]) layer.gates[g] = [];
      layer.gates[g][frame.t] = values;
    }
    if (layer.c) layer.c[frame.t] = row.c;
    layer.h[frame.t] = row.h;
  });
  const input = x ?? trace.pendingInputs?.[frame.t];
  if (input !== undefined) trace.inputs[frame.t] = input;
  trace.steps = Math.max(trace.steps, frame.t + 1);
}

// Record the gradients of one step (they arrive from T-1 down to 0).
export function addGrad(trace, frame) {
  frame.layers.forEach((row, k) => {
    const layer = trace.layers[k];
    for (const key of GRAD_KEYS) {
      if (layer[key] && row[key] !== undefined) layer[key][frame.t] = row[key];
    }
  });
  trace.gradFrom = Math.min(trace.gradFrom, frame.t);
}

// One unit's exact columns (a "columns" block): its values go into the exact rows, and the
// unit is marked as there (layer.exact.forward for gates, c and h; .backward for dL/dh, dL/dc).
export function addColumns(trace, block) {
  const L = trace.layers[block.layer];
  let pass = "forward";
  for (const [name, k] of block.arrays) {
    const values = block.values[`${name}/${k}`];
    const rows = name.startsWith("gates.") ? (L.gates[name.slice(6)] ??= []) : L[name];
    if (!rows) continue;
    if (name.startsWith("grad_")) pass = "backward";
    for (let i = 0; i < block.n; i += 1) {
      const t = block.t + i;
      if (!rows[t]) rows[t] = new Array(block.width).fill(null);
      rows[t][block.unit] = finiteOrNull(values[i]);
    }
  }
  L.exact ??= { forward: new Set(), backward: new Set() };
  L.exact[pass].add(block.unit);
}

// The reading counts of one layer for thresholds lo, hi (a "reading" block):
// layer.reading = {lo, hi, n, counts: {gate: {closed, partly, open}}}, typed arrays by step.
export function addReading(trace, block) {
  const counts = {};
  for (const [name, k] of block.arrays) {
    const [kind, gate] = name.split(".");
    (counts[gate] ??= {})[kind] = block.values[`${name}/${k}`];
  }
  trace.layers[block.layer].reading = { lo: block.lo, hi: block.hi, n: block.n, counts };
}

// Whether the exact numbers of a view (a unit, or every unit for "mean") are in: always for
// a trace that came whole; for a compact one, once its columns have come (the gradients' too
// once the backward pass has begun).
export function hasExact(trace, layer, unit) {
  const L = trace.layers[layer];
  if (!L?.exact) return true;
  const width = L.h.find((row) => row)?.length ?? 0;
  const has = (set) => (unit === "mean" ? set.size >= width : set.has(Number(unit)));
  return has(L.exact.forward) && (trace.gradFrom === Infinity || has(L.exact.backward));
}

// A trace from POST /api/trace, with the same bookkeeping fields as a streamed one.
export function completeTrace(trace) {
  return { ...trace, gradFrom: 0 };
}

// --- compact binary frames -------------------------------------------------------------------

// One binary frame (app/api/serialize.py binary_frame): a little-endian uint32 N, N bytes of a
// JSON header {type, t, n, arrays: [[name, layer, dtype, count], ...]}, then the arrays, each
// little-endian in its dtype and padded to 8 bytes. Returns the header with `values`, a map
// from "name/layer" to a typed array.
const ARRAY_TYPES = {
  float64: Float64Array, float32: Float32Array, int16: Int16Array, int32: Int32Array, uint16: Uint16Array,
};
// The heatmaps' rounded values: n / 10^decimals, the type's smallest value standing for null.
const SENTINEL = { int16: -32768, int32: -2147483648 };

export function decodeFrame(buffer) {
  const view = new DataView(buffer);
  const n = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, n)));
  let offset = 4 + n + ((8 - ((4 + n) % 8)) % 8);
  const values = {};
  for (const [name, layer, dtype, count] of header.arrays) {
    const Type = ARRAY_TYPES[dtype];
    values[`${name}/${layer}`] = new Type(buffer.slice(offset, offset + count * Type.BYTES_PER_ELEMENT));
    offset += count * Type.BYTES_PER_ELEMENT;
    offset += (8 - (offset % 8)) % 8;
  }
  return { ...header, values };
}

// A number as the JSON answer has it: non-finite values are null there.
const finiteOrNull = (v) => (Number.isFinite(v) ? v : null);

// The per-step frames a decoded block stands for: "step" frames in time order, "grad" frames
// from the last step down, each with the fields the JSON protocol's frames have.
export function stepFrames(block) {
  const layers = new Set(block.arrays.map(([, layer]) => layer));
  const frames = [];
  for (let i = 0; i < block.n; i += 1) {
    const t = block.t + i;
    const rows = [...layers].map((k) => layerRow(block, k, i));
    const frame = block.type === "steps" ? { type: "step", t, layers: rows } : { type: "grad", t, layers: rows };
    if (block.decimals !== undefined) frame.heat = block.decimals;
    frames.push(frame);
  }
  return block.type === "steps" ? frames : frames.reverse();
}

function layerRow(block, k, i) {
  const row = block.type === "steps" ? { gates: {}, c: null } : {};
  for (const [name, layer, dtype, count] of block.arrays) {
    if (layer !== k) continue;
    const all = block.values[`${name}/${layer}`];
    const width = count / block.n; // a norm is one number per step, a state one row
    const scale = 10 ** (block.decimals ?? 0);
    const value = dtype in SENTINEL ? (v) => (v === SENTINEL[dtype] ? null : v / scale) : finiteOrNull;
    const part = name.endsWith("_norm") ? value(all[i]) : Array.from(all.subarray(i * width, (i + 1) * width), value);
    if (name.startsWith("gates.")) row.gates[name.slice(6)] = part;
    else row[name] = part;
  }
  return row;
}

// The trace with every field the API answers: a compact stream brings exact numbers only for
// the units shown, so an export asks POST /api/trace for the whole answer.
export async function exactTrace(trace) {
  if (trace.request?.frames !== "compact" || trace.request.live) return trace;
  const { frames, live, view, ...body } = trace.request;
  return completeTrace(await postTrace(body));
}
