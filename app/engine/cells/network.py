"""Stacked layers, the optional readout, and BPTT through the whole network.

Layer k > 0 reads layer k-1's h. The readout y = W_out h + b_out sits on the top layer's h:
at every step ("every_step"), or once on h_n ("final": [h_fwd at T-1 | h_rev at 0] for a
bidirectional model, as torch classifiers read it; the last step's h for a one-way one).
Everything is time-major here: inputs (T, B, D).

Bidirectional layers (as torch.nn.LSTM(bidirectional=True)): the reverse direction runs the
same cell over the input in reverse order, and its outputs are put back in input order, so the
layer's output at position t is [h_fwd_t | h_rev_t] (torch's output[t, :R], output[t, R:]).
The next layer, the readout and the loss read that concatenation; the gradient reaching it is
split between the two directions, and what both send down to the layer below is summed.
Caches are kept per (layer, direction) entry, in the order of ModelSpec.entries; a reverse
entry's cache is in its own processing order (cache row s is input position T-1-s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..params import ModelError, ModelSpec
from . import gru, lstm, lstmp, rnn
from .common import Clamp, LayerParams, ScaledGrad, Scratch, add_scaled, reverse_time
from .losses import Loss, value_and_grad

MODULES = {"lstm": lstm, "gru": gru, "rnn": rnn}


class ClampError(ValueError):
    """A clamp entry that does not fit the model or the sequence."""


def layer_params(
    spec: ModelSpec, params: dict[str, np.ndarray], k: int, dtype, sfx: str = ""
) -> LayerParams:
    """Layer k's parameters; sfx "_reverse" for the reverse direction of a bidirectional one."""

    def get(name: str) -> np.ndarray:
        return np.asarray(params[f"{name}_l{k}{sfx}"], dtype=dtype)

    def optional(name: str) -> np.ndarray | None:
        return get(name) if f"{name}_l{k}{sfx}" in params else None

    return LayerParams(
        W_ih=get("weight_ih"), W_hh=get("weight_hh"), b_ih=get("bias_ih"), b_hh=get("bias_hh"),
        w_ci=optional("weight_ci"), w_cf=optional("weight_cf"), w_co=optional("weight_co"),
        W_hr=optional("weight_hr"),
    )  # fmt: skip


def module(spec: ModelSpec) -> Any:
    """The cell module computing this model's layers."""
    return lstmp if spec.proj_size else MODULES[spec.cell]


def build_clamps(spec: ModelSpec, entries: Sequence[dict] | None, T: int) -> list[Clamp | None]:
    """Per-entry masks (one per layer and direction, in ModelSpec.entries order) from JSON
    clamp entries {"t", "gate", "value", "units"?, "layer"?}.

    "t" is a step or a list of steps (input positions: a bidirectional layer's gate is held in
    both directions); "units" None means every unit; "layer" None every layer.
    """
    n_dirs = len(spec.directions)
    clamps: list[Clamp | None] = [None] * (spec.num_layers * n_dirs)
    if not entries:
        return clamps
    if spec.cell == "rnn":
        raise ClampError(f"clamp: a {spec.nonlinearity} RNN has no gates to hold")
    G, widths = spec.n_blocks, spec.widths
    mask = [np.zeros((T, G * H), dtype=bool) for H in widths]
    value = [np.zeros((T, G * H)) for H in widths]
    for n, entry in enumerate(entries):
        where = f"clamp[{n}]"
        gate = entry.get("gate")
        if gate not in spec.gates:
            raise ClampError(f"{where}.gate must be one of {spec.gates}, got {gate!r}")
        steps = np.atleast_1d(np.asarray(entry.get("t"), dtype=np.int64))
        if steps.size == 0 or steps.min() < 0 or steps.max() >= T:
            raise ClampError(f"{where}.t must lie in [0, {T - 1}]")
        layer = entry.get("layer")
        layers = range(spec.num_layers) if layer is None else [layer]
        if layer is not None and not 0 <= layer < spec.num_layers:
            raise ClampError(f"{where}.layer must lie in [0, {spec.num_layers - 1}]")
        H = min(widths[k] for k in layers)
        units = entry.get("units")
        given = units is not None
        units = np.asarray(units if given else [], dtype=np.int64)
        if given and (units.size == 0 or units.min() < 0 or units.max() >= H):
            raise ClampError(f"{where}.units must lie in [0, {H - 1}]")
        v = float(entry.get("value", 0.0))
        lo = -1.0 if gate in ("g", "n") else 0.0  # tanh gates range over [-1, 1]
        if not lo <= v <= 1.0:
            raise ClampError(f"{where}.value for gate {gate!r} must lie in [{lo}, 1]")
        for k in layers:
            cols = spec.gates.index(gate) * widths[k] + (units if given else np.arange(widths[k]))
            mask[k][np.ix_(steps, cols)] = True
            value[k][np.ix_(steps, cols)] = v
    for k in range(spec.num_layers):
        held = np.flatnonzero(mask[k].any(axis=1))
        if held.size:
            clamps[k * n_dirs] = Clamp(mask[k], value[k], frozenset(held.tolist()))
            if n_dirs == 2:  # the reverse direction meets input position t at its step T-1-t
                steps_rev = frozenset((T - 1 - held).tolist())
                clamps[k * n_dirs + 1] = Clamp(mask[k][::-1], value[k][::-1], steps_rev)
    return clamps


