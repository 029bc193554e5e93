"""GET /train (the page) and WS /ws/train: train a model live and watch it learn.

Protocol (DESIGN.md). The client sends one message
    {"task": {"name", "length", "seed"}, "model": {...the model object of every endpoint...},
     "train": {"steps", "batch_size", "optimizer", "lr", "clip", "seed", "eval_every"}}
The model is the one /api/trace takes and /api/weights and the `done` frame answer: its
input_size and output_size follow from the task (given, they must agree); its weights, when
given, are where training starts (else model.init draws them).
and the server answers
    {"type": "queued", "position": k}          while other trainings hold every slot
    {"type": "start", "task": {...}, "model": {...}, "train": {...}}
    {"type": "progress", "step", "loss", "grad_norm", "grad_norm_max", "steps_per_s", "eta_s"}
    {"type": "eval", "step", "metric": {"mse" | "accuracy": x, "loss": y}}   every eval_every
    {"type": "snapshot", "step", "trace": {...gates, c, h of held-out sequence 0...}}
    {"type": "sample", "step", "temperature", "prime", "text"}   text tasks (charlm), every eval
    {"type": "done", "step", "stopped", "metric", "model": {...weights inline...}}
      (text tasks: "start"'s task and "done" also carry the model's "alphabet")
    {"type": "paused", "step"} / {"type": "resumed", "step"}   after "pause" / "resume"
{"type": "stop"} from the client ends the run early (with "done"); {"type": "pause"} holds it
between chunks and {"type": "resume"} continues it where it was (same optimiser state, same
batch stream, so a paused run ends exactly as an uninterrupted one); a client that leaves ends
it at the next chunk boundary. {"type": "temperature", "value": x} (0 < x <= 3) sets the
temperature of a text task's samples and asks for one at once. Steps run off the event loop
in chunks of ~0.1 s, so frames go out and stop/disconnect are noticed between chunks. Bad
input: an "error" frame naming the field and the limit, then close code 1008.

Settings (app/settings.py): max_trainings (LSTMX_MAX_TRAININGS, 3: trainings at once, one
race), max_train_work (LSTMX_MAX_TRAIN_WORK, 2e10: steps·batch·T·L·H·(H+D), about three
minutes on a 2-core laptop). A foreign Origin is refused; a client that stops reading is
dropped after the send timeout, which frees its training slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ...settings import get_settings
from .. import serialize, wsutil
from ..train_setup import (
    CHUNK_SECONDS,
    MAX_TEMPERATURE,
    SAMPLE_PRIME,
    RefusedError,
    TrainRequest,
    alphabet_of,
    check_limits,
    check_weights,
    finite,
    make_trainer,
    max_trainings,
    sample_text,
    snapshot,
)
from ..wsutil import ClientGoneError
from .pages import PLOTLY_VERSION, templates

router = APIRouter(tags=["train"])


async def _send(ws: WebSocket, frame: dict[str, Any]) -> None:
    """One frame; a client that left or stopped reading raises ClientGoneError."""
    await wsutil.send(ws, serialize.dumps(frame))


class Control:
    """What the client asked for, read by `_listen` for the whole run."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()  # "stop", or the client left: finish with "done"
        self.gone = asyncio.Event()  # the client left: nobody to send to
        self.running = asyncio.Event()  # cleared by "pause", set again by "resume"
        self.running.set()
        self.temperature: float | None = None  # set by "temperature"
        self.resample = asyncio.Event()  # "temperature" asks for a sample now

    async def wait_unless_paused(self) -> None:
        """Return at once while running; while paused, when resumed or stopped."""
        if self.running.is_set():
            return
        waits = [asyncio.create_task(e.wait()) for e in (self.running, self.stop)]
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()


async def _listen(ws: WebSocket, ctl: Control) -> None:
    """Read client messages: "stop" ends the run, "pause"/"resume" hold and continue it
    (the optimiser state and the data stream carry on); leaving ends it too."""
    try:
        while True:
            try:
                msg = json.loads(await ws.receive_text())
            except ValueError:
                continue
            kind = msg.get("type") if isinstance(msg, dict) else None
            if kind == "stop":
                ctl.stop.set()
            elif kind == "pause":
                ctl.running.clear()
            elif kind == "resume":
                ctl.running.set()
            elif kind == "temperature":
                value = msg.get("value")
                number = isinstance(value, int | float) and not isinstance(value, bool)
                if number and 0 < value <= MAX_TEMPERATURE:
                    ctl.temperature = float(value)
                    ctl.resample.set()
    except (WebSocketDisconnect, RuntimeError):
        ctl.gone.set()
        ctl.stop.set()


