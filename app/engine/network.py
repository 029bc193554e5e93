"""Stacked layers, the optional readout, and BPTT through the whole network.

Layer k > 0 reads layer k-1's h. The readout y = W_out h + b_out sits on the top layer's h.
Everything is time-major here: inputs (T, B, D).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import gru, lstm, rnn
from .common import Clamp, LayerParams, ScaledGrad
from .losses import Loss, value_and_grad
from .params import ModelError, ModelSpec

MODULES = {"lstm": lstm, "gru": gru, "rnn": rnn}


class ClampError(ValueError):
    """A clamp entry that does not fit the model or the sequence."""


def layer_params(spec: ModelSpec, params: dict[str, np.ndarray], k: int, dtype) -> LayerParams:
    def get(name: str) -> np.ndarray:
        return np.asarray(params[f"{name}_l{k}"], dtype=dtype)

    def peephole(name: str) -> np.ndarray | None:
        return get(name) if f"{name}_l{k}" in params else None

    return LayerParams(
        W_ih=get("weight_ih"), W_hh=get("weight_hh"), b_ih=get("bias_ih"), b_hh=get("bias_hh"),
        w_ci=peephole("weight_ci"), w_cf=peephole("weight_cf"), w_co=peephole("weight_co"),
    )  # fmt: skip


def build_clamps(spec: ModelSpec, entries: Sequence[dict] | None, T: int) -> list[Clamp | None]:
    """Per-layer masks from JSON clamp entries {"t", "gate", "value", "units"?, "layer"?}.

    "t" is a step or a list of steps; "units" None means every unit; "layer" None every layer.
    """
    clamps: list[Clamp | None] = [None] * spec.num_layers
    if not entries:
        return clamps
    if spec.cell == "rnn":
        raise ClampError("clamp: a tanh RNN has no gates to hold")
    G, H = spec.n_blocks, spec.hidden_size
    mask = np.zeros((spec.num_layers, T, G * H), dtype=bool)
    value = np.zeros((spec.num_layers, T, G * H))
    for n, entry in enumerate(entries):
        where = f"clamp[{n}]"
        gate = entry.get("gate")
        if gate not in spec.gates:
            raise ClampError(f"{where}.gate must be one of {spec.gates}, got {gate!r}")
        steps = np.atleast_1d(np.asarray(entry.get("t"), dtype=np.int64))
        if steps.size == 0 or steps.min() < 0 or steps.max() >= T:
            raise ClampError(f"{where}.t must lie in [0, {T - 1}]")
        units = entry.get("units")
        units = np.arange(H) if units is None else np.asarray(units, dtype=np.int64)
        if units.size == 0 or units.min() < 0 or units.max() >= H:
            raise ClampError(f"{where}.units must lie in [0, {H - 1}]")
        layer = entry.get("layer")
        layers = range(spec.num_layers) if layer is None else [layer]
        if layer is not None and not 0 <= layer < spec.num_layers:
            raise ClampError(f"{where}.layer must lie in [0, {spec.num_layers - 1}]")
        v = float(entry.get("value", 0.0))
        lo = -1.0 if gate in ("g", "n") else 0.0  # tanh gates range over [-1, 1]
        if not lo <= v <= 1.0:
            raise ClampError(f"{where}.value for gate {gate!r} must lie in [{lo}, 1]")
        cols = spec.gates.index(gate) * H + units
        for k in layers:
            mask[k][np.ix_(steps, cols)] = True
            value[k][np.ix_(steps, cols)] = v
    for k in range(spec.num_layers):
        held = frozenset(np.flatnonzero(mask[k].any(axis=1)).tolist())
        if held:
            clamps[k] = Clamp(mask=mask[k], value=value[k], steps=held)
    return clamps


@dataclass
class NetCache:
    caches: list[Any]  # one cell Cache per layer
    Y: np.ndarray  # (T, B, O) readout of the top h, or the top h itself


def forward(
    spec: ModelSpec,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    state0: dict[str, np.ndarray] | None = None,
    clamps: list[Clamp | None] | None = None,
    start: int = 0,
) -> NetCache:
    """Run every layer over X (T, B, D); state0 {"h": (L, B, H), "c": (L, B, H)} or zeros.

    start: the global index of X[0] when X continues a sequence from state0 (live mode); the
    numbers are then bit for bit those of the whole sequence run at once (common.project)."""
    T, B, _ = X.shape
    H, dtype = spec.hidden_size, X.dtype
    clamps = clamps or [None] * spec.num_layers
    caches: list[Any] = []
    inp = X
    for k in range(spec.num_layers):
        p = layer_params(spec, params, k, dtype)
        h0 = np.zeros((B, H), dtype) if state0 is None else state0["h"][k].astype(dtype)
        cache: Any
        if spec.cell == "lstm":
            c0 = np.zeros((B, H), dtype) if state0 is None else state0["c"][k].astype(dtype)
            cache = lstm.forward(p, inp, h0, c0, spec.variant, clamps[k], start)
        elif spec.cell == "gru":
            cache = gru.forward(p, inp, h0, clamps[k], start)
        else:
            cache = rnn.forward(p, inp, h0, start)
        caches.append(cache)
        inp = cache.Hs
    Y = inp
    if spec.output_size is not None:
        Y = inp @ params["readout.weight"].T.astype(dtype) + params["readout.bias"].astype(dtype)
    return NetCache(caches, Y)


def backward(
    spec: ModelSpec, params: dict[str, np.ndarray], net: NetCache, loss: Loss
) -> tuple[float, list[dict], dict[str, np.ndarray]]:
    """The loss, each layer's backward results (indexed by layer) and the parameter
    gradients under PyTorch names."""
    T, B, _ = net.Y.shape
    dtype = net.Y.dtype
    L, dY = value_and_grad(loss, net.Y)
    grads: dict[str, np.ndarray] = {}
    top = net.caches[-1].Hs
    if spec.output_size is not None:
        W_out = params["readout.weight"].astype(dtype)
        flat_dY = dY.reshape(T * B, -1)
        grads["readout.weight"] = flat_dY.T @ top.reshape(T * B, -1)
        grads["readout.bias"] = flat_dY.sum(0)
        dY = dY @ W_out  # (T, B, H) dL/dh_t of the top layer from the loss
    has_ext = np.zeros(T, dtype=bool)
    has_ext[-1] = True
    if loss.kind != "sum_last" and loss.at == "all":
        has_ext[:] = True
    ext = ScaledGrad(dY.astype(dtype), np.zeros(T, dtype=np.int64))
    results: list[dict] = [{}] * spec.num_layers
    for k in reversed(range(spec.num_layers)):
        p = layer_params(spec, params, k, dtype)
        res = MODULES[spec.cell].backward(p, net.caches[k], ext, has_ext)
        results[k] = res
        for short, name in (("W_ih", "weight_ih"), ("W_hh", "weight_hh"), ("b_ih", "bias_ih"),
                            ("b_hh", "bias_hh"), ("w_ci", "weight_ci"), ("w_cf", "weight_cf"),
                            ("w_co", "weight_co")):  # fmt: skip
            if short in res["params"]:
                grads[f"{name}_l{k}"] = res["params"][short]
        ext, has_ext = res["dX"], np.ones(T, dtype=bool)
    return L, results, grads


def check_inputs(spec: ModelSpec, X: np.ndarray) -> None:
    if X.ndim != 3 or X.shape[2] != spec.input_size or X.shape[0] < 1:
        raise ModelError(
            f"inputs have shape {X.shape[:1] + X.shape[2:]}, expected (T, {spec.input_size})"
        )
    if not np.all(np.isfinite(X)):
        raise ModelError("inputs contain NaN or infinity")
