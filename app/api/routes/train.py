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
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ...engine import prepare
from ...engine.params import ModelError, check_params, spec_from_dict
from ...engine.training import charlm, train_tasks
from ...engine.training.train import TrainConfig, Trainer
from ...engine.training.train_tasks import TRAIN_TASKS
from ...settings import get_settings
from .. import serialize, wsutil
from ..schemas import ModelIn, Strict
from ..wsutil import ClientGoneError
from .pages import PLOTLY_VERSION, templates

router = APIRouter(tags=["train"])

MAX_T, MAX_H, MAX_LAYERS, MAX_STEPS, MAX_BATCH = 1000, 256, 4, 20_000, 256
DEFAULT_H = 16
MAX_SNAPSHOT_NUMBERS = 300_000  # T·L·H·(gates + 2) per snapshot; beyond it none is sent
CHUNK_SECONDS = 0.1  # engine work between two looks at the socket
MAX_TEMPERATURE = 3.0
MAX_TEXT = 2_000_000  # characters of an uploaded training text (charlm)
SAMPLE_CHARS, SAMPLE_PRIME = 240, "def "  # a text task's sample: its length and first characters


def max_trainings() -> int:
    return get_settings().max_trainings


def max_work() -> float:
    return get_settings().max_train_work


class TrainTaskIn(BaseModel):
    model_config = Strict
    name: Literal[tuple(sorted(TRAIN_TASKS))]  # type: ignore[valid-type]
    length: int = Field(50, ge=1, le=MAX_T, description="T")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seeds the data and held-out set")
    text: str | None = Field(
        None, max_length=MAX_TEXT, description="charlm: the text to learn (default: Python source)"
    )


class TrainModelIn(ModelIn):
    """The model object every endpoint takes (ModelIn), with training's default H = 16.

    input_size and output_size follow from the task and may be left out; given, they must
    agree with it. weights, when given (a `done` frame's model, an /api/weights answer), are
    the starting point: training continues from them instead of from `init`."""

    @model_validator(mode="before")
    @classmethod
    def _training_default_h(cls, data: Any) -> Any:
        if isinstance(data, dict) and "hidden_size" not in data:
            return {**data, "hidden_size": DEFAULT_H}
        return data


class TrainSettingsIn(BaseModel):
    model_config = Strict
    steps: int = Field(1200, ge=1, le=MAX_STEPS)
    batch_size: int = Field(32, ge=1, le=MAX_BATCH)
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(0.01, gt=0, le=10)
    clip: float = Field(1.0, ge=0, le=1000, description="global-norm threshold; 0: off")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seeds the order of the batches")
    eval_every: int = Field(50, ge=1, le=MAX_STEPS)
    temperature: float = Field(
        0.8, gt=0, le=MAX_TEMPERATURE, description="text tasks: temperature of the samples"
    )


class TrainRequest(BaseModel):
    model_config = Strict
    task: TrainTaskIn
    model: TrainModelIn = Field(default_factory=TrainModelIn)
    train: TrainSettingsIn = Field(default_factory=TrainSettingsIn)


class _RefusedError(Exception):
    def __init__(self, loc: list, msg: str) -> None:
        super().__init__(msg)
        self.detail = [{"loc": loc, "msg": msg, "type": "value_error"}]


def check_limits(req: TrainRequest) -> None:
    """Limits pydantic cannot see: the task's minimum length and the work budget."""
    task = TRAIN_TASKS[req.task.name]
    if req.task.text is not None and task.alphabet is None:
        raise _RefusedError(["task", "text"], f"task {task.name!r} takes no text; charlm does")
    if req.task.length < task.min_length:
        raise _RefusedError(["task", "length"],
                       f"task {task.name!r} needs length >= {task.min_length}: set "
                       f"task.length to {task.min_length} or more")  # fmt: skip
    widths = req.model.widths
    for name, value, limit in (("hidden_size", max(widths), MAX_H),
                               ("num_layers", len(widths), MAX_LAYERS)):  # fmt: skip
        if value > limit:
            raise _RefusedError(["model", name], f"model.{name} must be at most {limit} "
                                f"for training, got {getattr(req.model, name)}")  # fmt: skip
    for name, size in (("input_size", task.input_size), ("output_size", task.output_size)):
        given = getattr(req.model, name)
        if given is not None and given != size:
            raise _RefusedError(
                ["model", name],
                f"model.{name} is {given} but task {task.name!r} has {name} {size}: "
                f"leave model.{name} out (it follows from the task) or set it to {size}",
            )
    directions = 2 if req.model.bidirectional else 1
    inputs = [task.input_size] + [directions * H for H in widths[:-1]]  # D_k: what layer k reads
    per_step = directions * sum(H * (H + D) for H, D in zip(widths, inputs, strict=True))
    work = req.train.steps * req.train.batch_size * req.task.length * per_step
    if work > max_work():
        raise _RefusedError(
            ["train", "steps"],
            f"work steps·batch·T·Σ_k H_k·(H_k+D_k) = {work:.3g} is above the limit "
            f"{max_work():.3g}: "
            "fewer steps, a smaller batch, a shorter sequence or a smaller model",
        )


