"""Training: mini-batches from a seeded task, BPTT, global-norm clipping, Adam or SGD.

Every model trains through the cells' own forward and backward (`network.py`, one set of
equations) in their lean mode: scratch arrays reused from step to step, one input projection
over all steps, no power-of-two rescaling of the carried gradient (a trace keeps all that for
exact log norms at any depth; a training batch of T <= a few hundred steps does not need it).

    tr = Trainer(TrainConfig(task="adding", length=50), {"cell": "lstm", "hidden_size": 16,
                 "init": {"forget_bias": 1.0}})
    losses, norms = tr.train_steps(100)
    tr.evaluate()          # {"mse": ...} on a fixed held-out set
    tr.model_dict()        # weights inline, PyTorch names, readout included

Reproducible: the data come from default_rng((task seed, train seed)), the held-out set from
a different stream of the task seed, the weights from model.init.seed (or model.weights:
training then continues from them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..cells import losses, network
from ..cells.common import Scratch
from ..params import ModelSpec, check_params, init_params, spec_from_dict, spec_to_dict
from . import optim, train_tasks
from .train_tasks import TrainTask

EVAL_STREAM = 0x5EED  # the held-out set: default_rng((task seed, EVAL_STREAM))


@dataclass(frozen=True)
class TrainConfig:
    task: str = "adding"
    length: int = 50  # T
    task_seed: int = 0  # seeds the data (with `seed`) and the held-out set
    steps: int = 1200  # optimiser steps
    batch_size: int = 32
    optimizer: str = "adam"  # "adam" | "sgd"
    lr: float = 0.01
    clip: float = 1.0  # global-norm threshold; 0 turns clipping off
    seed: int = 0  # seeds the order of the training batches
    eval_size: int = 256  # held-out sequences for the metric


def loss_and_grads(
    spec: ModelSpec, params, X, loss: losses.Loss, ws: list[Scratch] | None = None
) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
    """Loss, parameter gradients (PyTorch names) and outputs for a batch X (T, B, D), through
    the cells' own forward and backward; ws: their lean mode (one Scratch per layer entry)."""
    net = network.forward(spec, params, X, ws=ws)
    L, _, grads = network.backward(spec, params, net, loss, ws)
    return L, grads, net.Y


# ---- the trainer -----------------------------------------------------------------------------


class Trainer:
    """One training run; `train_steps(n)` advances it (call it off the event loop)."""

    def __init__(
        self, config: TrainConfig, model: Mapping[str, Any], task: TrainTask | None = None
    ) -> None:
        """task: in place of the task named by config.task (charlm on an uploaded text)."""
        self.config = config
        self.task = task or train_tasks.get(config.task)
        if config.length < self.task.min_length:
            raise ValueError(
                f"task.length must be at least {self.task.min_length} for {config.task!r}"
            )
        weights = model.get("weights")  # the starting point when given, else model.init's draw
        model = {k: v for k, v in model.items() if k != "weights"}
        model.update(input_size=self.task.input_size, output_size=self.task.output_size)
        self.model = model
        self.spec = spec_from_dict(model)
        if self.spec.embedding is not None:
            raise ValueError("model.embedding: the training tasks feed vectors, not token ids")
        self.params = (
            init_params(self.spec) if weights is None else check_params(self.spec, weights)
        )
        self.opt = optim.make(config.optimizer, self.params, config.lr)
        self.rng = np.random.default_rng((config.task_seed, config.seed))
        eval_rng = np.random.default_rng((config.task_seed, EVAL_STREAM))
        held_out = self.task.eval_batch or self.task.batch
        self.eval_X, self.eval_target = held_out(config.length, config.eval_size, eval_rng)
        self.step = 0
        self.ws: list[Scratch] = [{} for _ in self.spec.entries]  # the lean mode's arrays

    def _loss(self, target: np.ndarray) -> losses.Loss:
        return losses.Loss(self.task.loss, self.task.at, target)

    def train_steps(self, n: int) -> tuple[list[float], list[float]]:
        """n optimiser steps; the loss and the gradient norm before clipping of each."""
        out_loss, out_norm = [], []
        for _ in range(min(n, self.config.steps - self.step)):
            X, target = self.task.batch(self.config.length, self.config.batch_size, self.rng)
            L, grads, _ = loss_and_grads(self.spec, self.params, X, self._loss(target), self.ws)
            norm = optim.clip_global_norm(grads, self.config.clip)
            if np.isfinite(norm):  # a NaN step would poison every weight: skip it
                self.opt.step(grads)
            self.step += 1
            out_loss.append(L)
            out_norm.append(norm)
        return out_loss, out_norm

    @property
    def finished(self) -> bool:
        return self.step >= self.config.steps

    def evaluate(self) -> dict[str, float]:
        """The task's metric (and the loss) on the held-out set."""
        Y = network.forward(self.spec, self.params, self.eval_X).Y
        Y = Y[-1:] if self.task.at == "last" else Y
        L, _ = losses.value_and_grad(self._loss(self.eval_target), Y)
        value = train_tasks.metric(self.task, Y, self.eval_target, self.eval_X[-Y.shape[0] :])
        return {self.task.metric: value, "loss": L}

    def sample(self) -> tuple[np.ndarray, dict[str, Any]]:
        """Held-out sequence 0 (T, D) and its loss description, for a trace snapshot."""
        target = self.eval_target[:, :1]  # (T', 1, ...)
        if self.task.at == "last":
            target = target[0]  # losses.parse takes (B, O) or (B,) for "last"
        return self.eval_X[:, 0], {"kind": self.task.loss, "at": self.task.at, "target": target}

    def model_dict(self) -> dict[str, Any]:
        """The model with its weights inline (nested lists, PyTorch names, readout included)."""
        return {
            **spec_to_dict(self.spec), "init": dict(self.model.get("init") or {}),
            "weights": {k: v.tolist() for k, v in self.params.items()},
        }  # fmt: skip


def train(config: TrainConfig, model: Mapping[str, Any]) -> tuple[Trainer, list[float]]:
    """Run a whole training; the trainer and the loss of every step."""
    tr = Trainer(config, model)
    return tr, tr.train_steps(config.steps)[0]
