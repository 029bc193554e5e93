"""Training: mini-batches from a seeded task, BPTT, global-norm clipping, Adam or SGD.

The step-through engine (`network.py`) records everything and rescales gradients by powers
of two for exact log norms; training needs none of that, only speed. So the standard LSTM,
the GRU and the tanh RNN get lean batched kernels here (float64, PyTorch equations, input
projections and weight gradients as one matmul over all steps); their gradients equal
`network.backward`'s (tested to 1e-10). Other LSTM variants train through the engine.

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

from . import losses, network, optim, train_tasks
from .params import ModelSpec, check_params, init_params, spec_from_dict, spec_to_dict
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


def _gate_scale(H: int) -> np.ndarray:
    """LSTM pre-activation scale per row block [i|f|g|o]: sigmoid(a) = s·tanh(s·a) + 1 − s
    with s = 1/2, and tanh(a) with s = 1, so all four gates are one tanh call."""
    s = np.full(4 * H, 0.5)
    s[2 * H : 3 * H] = 1.0
    return s


def _buf(ws: dict | None, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A scratch array reused across training steps. Fresh arrays of a few hundred kB cost
    a page fault per page on every step (glibc hands them back to the OS), which made a
    step 20x slower than its arithmetic; so the trainer keeps its buffers."""
    if ws is None:
        return np.empty(shape)
    key = (name, shape)
    if key not in ws:
        ws[key] = np.empty(shape)
    return ws[key]


def _project(X, W, b, out):
    """W x_t + b for every step at once: (T, B, D) -> out (T, B, G)."""
    T, B, D = X.shape
    np.matmul(X.reshape(T * B, D), W.T, out=out.reshape(T * B, -1))
    out += b
    return out


# ---- lean kernels: forward returns a cache, backward takes dL/dh_t (T, B, H) ----------------
# Per-step arithmetic works on (B, H)-sized arrays; only whole-sequence records live in `ws`.


def lstm_forward(W_ih, W_hh, b, X, ws=None):
    """Standard LSTM over X (T, B, D) from zero state; b = b_ih + b_hh."""
    T, B, _ = X.shape
    H = W_hh.shape[1]
    s = _gate_scale(H)
    off = 1.0 - s
    Xp = _project(X, s[:, None] * W_ih, s * b, _buf(ws, "Xp", (T, B, 4 * H)))  # scaled a
    Whs = (s[:, None] * W_hh).T  # (H, 4H)
    Gs = _buf(ws, "G", (T, B, 4 * H))  # gate values i f g o
    C = _buf(ws, "C", (T, B, H))
    TC = _buf(ws, "TC", (T, B, H))  # tanh(c)
    Hs = _buf(ws, "Hs", (T, B, H))
    h = np.zeros((B, H))
    c = np.zeros((B, H))
    for t in range(T):
        G = np.tanh(Xp[t] + h @ Whs, out=Gs[t])
        G *= s  # sigmoid(a) = tanh(a/2)/2 + 1/2 on the i, f, o blocks
        G += off
        c = G[:, H : 2 * H] * c + G[:, :H] * G[:, 2 * H : 3 * H]  # c' = f⊙c + i⊙g
        C[t] = c
        h = np.multiply(G[:, 3 * H :], np.tanh(c, out=TC[t]), out=Hs[t])  # h' = o⊙tanh(c')
    return {"X": X, "G": Gs, "C": C, "TC": TC, "Hs": Hs, "ws": ws}


def lstm_backward(W_ih, W_hh, cache, dHs, need_dX=True):
    X, Gs, C, TC, Hs, ws = (cache[k] for k in ("X", "G", "C", "TC", "Hs", "ws"))
    T, B, H = C.shape
    i, f, g, o = (Gs[..., k * H : (k + 1) * H] for k in range(4))  # (T, B, H) views
    # Whole-sequence factors first (few big ops), so each step below is 8 small ones.
    dAct = _buf(ws, "dAct", (T, B, 4 * H))  # d gate / d pre-activation: σ(1-σ), 1-tanh²
    np.multiply(Gs, Gs, out=dAct)
    np.subtract(Gs, dAct, out=dAct)
    dg_act = dAct[..., 2 * H : 3 * H]
    np.multiply(g, g, out=dg_act)
    np.subtract(1.0, dg_act, out=dg_act)
    OT = _buf(ws, "OT", (T, B, H))  # dh/dc = o ⊙ (1 - tanh²(c))
    np.multiply(TC, TC, out=OT)
    np.subtract(1.0, OT, out=OT)
    OT *= o
    P = _buf(ws, "P", (T, B, 3, H))  # dc -> (di, df, dg) = dc ⊙ (g, c_{t-1}, i)
    P[:, :, 0] = g
    P[0, :, 1] = 0.0
    P[1:, :, 1] = C[:-1]
    P[:, :, 2] = i
    dA = _buf(ws, "dA", (T, B, 4 * H))  # dL/d pre-activation
    dh_next = np.zeros((B, H))
    dc_next = np.zeros((B, H))
    for t in reversed(range(T)):
        dh = dHs[t] + dh_next
        dc = dh * OT[t]  # through h = o⊙tanh(c) ...
        dc += dc_next  # ... plus the carousel from c_{t+1}
        dG = dA[t]
        np.multiply(dc[:, None, :], P[t], out=dG[:, : 3 * H].reshape(B, 3, H))  # di df dg
        np.multiply(dh, TC[t], out=dG[:, 3 * H :])  # do
        dG *= dAct[t]  # back through the sigmoids and tanh
        dc_next = dc * f[t]
        dh_next = dG @ W_hh
    return _linear_grads(dA, X, Hs, W_ih, need_dX=need_dX)


