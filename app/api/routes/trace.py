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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from app.engine import prepare
from app.engine.params import model_params
from app.settings import get_settings

from .. import serialize, wsutil
from ..errors import RESPONSES, RequestError, clean_errors
from ..middleware import OffLoopJSONRoute
from ..runs import build_run, check_shape_limits, model_dict, resolve_input
from ..schemas import TraceRequest
from ..wsutil import ClientGoneError

router = APIRouter(tags=["trace"], route_class=OffLoopJSONRoute)
LIVE_MESSAGE_CHARS = 65536  # a live input is one character or one row of at most D numbers
_writers: set[asyncio.Future[None]] = set()  # answers of POST /api/trace being written


@router.post(
    "/api/trace", summary="Run a model over a sequence and record everything", responses=RESPONSES
)
async def post_trace(req: TraceRequest, request: Request) -> Response:
    run, extra = await run_in_threadpool(build_run, req, get_settings())
    slots = request.app.state.slots
    await slots.acquire()  # busy: 503 before any byte of an answer
    # One worker thread computes the trace and writes the answer part by part, the forward
    # pass's part before the backward pass is computed; each part goes out as soon as it is
    # made, so sending overlaps computing and writing (the 10 MiB answer of T=1000, H=64 took
    # 8 ms to send after it was all written). The slot is held until the last part
    # is made, not until a slow client has read it. An engine error comes before any part and
    # is raised here as usual; the parts are kept in memory however slowly they are read.
    loop = asyncio.get_running_loop()
    parts: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()

    def put(item: bytes | BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed (shutdown): nobody reads
            loop.call_soon_threadsafe(parts.put_nowait, item)

    def write() -> None:
        try:
            for part in serialize.trace_parts(run, extra):
                put(part)
            put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the event loop
            put(exc)

    writer = asyncio.ensure_future(run_in_threadpool(write))
    # released on the loop when the writer ends, cancelled or not, whoever reads the answer
    writer.add_done_callback(lambda _: slots.release())
    _writers.add(writer)  # a reference until it ends
    writer.add_done_callback(_writers.discard)
    first = await parts.get()
    if isinstance(first, BaseException):
        await writer  # the slot is free before the error goes out
        raise first
    assert first is not None  # an answer is never empty

    async def stream() -> AsyncIterator[bytes]:
        yield first
        while (part := await parts.get()) is not None:
            if isinstance(part, BaseException):
                raise part  # the answer is cut short; the client sees a broken body
            yield part
        await writer  # the slot is free before the answer ends

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


async def _stream(
    ws: WebSocket, run: Any, t0: int = 0, grads: bool = True, start: bytes | None = None
) -> Any:
    """Forward frames (then gradient frames) of one run; returns the forward records.
    A run slot is held while the engine computes, not while frames go out; the start frame,
    if given, goes out once the forward pass holds one (a busy answer comes first)."""
    slots = ws.app.state.slots
    async with slots.hold():
        forward = await run_in_threadpool(run.forward)
    if start is not None:
        await _send(ws, start)
    for t in range(run.X.shape[0]):
        await _send(ws, serialize.step_frame(t, forward, offset=t0))
    if grads:
        async with slots.hold():
            trace = await run_in_threadpool(run.backward)
        for t in reversed(range(trace.steps)):
            await _send(ws, serialize.grad_frame(t, trace))
        await _send(ws, _end_frame(trace))
    return forward


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
            run, extra = await run_in_threadpool(build_run, req, settings)
        except ValidationError as exc:
            await _error(ws, clean_errors(exc.errors()))
        except RequestError as exc:  # a limit, or busy (503) in live mode
            await _error(ws, exc.detail(), code=1013 if exc.status == 503 else 1008)
        try:
            await _stream(ws, run, start=_start_frame(run, extra, run.X.shape[0]))
        except RequestError as exc:  # busy: every run slot stayed taken
            await _error(ws, exc.detail(), code=1013)
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
        state = final_state(await _stream(ws, first, grads=False))
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
            forward = await _stream(ws, run, t0=len(rows), grads=False)
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
