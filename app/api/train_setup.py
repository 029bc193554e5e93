"""The training request of WS /ws/train (routes/train.py): its schemas and limits, the trainer
it makes, and what a run reports besides progress (snapshots of the gates, text samples)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

from ..engine import prepare
from ..engine.params import ModelError, check_params, spec_from_dict
from ..engine.training import charlm, train_tasks
from ..engine.training.train import TrainConfig, Trainer
from ..engine.training.train_tasks import TRAIN_TASKS
from ..settings import get_settings
from .schemas import ModelIn, Strict

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


class RefusedError(Exception):
    def __init__(self, loc: list, msg: str) -> None:
        super().__init__(msg)
        self.detail = [{"loc": loc, "msg": msg, "type": "value_error"}]


def check_limits(req: TrainRequest) -> None:
    """Limits pydantic cannot see: the task's minimum length and the work budget."""
    task = TRAIN_TASKS[req.task.name]
    if req.task.text is not None and task.alphabet is None:
        raise RefusedError(["task", "text"], f"task {task.name!r} takes no text; charlm does")
    if req.task.length < task.min_length:
        raise RefusedError(["task", "length"],
                       f"task {task.name!r} needs length >= {task.min_length}: set "
                       f"task.length to {task.min_length} or more")  # fmt: skip
    widths = req.model.widths
    for name, value, limit in (("hidden_size", max(widths), MAX_H),
                               ("num_layers", len(widths), MAX_LAYERS)):  # fmt: skip
        if value > limit:
            raise RefusedError(["model", name], f"model.{name} must be at most {limit} "
                                f"for training, got {getattr(req.model, name)}")  # fmt: skip
    for name, size in (("input_size", task.input_size), ("output_size", task.output_size)):
        given = getattr(req.model, name)
        if given is not None and given != size:
            raise RefusedError(
                ["model", name],
                f"model.{name} is {given} but task {task.name!r} has {name} {size}: "
                f"leave model.{name} out (it follows from the task) or set it to {size}",
            )
    directions = 2 if req.model.bidirectional else 1
    inputs = [task.input_size] + [directions * H for H in widths[:-1]]  # D_k: what layer k reads
    per_step = directions * sum(H * (H + D) for H, D in zip(widths, inputs, strict=True))
    work = req.train.steps * req.train.batch_size * req.task.length * per_step
    if work > max_work():
        raise RefusedError(
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
        raise RefusedError(
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
        raise RefusedError(["task", field], str(exc)) from None


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


def alphabet_of(trainer: Trainer) -> dict[str, str]:
    alphabet = trainer.task.alphabet
    return {} if alphabet is None else {"alphabet": alphabet}


def finite(x: float) -> float | None:
    return x if np.isfinite(x) else None