def gru_forward(W_ih, W_hh, b_ih, b_hh, X, ws=None):
    """PyTorch GRU: n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)), h' = (1−z)⊙n + z⊙h."""
    T, B, _ = X.shape
    H = W_hh.shape[1]
    Xp = _project(X, W_ih, b_ih, _buf(ws, "Xp", (T, B, 3 * H)))
    Wht = W_hh.T
    R, Z, N, Hn, Hs = (_buf(ws, k, (T, B, H)) for k in ("R", "Z", "N", "Hn", "Hs"))
    h = np.zeros((B, H))
    for t in range(T):
        hp = h @ Wht + b_hh
        rz = 0.5 * np.tanh(0.5 * (Xp[t, :, : 2 * H] + hp[:, : 2 * H])) + 0.5
        R[t], Z[t], Hn[t] = rz[:, :H], rz[:, H:], hp[:, 2 * H :]  # Hn: W_hn h + b_hn
        N[t] = np.tanh(Xp[t, :, 2 * H :] + R[t] * Hn[t])
        h = (1.0 - Z[t]) * N[t] + Z[t] * h
        Hs[t] = h
    return {"X": X, "R": R, "Z": Z, "N": N, "Hn": Hn, "Hs": Hs, "ws": ws}


def gru_backward(W_ih, W_hh, cache, dHs, need_dX=True):
    X, R, Z, N, Hn, Hs, ws = (cache[k] for k in ("X", "R", "Z", "N", "Hn", "Hs", "ws"))
    T, B, H = Hs.shape
    dXp = _buf(ws, "dXp", (T, B, 3 * H))  # dL/d(W_ih x + b_ih)
    dHp = _buf(ws, "dHp", (T, B, 3 * H))  # dL/d(W_hh h + b_hh)
    dh_next = np.zeros((B, H))
    zeros = np.zeros((B, H))
    for t in reversed(range(T)):
        r, z, n = R[t], Z[t], N[t]
        h_prev = Hs[t - 1] if t else zeros
        dh = dHs[t] + dh_next
        dan = dh * (1.0 - z) * (1.0 - n * n)  # back through n = tanh(.)
        daz = dh * (h_prev - n) * z * (1.0 - z)
        dar = dan * Hn[t] * r * (1.0 - r)
        dXp[t, :, :H], dXp[t, :, H : 2 * H], dXp[t, :, 2 * H :] = dar, daz, dan
        dHp[t, :, :H], dHp[t, :, H : 2 * H], dHp[t, :, 2 * H :] = dar, daz, dan * r
        dh_next = dHp[t] @ W_hh + dh * z
    dW_ih, dW_hh, db_ih, dX = _linear_grads(dXp, X, Hs, W_ih, dHp, need_dX)
    return dW_ih, dW_hh, db_ih, dX, dHp.sum((0, 1))


def rnn_forward(W_ih, W_hh, b, X, ws=None):
    T, B, _ = X.shape
    H = W_hh.shape[1]
    Xp = _project(X, W_ih, b, _buf(ws, "Xp", (T, B, H)))
    Wht = W_hh.T
    Hs = _buf(ws, "Hs", (T, B, H))
    h = np.zeros((B, H))
    for t in range(T):
        h = np.tanh(Xp[t] + h @ Wht, out=Hs[t])
    return {"X": X, "Hs": Hs, "ws": ws}


def rnn_backward(W_ih, W_hh, cache, dHs, need_dX=True):
    X, Hs = cache["X"], cache["Hs"]
    dA = _buf(cache["ws"], "dA", Hs.shape)
    dh_next = np.zeros_like(Hs[0])
    for t in reversed(range(Hs.shape[0])):
        np.multiply(dHs[t] + dh_next, 1.0 - Hs[t] * Hs[t], out=dA[t])  # back through tanh
        dh_next = dA[t] @ W_hh
    return _linear_grads(dA, X, Hs, W_ih, need_dX=need_dX)


