"""POST /api/trace and WS /ws/trace: validate, run the engine off the event loop, answer.

WebSocket protocol (DESIGN.md): the client sends the request body once; the server sends
"start", one "step" frame per time step, one "grad" frame per step from T-1 down to 0, then
"end" (with "nonfinite": the first field, layer and step holding NaN or infinity, or null: a
diverging run is reported as diverged at step t, and its non-finite numbers are sent as null).
With "live": true the socket stays open after the forward frames ("ready"): the client
sends {"type": "input", "x": [...]} or {"type": "input", "char": "a"} for one more step, or
{"type": "backward"} for the gradient frames of everything so far. Bad input: an "error" frame
and close code 1008 (for a bad live input the socket stays open). Busy (every run slot taken):
an "error" frame and close code 1013, "try again later"; over HTTP, 503 with Retry-After.
Everything that allocates arrays (prepare, forward, backward) runs off the event loop.
"frames" in the request chooses the framing of a non-live stream: "step" (the default, one
frame per step as above), "batch" ("steps" and "grads" frames of several steps each, for
clients that do not need them one by one) or "compact" (the step page's: binary frames of
what each view shows at the precision it shows it, the exact columns of the unit a client
shows; the client chooses it with "view" messages, and the socket stays open for them).
Identical requests are answered from one computation (app/api/cache.py).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from ...engine import prepare
from ...engine.params import model_params
from ...settings import get_settings
from .. import compact, serialize, wsutil
from ..cache import PAUSE, Answer, fill, request_key
from ..errors import RESPONSES, RequestError, clean_errors
from ..limits import check_shape_limits
from ..middleware import OffLoopJSONRoute
from ..runs import build_run, model_dict, resolve_input
from ..schemas import TraceRequest
from ..wsutil import ClientGoneError

router = APIRouter(tags=["trace"], route_class=OffLoopJSONRoute)
LIVE_MESSAGE_CHARS = 65536  # a live input is one character or one row of at most D numbers


@router.post(
    "/api/trace", summary="Run a model over a sequence and record everything", responses=RESPONSES
)
async def post_trace(req: TraceRequest, request: Request) -> Response:
    # One computation per distinct request (app/api/cache.py): it writes the answer part by
    # part in a worker thread, the forward pass's part before the backward pass is computed,
    # and every request for the same answer reads the parts as they are made. A run slot is
    # held while it computes, never while a slow client reads. An error (a limit: 422, busy:
    # 503, an engine failure: 500) comes before any byte; a failure after the first part can
    # only cut the body short.
    slots = request.app.state.slots

    async def make(answer: Answer) -> None:
        run, extra = await run_in_threadpool(build_run, req, get_settings())
        async with slots.hold():
            await fill(answer, lambda: serialize.trace_parts(run, extra))

    key = await run_in_threadpool(request_key, req, "post")  # inline weights take a while
    parts = request.app.state.cache.get(key, make).read()
    first = await anext(parts)

    async def stream() -> AsyncIterator[bytes]:
        async with contextlib.aclosing(parts):  # a client that leaves stops reading at once
            yield first
            async for part in parts:
                yield part

    return StreamingResponse(stream(), media_type="application/json")


async def _error(ws: WebSocket, detail: Any, close: bool = True, code: int = 1008) -> None:
    """An error frame; with close, close code `code` (1013 when busy) and the route ends."""
    await _send(ws, serialize.dumps({"type": "error", "detail": detail}))
    if close:
        await wsutil.close(ws, code)
        raise ClientGoneError


def _end_frame(trace: Any) -> bytes:
    return serialize.dumps(
        {"type": "end", "loss": trace.loss, "nonfinite": serialize.first_nonfinite(trace)}
    )


_send = wsutil.send


def _start_frame(run: Any, extra: dict[str, Any], steps: int) -> bytes:
    spec = run.spec
    return serialize.dumps({
        "type": "start", "cell": spec.cell, "steps": steps,
        "hidden_size": serialize.hidden_size(spec), "num_layers": spec.num_layers,
        **serialize.model_extras(spec), "gates": list(spec.gates), "variant": spec.variant,
        "inputs": run.X[:, 0] if steps else [], **extra,
    })  # fmt: skip


async def _stream(ws: WebSocket, run: Any, t0: int = 0) -> Any:
    """The forward frames of one live run (steps t0...); returns the forward records. A run
    slot is held while the engine computes, not while frames go out."""
    async with ws.app.state.slots.hold():
        forward = await run_in_threadpool(run.forward)
    for t in range(run.X.shape[0]):
        await _send(ws, serialize.step_frame(t, forward, offset=t0))
    return forward


async def _answer(ws: WebSocket, req: TraceRequest) -> None:
    """The frames of a non-live request, from the answer cache: computed once however many
    clients ask for them together, each client sent them at its own pace."""
    slots = ws.app.state.slots

    async def make(answer: Answer) -> None:
        run, extra = await run_in_threadpool(build_run, req, get_settings())
        async with slots.hold():
            await fill(answer, lambda: _frames(run, extra, req.frames))

    key = await run_in_threadpool(request_key, req, f"ws-{req.frames}")
    answer = ws.app.state.cache.get(key, make)
    if req.frames == "compact":
        view = None if req.view is None else req.view.model_dump()
        await compact.serve(ws, answer, view)
        return
    async with contextlib.aclosing(answer.read()) as frames:  # closed when the client leaves
        async for frame in frames:
            await _send(ws, frame, binary=isinstance(frame, serialize.BinaryFrame))


def _frames(run: Any, extra: dict[str, Any], frames: str) -> Iterator[bytes | object]:
    """start, the forward steps, the gradients from T-1 down to 0, end: one frame per step
    ("step", DESIGN.md's protocol), or several steps per frame ("batch": "steps" and "grads"
    frames with one row per step, rows in time order, "grads" frames from the last down), or
    the same blocks as binary frames holding what the step page shows ("compact": see
    serialize.binary_frame). The backward pass waits until a client has read the forward
    frames (PAUSE)."""
    T = run.X.shape[0]
    yield _start_frame(run, extra, T)  # the run holds a slot already: a busy answer came first
    forward = run.forward()
    spec = run.spec
    entries = spec.num_layers * len(spec.directions)  # trace entries: layers × directions
    units = len(spec.directions) * sum(spec.widths)  # units over every entry
    G = len(spec.gates)
    compact = frames == "compact"
    if frames == "step":
        yield from (serialize.step_frame(t, forward) for t in range(T))
    else:
        n = serialize.batch_rows(units * (G + 2))
        encode = serialize.compact_steps if compact else serialize.steps_frame
        yield from (encode(t0, min(T, t0 + n), forward) for t0 in range(0, T, n))
    if compact:  # every unit's exact columns, each sent only to the clients showing it
        yield from serialize.forward_columns(forward)
    yield PAUSE
    trace = run.backward()
    if frames == "step":
        yield from (serialize.grad_frame(t, trace) for t in reversed(range(T)))
    else:
        n = serialize.batch_rows(2 * units + 4 * entries)  # dL/dh, dL/dc rows and four norms
        grads = serialize.compact_grads if compact else serialize.grads_frame
        yield from (grads(max(0, t1 - n), t1, trace) for t1 in range(T, 0, -n))
    if compact:
        yield from serialize.backward_columns(trace)
    yield _end_frame(trace)


@router.websocket("/ws/trace")
async def ws_trace(ws: WebSocket) -> None:
    settings = get_settings()
    if not wsutil.origin_allowed(ws, settings.allowed_origins):
        await ws.close(code=1008, reason="foreign origin")
        return
    await ws.accept()
    try:
        raw = await ws.receive_text()
        if len(raw) > settings.max_body_bytes:
            await wsutil.close(ws, 1009, f"message above {settings.max_body_bytes} bytes")
            return
        if raw.count("[") > settings.max_lists:  # as BodyLimit does for HTTP bodies
            await wsutil.close(ws, 1009, f"message holds more than {settings.max_lists} lists")
            return
        try:
            # off the loop: an 8 MB message takes a while to parse
            req = await run_in_threadpool(TraceRequest.model_validate_json, raw)
            if req.live:
                await _live(ws, req)
                return
        except ValidationError as exc:
            await _error(ws, clean_errors(exc.errors()))
        except RequestError as exc:  # a limit, or busy (503) in live mode
            await _error(ws, exc.detail(), code=1013 if exc.status == 503 else 1008)
        try:
            await _answer(ws, req)
        except RequestError as exc:  # a limit (1008), or busy: every run slot stayed taken
            await _error(ws, exc.detail(), code=1013 if exc.status == 503 else 1008)
        await wsutil.close(ws)
    except (WebSocketDisconnect, ClientGoneError):
        return


async def _live(ws: WebSocket, req: TraceRequest) -> None:
    """Live mode: one step per input message, gradients on request."""
    settings, slots = get_settings(), ws.app.state.slots  # slots: for live backward
    if req.model.bidirectional or req.model.embedding is not None:
        raise RequestError(
            ("body", "live"),
            "live mode feeds one vector or character at a time: it needs a unidirectional "
            "model without an embedding",
        )
    X, alphabet = await run_in_threadpool(resolve_input, req, settings)
    model = model_dict(req, X.shape[1])
    D = X.shape[1]
    try:  # the parameters once, not per keystroke (inline weights arrive as nested lists)
        model["weights"] = (await run_in_threadpool(model_params, model))[1]
    except ValueError as exc:
        raise RequestError(("body", "model"), str(exc)) from None
    rows: list[np.ndarray] = list(X)
    state = None

    def step_run(x: np.ndarray) -> Any:
        return prepare(model, x, dtype=req.dtype, initial_state=state, start=len(rows))

    def whole_run() -> Any:
        check_shape_limits(req, len(rows), D, settings)
        return prepare(model, np.stack(rows), dtype=req.dtype)

    def final_state(forward: list[dict[str, Any]]) -> dict[str, list[np.ndarray]]:
        st = {"h": [rec["h"][-1] for rec in forward]}  # one row per layer, its own width
        if forward[0]["c"] is not None:
            st["c"] = [rec["c"][-1] for rec in forward]
        return st

    try:
        first = await run_in_threadpool(
            prepare, model, X if len(X) else np.zeros((1, D)), None, req.dtype
        )
    except ValueError as exc:
        raise RequestError(("body",), str(exc)) from None
    extra = {"input_size": D, "alphabet": alphabet, "dtype": req.dtype, "live": True}
    await _send(ws, _start_frame(first, extra, len(X)))
    if len(X):
        state = final_state(await _stream(ws, first))
    await _send(ws, serialize.dumps({"type": "ready", "t": len(rows)}))
    while True:
        raw = await ws.receive_text()
        try:
            msg = json.loads(raw) if len(raw) <= LIVE_MESSAGE_CHARS else None
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            msg = {}
        kind = msg.get("type")
        if kind == "input":
            x = _live_input(msg, alphabet, D)
            if isinstance(x, str):
                await _error(ws, x, close=False)
                continue
            if len(rows) + 1 > settings.max_steps:
                await _error(ws, f"live sequence reached the limit of {settings.max_steps} steps")
            run = await run_in_threadpool(step_run, x[None])
            forward = await _stream(ws, run, t0=len(rows))
            rows.append(x)
            state = final_state(forward)
        elif kind == "backward":
            if not rows:
                await _error(ws, "nothing to differentiate yet: send an input first", close=False)
                continue
            try:
                async with slots.hold():
                    run = await run_in_threadpool(whole_run)
                    trace = await run_in_threadpool(run.backward)
            except RequestError as exc:
                if exc.status != 503:
                    raise
                await _error(ws, "the server is busy; send backward again shortly", close=False)
                continue
            for t in reversed(range(trace.steps)):
                await _send(ws, serialize.grad_frame(t, trace))
            await _send(ws, _end_frame(trace))
        else:
            await _error(ws, "expected {'type': 'input'} or {'type': 'backward'}", close=False)


def _live_input(msg: dict, alphabet: str | None, D: int) -> np.ndarray | str:
    """The input vector of a live message, or an error message for the client."""
    if alphabet is not None:
        ch = msg.get("char")
        if not isinstance(ch, str) or len(ch) != 1 or ch not in alphabet:
            return f"char must be one character of the alphabet {alphabet!r}"
        x = np.zeros(D)
        x[alphabet.index(ch)] = 1.0
        return x
    try:
        arr = np.asarray(msg.get("x"), dtype=np.float64)
    except (TypeError, ValueError):
        return f"x must be a list of {D} numbers"
    if arr.shape != (D,) or not np.all(np.isfinite(arr)):
        return f"x must be a list of {D} finite numbers"
    return arr