@dataclass
class NetCache:
    caches: list[Any]  # one cell Cache per (layer, direction) entry, ModelSpec.entries order
    Y: np.ndarray  # (T, B, O) readout of the top h ((1, B, O) of h_n: "final"), or the top h
    top: np.ndarray | None = None  # (T, B, N·R) the top layer's output (what the readout reads)
    tokens: np.ndarray | None = None  # (T, B) token ids, when the model has an embedding
    grad_inputs: ScaledGrad | None = None  # dL/dX (T, B, D), set by backward


def embed(params: dict[str, np.ndarray], tokens: np.ndarray, dtype) -> np.ndarray:
    """The embedding rows of token ids (T, B): (T, B, D) in the run's dtype."""
    return np.asarray(params["embedding.weight"], dtype=dtype)[tokens]


def _layer_forward(spec, p, x, k, j, state0, clamp, start, ws) -> Any:
    B, dtype = x.shape[1], x.dtype
    R, H = spec.out_width(k), spec.widths[k]
    h0 = np.zeros((B, R), dtype) if state0 is None else state0["h"][j].astype(dtype)
    if spec.cell == "lstm":
        c0 = np.zeros((B, H), dtype) if state0 is None else state0["c"][j].astype(dtype)
        if spec.proj_size:
            return lstmp.forward(p, x, h0, c0, clamp, start, ws)
        return lstm.forward(p, x, h0, c0, spec.variant, clamp, start, ws)
    if spec.cell == "gru":
        return gru.forward(p, x, h0, clamp, start, ws)
    return rnn.forward(p, x, h0, start, spec.nonlinearity, ws)


def forward(
    spec: ModelSpec,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    state0: dict[str, Any] | None = None,
    clamps: list[Clamp | None] | None = None,
    start: int = 0,
    tokens: np.ndarray | None = None,
    ws: Sequence[Scratch] | None = None,
) -> NetCache:
    """Run every layer over X (T, B, D); state0 {"h": [(B, R_k) per entry], "c": [(B, H_k)
    per entry]} (an (entries, B, H) array does too) or zeros; tokens: the ids X was embedded
    from (kept for the embedding's gradient).

    start: the global index of X[0] when X continues a sequence from state0 (live mode); the
    numbers are then bit for bit those of the whole sequence run at once (common.project).
    ws: training's lean mode, one common.Scratch per entry, kept for backward (see lstm.py)."""
    dtype = X.dtype
    n_dirs = len(spec.directions)
    clamps = clamps or [None] * (spec.num_layers * n_dirs)
    caches: list[Any] = []
    inp = X
    for k in range(spec.num_layers):
        outs = []
        for d in range(n_dirs):
            j = k * n_dirs + d
            p = layer_params(spec, params, k, dtype, "_reverse" if d else "")
            cache = _layer_forward(spec, p, inp[::-1] if d else inp, k, j, state0, clamps[j],
                                   start, None if ws is None else ws[j])  # fmt: skip
            caches.append(cache)
            outs.append(cache.Hs[::-1] if d else cache.Hs)
        inp = outs[0] if n_dirs == 1 else np.concatenate(outs, axis=2)
    Y = inp
    if spec.output_size is not None:
        read = final_state(spec, inp) if spec.readout == "final" else inp
        Y = read @ params["readout.weight"].T.astype(dtype) + params["readout.bias"].astype(dtype)
    return NetCache(caches, Y, inp, tokens)


def final_state(spec: ModelSpec, top: np.ndarray) -> np.ndarray:
    """h_n (1, B, N·R) of the top layer's output (T, B, N·R): the forward direction after the
    last input, the reverse one after the first (it reads from the end), as torch's h_n."""
    if len(spec.directions) == 1:
        return top[-1:]
    R = top.shape[2] // 2
    return np.concatenate([top[-1:, :, :R], top[:1, :, R:]], axis=2)


def _to_top(spec: ModelSpec, dread: np.ndarray, T: int) -> np.ndarray:
    """dL/d(top output) (T, B, N·R) from dL/d(what the readout reads): final_state's adjoint."""
    if spec.readout != "final":
        return dread
    dtop = np.zeros((T,) + dread.shape[1:], dtype=dread.dtype)
    R = dread.shape[2] // len(spec.directions)
    dtop[-1, :, :R] = dread[0, :, :R]
    if len(spec.directions) == 2:
        dtop[0, :, R:] = dread[0, :, R:]
    return dtop