def _linear_grads(dA, X, Hs, W_ih, dA_h=None, need_dX=True):
    """Weight gradients of a = W_ih x_t + W_hh h_{t-1} + b, summed over the steps, and
    dL/dx_t for the layer below (when there is one)."""
    T, B, G = dA.shape
    dA_h = dA if dA_h is None else dA_h
    dW_ih = _sum_outer(dA, X)
    dW_hh = _sum_outer(dA_h[1:], Hs[:-1])  # h_{-1} = 0
    dX = (dA.reshape(T * B, G) @ W_ih).reshape(T, B, -1) if need_dX else None
    return dW_ih, dW_hh, dA.sum((0, 1)), dX


def _sum_outer(A, Z):
    """Σ_t A[t]ᵀ Z[t] as one small matmul per step: one big (G, T·B) @ (T·B, D) product
    sends OpenBLAS to its threaded path, which is 10-50x slower at these sizes on a busy
    2-core machine."""
    out = np.zeros((A.shape[2], Z.shape[2]))
    for a, z in zip(A, Z, strict=True):
        out += a.T @ z
    return out


# ---- the network: layers, readout, loss ------------------------------------------------------


def lean(spec: ModelSpec) -> bool:
    """Whether the lean kernels cover this model (else the engine computes the gradients)."""
    return spec.plain and (spec.cell != "lstm" or spec.variant == "standard")


def _layer_forward(spec: ModelSpec, params, k: int, X, ws):
    W_ih, W_hh = params[f"weight_ih_l{k}"], params[f"weight_hh_l{k}"]
    b_ih, b_hh = params[f"bias_ih_l{k}"], params[f"bias_hh_l{k}"]
    if spec.cell == "lstm":
        return lstm_forward(W_ih, W_hh, b_ih + b_hh, X, ws)
    if spec.cell == "gru":
        return gru_forward(W_ih, W_hh, b_ih, b_hh, X, ws)
    return rnn_forward(W_ih, W_hh, b_ih + b_hh, X, ws)


def forward_outputs(spec: ModelSpec, params, X, at: str = "last", ws: list | None = None):
    """Readout outputs Y (T', B, O) and the per-layer caches; ws: one scratch dict per layer
    (None: fresh arrays)."""
    if not lean(spec):
        net = network.forward(spec, params, X)
        Y = net.Y[-1:] if at == "last" else net.Y
        return Y, net
    caches, inp = [], X
    for k in range(spec.num_layers):
        caches.append(_layer_forward(spec, params, k, inp, None if ws is None else ws[k]))
        inp = caches[-1]["Hs"]
    top = inp[-1:] if at == "last" else inp
    Y = top @ params["readout.weight"].T + params["readout.bias"]
    return Y, caches


def loss_and_grads(
    spec: ModelSpec, params, X, loss: losses.Loss, ws: list | None = None
) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
    """Loss, parameter gradients (PyTorch names) and outputs for a batch X (T, B, D)."""
    Y, caches = forward_outputs(spec, params, X, loss.at, ws)
    if not lean(spec):
        L, _, grads = network.backward(spec, params, caches, loss)
        return L, grads, Y
    L, dY = losses.value_and_grad(loss, Y)  # dY (T', B, O)
    top = caches[-1]["Hs"]
    T = top.shape[0]
    top_used = top[-1:] if loss.at == "last" else top
    flat_dY = dY.reshape(-1, dY.shape[-1])
    grads = {
        "readout.weight": flat_dY.T @ top_used.reshape(flat_dY.shape[0], -1),
        "readout.bias": flat_dY.sum(0),
    }
    dHs = _buf(None if ws is None else ws[-1], "dHs_top", top.shape)
    dHs[: T - dY.shape[0]] = 0.0
    dHs[T - dY.shape[0] :] = dY @ params["readout.weight"]  # (T', B, H) dL/dh from the loss
    for k in reversed(range(spec.num_layers)):
        W_ih, W_hh = params[f"weight_ih_l{k}"], params[f"weight_hh_l{k}"]
        if spec.cell == "gru":
            dW_ih, dW_hh, db_ih, dHs, db_hh = gru_backward(W_ih, W_hh, caches[k], dHs, k > 0)
        else:
            backward = lstm_backward if spec.cell == "lstm" else rnn_backward
            dW_ih, dW_hh, db_ih, dHs = backward(W_ih, W_hh, caches[k], dHs, k > 0)
            db_hh = db_ih.copy()  # b_ih and b_hh enter the sum identically
        grads[f"weight_ih_l{k}"], grads[f"weight_hh_l{k}"] = dW_ih, dW_hh
        grads[f"bias_ih_l{k}"], grads[f"bias_hh_l{k}"] = db_ih, db_hh
    return L, grads, Y


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
        self.ws: list[dict] = [{} for _ in range(self.spec.num_layers)]  # scratch buffers

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
        Y, _ = forward_outputs(self.spec, self.params, self.eval_X, self.task.at)
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