def check_weights(req: TrainRequest) -> None:
    """Starting weights, when given, must fit the model and the task (names, shapes, finite).
    Call it off the event loop: a model's weights can be hundreds of thousands of numbers."""
    if req.model.weights is None:
        return
    task = TRAIN_TASKS[req.task.name]
    model = {**req.model.model_dump(), "input_size": task.input_size,
             "output_size": task.output_size}  # fmt: skip
    try:
        check_params(spec_from_dict(model), req.model.weights)
    except ModelError as exc:
        raise _RefusedError(
            ["model", "weights"],
            f"{exc}. Training starts from these weights, so they must fit task "
            f"{task.name!r} (input_size {task.input_size}, output_size {task.output_size}); "
            "leave model.weights out to start from model.init",
        ) from None


def make_trainer(req: TrainRequest) -> Trainer:
    config = TrainConfig(
        task=req.task.name, length=req.task.length, task_seed=req.task.seed,
        steps=req.train.steps, batch_size=req.train.batch_size, optimizer=req.train.optimizer,
        lr=req.train.lr, clip=req.train.clip, seed=req.train.seed,
    )  # fmt: skip
    task = None
    try:
        if req.task.text is not None:
            task = train_tasks.charlm_task(charlm.make_corpus(req.task.text))
        return Trainer(config, req.model.model_dump(), task)
    except ValueError as exc:  # a text too short, or too short for the length T
        field = "text" if req.task.text is not None else "length"
        raise _RefusedError(["task", field], str(exc)) from None


def snapshot(trainer: Trainer) -> dict[str, Any]:
    """Gates, c, h and the readout over held-out sequence 0, as the model is now."""
    X, loss = trainer.sample()
    spec = trainer.spec
    size = X.shape[0] * len(spec.directions) * sum(spec.widths) * (len(spec.gates) + 2)
    if size > MAX_SNAPSHOT_NUMBERS:
        return {"skipped": f"{size} numbers is above the snapshot limit {MAX_SNAPSHOT_NUMBERS}"}
    model = {**trainer.model, "weights": trainer.params}
    run = prepare(model, X, loss)
    layers = run.forward()
    assert run.net is not None
    return {
        "cell": spec.cell, "steps": X.shape[0], "hidden_size": spec.hidden_size,
        "num_layers": spec.num_layers, "gates": list(spec.gates), "inputs": X,
        "outputs": run.net.Y[:, 0], "target": loss["target"],
        "layers": [{"gates": rec["gates"], "c": rec["c"], "h": rec["h"]} for rec in layers],
    }  # fmt: skip


def sample_text(trainer: Trainer, temperature: float, seed: int) -> str:
    """SAMPLE_CHARS characters from the model as it is now, seeded by the run and its step."""
    assert trainer.task.alphabet is not None
    rng = np.random.default_rng((seed, trainer.step))
    return charlm.sample(trainer.spec, trainer.params, trainer.task.alphabet, SAMPLE_PRIME,
                         SAMPLE_CHARS, temperature, rng)  # fmt: skip


def _alphabet(trainer: Trainer) -> dict[str, str]:
    alphabet = trainer.task.alphabet
    return {} if alphabet is None else {"alphabet": alphabet}


def _finite(x: float) -> float | None:
    return x if np.isfinite(x) else None


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
        except _RefusedError as exc:
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
    except _RefusedError as exc:
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
                 "solved": task.solved, "summary": task.summary, **_alphabet(trainer)},
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
            "loss": _finite(float(np.mean(losses))), "grad_norm": _finite(float(np.mean(norms))),
            "grad_norm_max": _finite(float(np.max(norms))), "steps_per_s": rate,
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
                     "metric": metric, "model": model, **_alphabet(trainer)})  # fmt: skip