def _loss_gradient(spec, params, net: NetCache, loss: Loss, grads: dict) -> tuple[float, Any, Any]:
    """The loss, dL/d(top output) (T, B, N·R) and the steps where it is not zero (input order);
    the readout's gradients go into grads."""
    top = net.top if net.top is not None else net.caches[-1].Hs
    T, B, _ = top.shape
    has_ext = np.zeros(T, dtype=bool)
    has_ext[-1] = True
    if loss.kind == "sum_last":  # Σ of the top h at T-1: the readout plays no part
        dtop = np.zeros_like(top)
        dtop[-1] = 1.0
        if spec.output_size is not None:
            grads["readout.weight"] = np.zeros_like(params["readout.weight"], dtype=top.dtype)
            grads["readout.bias"] = np.zeros_like(params["readout.bias"], dtype=top.dtype)
        return float(top[-1].sum()), dtop, has_ext
    L, dY = value_and_grad(loss, net.Y)
    if spec.output_size is None:
        dtop = dY
    else:
        read = final_state(spec, top) if spec.readout == "final" else top
        flat_dY = dY.reshape(-1, dY.shape[2])
        grads["readout.weight"] = flat_dY.T @ read.reshape(flat_dY.shape[0], -1)
        grads["readout.bias"] = flat_dY.sum(0)
        dtop = _to_top(spec, dY @ params["readout.weight"].astype(top.dtype), T)
    if spec.readout == "final":
        has_ext[0] = True  # the reverse direction's h_n sits at position 0
    elif loss.kind == "next_token" or loss.at == "all":
        has_ext[:] = True
    return L, dtop, has_ext


_NAMES = (("W_ih", "weight_ih"), ("W_hh", "weight_hh"), ("b_ih", "bias_ih"), ("b_hh", "bias_hh"),
          ("w_ci", "weight_ci"), ("w_cf", "weight_cf"), ("w_co", "weight_co"),
          ("W_hr", "weight_hr"))  # fmt: skip


def backward(
    spec: ModelSpec, params: dict[str, np.ndarray], net: NetCache, loss: Loss,
    ws: Sequence[Scratch] | None = None,
) -> tuple[float, list[dict], dict[str, np.ndarray]]:  # fmt: skip
    """The loss, each entry's backward results (ModelSpec.entries order; a reverse entry's in
    its own processing order) and the parameter gradients under PyTorch names.
    Sets net.grad_inputs. ws: the lean mode, the forward's scratch (see lstm.py)."""
    dtype = net.Y.dtype
    grads: dict[str, np.ndarray] = {}
    L, dtop, has_ext = _loss_gradient(spec, params, net, loss, grads)  # dtop: (T, B, N·R)
    T, B, _ = dtop.shape
    ext = ScaledGrad(dtop.astype(dtype), np.zeros(T, dtype=np.int64))
    n_dirs = len(spec.directions)
    results: list[dict] = [{}] * (spec.num_layers * n_dirs)
    cell = module(spec)
    for k in reversed(range(spec.num_layers)):
        below: ScaledGrad | None = None  # dL/d(this layer's input), summed over directions
        R = spec.out_width(k)
        for d in range(n_dirs):
            j, sfx = k * n_dirs + d, "_reverse" if d else ""
            p = layer_params(spec, params, k, dtype, sfx)
            e = ext if n_dirs == 1 else ScaledGrad(ext.values[:, :, d * R : (d + 1) * R], ext.exp)
            res = cell.backward(p, net.caches[j], reverse_time(e) if d else e,
                                has_ext[::-1] if d else has_ext,
                                None if ws is None else ws[j])  # fmt: skip
            results[j] = res
            for short, name in _NAMES:
                if short in res["params"]:
                    grads[f"{name}_l{k}{sfx}"] = res["params"][short]
            dX = reverse_time(res["dX"]) if d else res["dX"]
            below = dX if below is None else add_scaled(below, dX)
        assert below is not None
        ext, has_ext = below, np.ones(T, dtype=bool)
    net.grad_inputs = ext
    if net.tokens is not None:  # dL/d(embedding row v) = Σ over the steps that read v
        dE = np.zeros(params["embedding.weight"].shape, dtype=dtype)
        np.add.at(dE, net.tokens.reshape(-1), ext.plain().reshape(T * B, -1))
        grads["embedding.weight"] = dE
    return L, results, grads


def check_inputs(spec: ModelSpec, X: np.ndarray) -> None:
    if X.ndim != 3 or X.shape[2] != spec.input_size or X.shape[0] < 1:
        raise ModelError(
            f"inputs have shape {X.shape[:1] + X.shape[2:]}, expected (T, {spec.input_size})"
        )
    if not np.all(np.isfinite(X)):
        raise ModelError("inputs contain NaN or infinity")