class TrainSlots:
    """At most `limit` trainings at once; the others wait in arrival order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.waiting: list[object] = []

    async def acquire(self, ws: WebSocket, stop: asyncio.Event) -> bool:
        ticket = object()
        self.waiting.append(ticket)
        shown = -1
        try:
            while not stop.is_set():
                position = self.waiting.index(ticket)
                if position == 0 and self.active < self.limit:
                    self.active += 1
                    return True
                if position != shown:
                    await _send(ws, {"type": "queued", "position": position + 1,
                                     "running": self.active, "limit": self.limit})  # fmt: skip
                    shown = position
                with contextlib.suppress(TimeoutError):  # wait_for cancels its waiter
                    await asyncio.wait_for(stop.wait(), timeout=0.2)
            return False
        finally:
            self.waiting.remove(ticket)

    def release(self) -> None:
        self.active -= 1


def _slots(ws: WebSocket) -> TrainSlots:
    state = ws.app.state
    if getattr(state, "train_slots", None) is None:
        state.train_slots = TrainSlots(max_trainings())
    return state.train_slots


@router.get("/train", response_class=HTMLResponse, include_in_schema=False)
def train_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "train.html", {"active": "train", "plotly_version": PLOTLY_VERSION}
    )


@router.websocket("/ws/train")
async def ws_train(ws: WebSocket) -> None:
    if not wsutil.origin_allowed(ws, get_settings().allowed_origins):
        await ws.close(code=1008, reason="foreign origin")
        return
    await ws.accept()
    try:
        raw = await ws.receive_text()
        limit = get_settings().max_body_bytes
        if len(raw) > limit:
            await ws.close(code=1009, reason=f"message above {limit} bytes")
            return
        try:
            req = TrainRequest.model_validate_json(raw)
            check_limits(req)
            await run_in_threadpool(check_weights, req)
        except ValidationError as exc:
            detail: Any = exc.errors(include_url=False, include_context=False)
            await _send(ws, {"type": "error", "detail": detail})
            await ws.close(code=1008)
            return
        except RefusedError as exc:
            await _send(ws, {"type": "error", "detail": exc.detail})
            await ws.close(code=1008)
            return
        await _run(ws, req)
    except (WebSocketDisconnect, ClientGoneError):
        return


async def _run(ws: WebSocket, req: TrainRequest) -> None:
    ctl = Control()
    listener = asyncio.create_task(_listen(ws, ctl))
    slots = _slots(ws)
    try:
        if not await slots.acquire(ws, ctl.stop):
            return
        try:
            await _train(ws, req, ctl)
        finally:
            slots.release()
    finally:
        listener.cancel()
        if not ctl.gone.is_set() and ws.client_state == WebSocketState.CONNECTED:
            await wsutil.close(ws)


async def _train(ws: WebSocket, req: TrainRequest, ctl: Control) -> None:
    try:
        trainer = await run_in_threadpool(make_trainer, req)
    except RefusedError as exc:
        await _send(ws, {"type": "error", "detail": exc.detail})
        await ws.close(code=1008)
        return
    task = trainer.task
    baseline_loss, baseline_metric = await run_in_threadpool(task.baselines, req.task.length)
    await _send(ws, {
        "type": "start",
        "task": {"name": task.name, "length": req.task.length, "seed": req.task.seed,
                 "input_size": task.input_size, "output_size": task.output_size,
                 "loss": task.loss, "at": task.at, "metric": task.metric,
                 "baseline_loss": baseline_loss, "baseline_metric": baseline_metric,
                 "solved": task.solved, "summary": task.summary, **alphabet_of(trainer)},
        "model": trainer.model, "train": req.train.model_dump(),
    })  # fmt: skip

    async def send_sample() -> None:
        ctl.resample.clear()
        temperature = ctl.temperature or req.train.temperature
        text = await run_in_threadpool(sample_text, trainer, temperature, req.train.seed)
        await _send(ws, {"type": "sample", "step": trainer.step, "temperature": temperature,
                         "prime": SAMPLE_PRIME, "text": text})  # fmt: skip

    async def evaluate() -> dict[str, float]:
        metric, snap = await run_in_threadpool(lambda: (trainer.evaluate(), snapshot(trainer)))
        await _send(ws, {"type": "eval", "step": trainer.step, "metric": metric})
        await _send(ws, {"type": "snapshot", "step": trainer.step, "trace": snap})
        if task.alphabet is not None:
            await send_sample()
        return metric

    metric = await evaluate()
    every, total = req.train.eval_every, req.train.steps
    chunk, busy = 5, 0.0  # steps per chunk, seconds spent training
    while not trainer.finished and not ctl.stop.is_set():
        if not ctl.running.is_set():
            await _send(ws, {"type": "paused", "step": trainer.step})
            await ctl.wait_unless_paused()
            if ctl.stop.is_set():
                break
            await _send(ws, {"type": "resumed", "step": trainer.step})
        n = min(chunk, every - trainer.step % every)
        t0 = time.perf_counter()
        losses, norms = await run_in_threadpool(trainer.train_steps, n)
        spent = time.perf_counter() - t0
        busy += spent
        chunk = int(np.clip(CHUNK_SECONDS * len(losses) / max(spent, 1e-6), 1, 25))
        if ctl.gone.is_set():
            return
        rate = trainer.step / busy
        await _send(ws, {
            "type": "progress", "step": trainer.step, "steps": total,
            "loss": finite(float(np.mean(losses))), "grad_norm": finite(float(np.mean(norms))),
            "grad_norm_max": finite(float(np.max(norms))), "steps_per_s": rate,
            "eta_s": (total - trainer.step) / rate,
        })  # fmt: skip
        if trainer.step % every == 0 or trainer.finished:
            metric = await evaluate()
        elif ctl.resample.is_set() and task.alphabet is not None:
            await send_sample()
    if ctl.gone.is_set():
        return
    if trainer.step % every and not trainer.finished:  # stopped between evaluations
        metric = await evaluate()
    model = await run_in_threadpool(trainer.model_dict)
    await _send(ws, {"type": "done", "step": trainer.step, "stopped": not trainer.finished,
                     "metric": metric, "model": model, **alphabet_of(trainer)})  # fmt: skip
