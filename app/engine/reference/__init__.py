"""The reference implementation: the executable specification of the engine's cells.

Each cell (lstm.py, gru.py, rnn.py) is written as the equations are, one line per equation,
its backward pass beside its forward, in the spirit of karpathy's min-char-rnn: plain NumPy
on (H,) vectors, one step at a time, no speed tricks and no gradient rescaling (keep T small
enough that nothing underflows). tests/engine/test_reference.py asserts that the fast engine
(app/engine/cells/lstm.py, gru.py, rnn.py, network.py) gives the same numbers to 1e-12 in float64,
and checks this file against central differences. The step page shows these lines beside the
live numbers (GET /api/reference/{cell}).

    r = reference.trace(model, inputs, loss, clamp)   # same arguments as app.engine.trace
    r["layers"][0]["c"]    # (T, H); also gates, h, grad_h, grad_c; r["param_grads"], ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..cells import losses as engine_losses
from ..params import model_params
from . import gru, lstm, rnn
from .common import Hold
from .losses import loss_and_grad

CELLS = {"lstm": lstm, "gru": gru, "rnn": rnn}


def make_holds(spec, clamp: Sequence[Mapping[str, Any]] | None, T: int) -> list[Hold]:
    """One Hold per layer from the clamp entries {"t", "gate", "value", "units"?, "layer"?}."""
    H, L = spec.hidden_size, spec.num_layers
    holds = [Hold({g: np.zeros((T, H), bool) for g in spec.gates},
                  {g: np.zeros((T, H)) for g in spec.gates}) for _ in range(L)]  # fmt: skip
    for entry in clamp or []:
        steps = np.atleast_1d(entry["t"])
        units = range(H) if entry.get("units") is None else entry["units"]
        layers = range(L) if entry.get("layer") is None else [entry["layer"]]
        for k in layers:
            for t in steps:
                for u in units:
                    holds[k].held[entry["gate"]][t, u] = True
                    holds[k].value[entry["gate"]][t, u] = entry["value"]
    return holds


def layer_weights(spec, params, k: int) -> tuple:
    """(W_ih, W_hh, b_ih, b_hh[, w_ci, w_cf, w_co]) of layer k; peepholes are zero unless
    the model has them."""
    W = tuple(params[f"{name}_l{k}"] for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    if spec.cell != "lstm":
        return W
    zero = np.zeros(spec.widths[k])
    return W + tuple(params.get(f"weight_c{g}_l{k}", zero) for g in "ifo")


def trace(model, inputs, loss=None, clamp=None) -> dict[str, Any]:
    """Forward through every layer, the loss, and backward through every layer (float64)."""
    spec, params = model_params(model)
    if not spec.plain:  # the textbook cells: one width, one direction, no projection
        raise ValueError("the reference covers the plain stacked cells of params.py only")
    X = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)  # (T, D)
    T, H = len(X), spec.widths[0]
    tokens = engine_losses.next_tokens(None, X[:, None, :])  # one-hot rows: their indices
    if not loss:  # the model's task's loss (see app/engine/cells/losses.py)
        vocabulary = None if tokens is None else X.shape[1]
        loss = {"kind": engine_losses.default_kind(spec.output_size, vocabulary)}
    target = engine_losses.parse(dict(loss), T, 1, spec.output_size or H, tokens)
    kind, at = target.kind, target.at
    holds = make_holds(spec, clamp, T)
    cell = CELLS[spec.cell]
    x = {t: X[t] for t in range(T)}
    states = []
    for k in range(spec.num_layers):  # layer k reads layer k-1's h
        p, h0 = layer_weights(spec, params, k), np.zeros(H)
        if spec.cell == "lstm":
            s = cell.forward(p, x, h0, np.zeros(H), spec.variant, holds[k])
        elif spec.cell == "gru":
            s = cell.forward(p, x, h0, holds[k])
        else:
            s = cell.forward(p, x, h0)
        states.append((x, s))
        x = {t: s["h"][t] for t in range(T)}
    W_out, b_out = params.get("readout.weight"), params.get("readout.bias")
    y = x if W_out is None else {t: W_out @ x[t] + b_out for t in range(T)}  # readout
    goal = None if target.target is None else target.target[:, 0]  # (T', O) or (T',)
    L, dy = loss_and_grad(kind, at, x if kind == "sum_last" else y, goal)
    grads: dict[str, np.ndarray] = {}
    dh_out = dy
    if W_out is not None and kind == "sum_last":  # L reads the top h: the readout has no part
        grads["readout.weight"], grads["readout.bias"] = np.zeros_like(W_out), np.zeros_like(b_out)
    elif W_out is not None:
        grads["readout.weight"] = np.sum([np.outer(dy[t], x[t]) for t in range(T)], axis=0)
        grads["readout.bias"] = np.sum([dy[t] for t in range(T)], axis=0)
        dh_out = {t: W_out.T @ dy[t] for t in range(T)}
    results: list[dict[str, Any]] = [{}] * spec.num_layers
    for k in reversed(range(spec.num_layers)):
        x_k, s = states[k]
        p = layer_weights(spec, params, k)
        if spec.cell == "lstm":
            r = cell.backward(p, x_k, s, dh_out, spec.variant, holds[k])
        elif spec.cell == "gru":
            r = cell.backward(p, x_k, s, dh_out, holds[k])
        else:
            r = cell.backward(p, x_k, s, dh_out)
        results[k] = r
        for name, g in r["grads"].items():
            if f"{name}_l{k}" in params:
                grads[f"{name}_l{k}"] = g
        dh_out = r["dx"]  # the layer below receives dL/d(its h) from this layer's input
    layers = [_record(s, r, T) for (_, s), r in zip(states, results, strict=True)]
    dc0 = None if spec.cell != "lstm" else np.stack([r["dc0"] for r in results])
    return {"loss": L, "layers": layers, "param_grads": grads, "grad_inputs": _rows(dh_out, T),
            "grad_h0": np.stack([r["dh0"] for r in results]), "grad_c0": dc0}  # fmt: skip


def _rows(d: dict, T: int) -> np.ndarray:
    return np.stack([d[t] for t in range(T)])


def _record(s: dict, r: dict, T: int) -> dict[str, Any]:
    gates = {g: _rows(s[g], T) for g in ("i", "f", "g", "o", "r", "z", "n") if g in s}
    return {"gates": gates, "h": _rows(s["h"], T),
            "c": _rows(s["c"], T) if "c" in s else None,
            "grad_h": _rows(r["dh"], T),
            "grad_c": _rows(r["dc"], T) if r["dc"] is not None else None}  # fmt: skip
