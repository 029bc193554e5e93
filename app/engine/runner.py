"""A run: the model, inputs, loss and clamps checked once (`prepare`), then the forward pass and
BPTT recorded step by step (`Run.forward`, `Run.backward`); `trace` is both in one call and
`run` the bare forward and backward over a batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import losses, network
from .common import norms_and_log10
from .params import ModelError, ModelSpec, model_params
from .trace import LayerTrace, Trace

DTYPES = {"float64": np.float64, "float32": np.float32}


def run(
    spec: ModelSpec,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    loss: losses.Loss,
    clamps: list | None = None,
    state0: dict[str, np.ndarray] | None = None,
) -> tuple[network.NetCache, float, list[dict], dict[str, np.ndarray]]:
    """Forward and backward over a time-major batch X (T, B, D)."""
    net = network.forward(spec, params, X, state0, clamps)
    L, results, grads = network.backward(spec, params, net, loss)
    return net, L, results, grads


@dataclass
class Run:
    """A validated run, computed in two phases so a caller can stream the forward pass
    before the backward pass starts: `prepare(...)`, then `.forward()`, then `.backward()`."""

    spec: ModelSpec
    params: dict[str, np.ndarray]
    X: np.ndarray  # (T, 1, D) in the run's dtype
    loss: losses.Loss
    clamps: list
    state0: dict[str, np.ndarray] | None
    start: int = 0  # the global index of the first step (a live run continuing a sequence)
    net: network.NetCache | None = None

    def forward(self) -> list[dict[str, Any]]:
        """Run forward; return per layer {"gates": {g: (T, H)}, "c": (T, H) | None, "h"}."""
        self.net = network.forward(
            self.spec, self.params, self.X, self.state0, self.clamps, self.start
        )
        return [_forward_record(self.spec, cache) for cache in self.net.caches]

    def backward(self) -> Trace:
        """BPTT over the forward pass; return the complete Trace."""
        if self.net is None:
            self.forward()
        assert self.net is not None
        spec, net = self.spec, self.net
        L, results, grads = network.backward(spec, self.params, net, self.loss)
        layers = [
            _layer_trace(spec, cache, res) for cache, res in zip(net.caches, results, strict=True)
        ]
        return Trace(
            cell=spec.cell,
            steps=self.X.shape[0],
            hidden_size=spec.hidden_size,
            num_layers=spec.num_layers,
            inputs=self.X[:, 0],
            loss=L,
            layers=layers,
            outputs=net.Y[:, 0] if spec.output_size is not None else None,
            param_grads=grads,
            grad_inputs=results[0]["dX"].plain()[:, 0],
            grad_h0=np.stack([r["dh0"][0] for r in results]),
            grad_c0=np.stack([r["dc0"][0] for r in results]) if spec.cell == "lstm" else None,
        )


def prepare(
    model: Mapping[str, Any],
    inputs: Any,
    loss: Mapping[str, Any] | None = None,
    dtype: str = "float64",
    clamp: Sequence[Mapping[str, Any]] | None = None,
    initial_state: Mapping[str, Any] | None = None,
    start: int = 0,
) -> Run:
    """Check everything about a run (raising ValueError subclasses naming the field).

    start: the global index of the first step, when `inputs` continue a sequence from
    `initial_state` one piece at a time; the numbers are then bit for bit those of the whole
    sequence run at once."""
    if dtype not in DTYPES:
        raise ModelError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    if not isinstance(start, int) or start < 0:
        raise ModelError(f"start must be a step index >= 0, got {start!r}")
    spec, params = model_params(model)
    X = np.asarray(inputs, dtype=np.float64)
    if X.ndim == 1 and spec.input_size == 1:
        X = X[:, None]
    X = X[:, None, :] if X.ndim == 2 else X  # (T, 1, D): a batch of one
    network.check_inputs(spec, X)
    T = X.shape[0]
    O = spec.output_size or spec.hidden_size
    loss_spec = losses.parse(dict(loss) if loss else None, T, 1, O)
    clamps = network.build_clamps(spec, [dict(c) for c in clamp or []], T)
    state0 = _state(spec, initial_state)
    return Run(spec, params, X.astype(DTYPES[dtype]), loss_spec, clamps, state0, start)


def trace(
    model: Mapping[str, Any],
    inputs: Any,
    loss: Mapping[str, Any] | None = None,
    dtype: str = "float64",
    clamp: Sequence[Mapping[str, Any]] | None = None,
    initial_state: Mapping[str, Any] | None = None,
    start: int = 0,
) -> Trace:
    """Run the model over one sequence `inputs` (T, D) and record everything.

    model: the JSON `model` dict (see params.py); loss: None (sum of the top h_{T-1}) or
    {"kind": "mse" | "cross_entropy", "target": ..., "at": "last" | "all"}; clamp: a list
    of {"t", "gate", "value", "units"?, "layer"?}; initial_state: {"h": (L, H), "c": (L, H)}
    to continue from a previous run's final state (zeros by default); start: the global index
    of inputs[0] when continuing (see prepare).
    """
    return prepare(model, inputs, loss, dtype, clamp, initial_state, start).backward()


def _state(spec: ModelSpec, state: Mapping[str, Any] | None) -> dict[str, np.ndarray] | None:
    if state is None:
        return None
    shape = (spec.num_layers, spec.hidden_size)
    out = {}
    for key in ("h", "c") if spec.cell == "lstm" else ("h",):
        value = np.asarray(state.get(key), dtype=np.float64)
        if value.shape != shape or not np.all(np.isfinite(value)):
            raise ModelError(f"initial_state.{key} must be finite with shape {shape}")
        out[key] = value[:, None, :]  # (L, 1, H)
    return out


def _forward_record(spec: ModelSpec, cache: Any) -> dict[str, Any]:
    H = spec.hidden_size
    gates = {g: cache.A[:, 0, k * H : (k + 1) * H] for k, g in enumerate(spec.gates)}
    c = cache.C[:, 0] if spec.cell == "lstm" else None
    return {"gates": gates, "c": c, "h": cache.Hs[:, 0]}


def _layer_trace(spec: ModelSpec, cache: Any, res: dict) -> LayerTrace:
    fwd = _forward_record(spec, cache)
    grad_h = res["grad_h"]
    h_norm, h_log = norms_and_log10(grad_h)
    c_norm = c_log = grad_c_plain = None
    if res["grad_c"] is not None:
        c_norm, c_log = norms_and_log10(res["grad_c"])
        grad_c_plain = res["grad_c"].plain()[:, 0]
    return LayerTrace(
        gates=fwd["gates"],
        h=fwd["h"],
        c=fwd["c"],
        grad_h=grad_h.plain()[:, 0],
        grad_c=grad_c_plain,
        grad_h_norm=h_norm,
        grad_c_norm=c_norm,
        grad_h_log10_norm=h_log,
        grad_c_log10_norm=c_log,
    )
