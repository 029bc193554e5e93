"""A run: the model, inputs, loss and clamps checked once (`prepare`), then the forward pass and
BPTT recorded step by step (`Run.forward`, `Run.backward`); `trace` is both in one call and
`run` the bare forward and backward over a batch."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec

import numpy as np

from .cells import losses, network
from .cells.common import norms_and_log10
from .params import ModelError, ModelSpec, model_params
from .trace import LayerTrace, Trace

P = ParamSpec("P")
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
    tokens: np.ndarray | None = None  # (T, 1) token ids when the model has an embedding
    vocabulary: int | None = None  # V when the inputs are tokens (ids, or one-hot rows of V)

    @property
    def reads_vocabulary(self) -> bool:
        """Whether the readout scores the inputs' own tokens (a language model's)."""
        return self.spec.output_size is not None and self.spec.output_size == self.vocabulary

    def forward(self) -> list[dict[str, Any]]:
        """Run forward; return per (layer, direction) entry {"layer": k, "direction": d,
        "gates": {g: (T, H_k)}, "c": (T, H_k) | None, "h": (T, R_k)}, rows in input order."""
        self.net = network.forward(
            self.spec, self.params, self.X, self.state0, self.clamps, self.start, self.tokens
        )
        return [_forward_record(self.spec, cache, j) for j, cache in enumerate(self.net.caches)]

    def backward(self) -> Trace:
        """BPTT over the forward pass; return the complete Trace."""
        if self.net is None:
            self.forward()
        assert self.net is not None
        spec, net = self.spec, self.net
        L, results, grads = network.backward(spec, self.params, net, self.loss)
        layers = [
            _layer_trace(spec, cache, res, j)
            for j, (cache, res) in enumerate(zip(net.caches, results, strict=True))
        ]
        assert net.grad_inputs is not None
        return Trace(
            cell=spec.cell,
            steps=self.X.shape[0],
            hidden_size=spec.hidden_size,
            num_layers=spec.num_layers,
            inputs=self.X[:, 0],
            loss=L,
            layers=layers,
            outputs=net.Y[:, 0] if spec.output_size is not None else None,
            loss_kind=self.loss.kind,
            loss_steps=losses.per_step(self.loss, net.Y),
            param_grads=grads,
            grad_inputs=net.grad_inputs.plain()[:, 0],
            grad_h0=_stack([r["dh0"][0] for r in results]),
            grad_c0=_stack([r["dc0"][0] for r in results]) if spec.cell == "lstm" else None,
            tokens=None if self.tokens is None else self.tokens[:, 0],
        )


def _stack(rows: list[np.ndarray]) -> Any:
    """One array (entries, width) when every entry has the same width, else the list."""
    return np.stack(rows) if len({r.shape for r in rows}) == 1 else rows


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

    model: the JSON `model` dict (see params.py); inputs: (T, D) rows, or token ids (T,) for a
    model with an embedding; loss: None (the model's task's loss: next_token when its readout
    reads its own vocabulary, cross_entropy against its own answer for another readout, else
    sum_last, the sum of the top h_{T-1}) or {"kind": "sum_last" | "next_token" | "mse" |
    "cross_entropy", "target": ..., "at": "last" | "all"} (cells/losses.py); clamp: a list
    of {"t", "gate", "value", "units"?, "layer"?}; initial_state: {"h": (L, H), "c": (L, H)}
    (or one row per layer of its own width) to continue from a previous run's final state
    (zeros by default); start: the global index of inputs[0], when `inputs` continue a
    sequence from `initial_state` one piece at a time; the numbers are then bit for bit those
    of the whole sequence run at once.

    sum_last of a bidirectional model is torch's output[T-1].sum(): the sum of
    [h_fwd | h_rev] at the last input position, where the reverse direction has read one
    input (x_{T-1}) and the forward direction all of them. A model with readout "final" reads
    h_n = [h_fwd at T-1 | h_rev at 0] once: its outputs are one row.
    """
    if dtype not in DTYPES:
        raise ModelError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    if not isinstance(start, int) or start < 0:
        raise ModelError(f"start must be a step index >= 0, got {start!r}")
    spec, params = model_params(model)
    tokens = None
    if spec.embedding is not None:
        tokens = check_tokens(spec, inputs)[:, None]  # (T, 1)
        X = network.embed(params, tokens, np.float64)
    else:
        X = np.asarray(inputs, dtype=np.float64)
    if X.ndim == 1 and spec.input_size == 1:
        X = X[:, None]
    X = X[:, None, :] if X.ndim == 2 else X  # (T, 1, D): a batch of one
    network.check_inputs(spec, X)
    if spec.bidirectional and (initial_state is not None or start):
        raise ModelError(
            "a bidirectional model cannot continue a sequence (live mode): its reverse "
            "direction reads the whole input from the end"
        )
    loss_spec, vocabulary = task_loss(spec, X, tokens, loss)
    clamps = network.build_clamps(spec, [dict(c) for c in clamp or []], X.shape[0])
    state0 = _state(spec, initial_state)
    X = X.astype(DTYPES[dtype])
    return Run(
        spec, params, X, loss_spec, clamps, state0, start, tokens=tokens, vocabulary=vocabulary
    )


def task_loss(
    spec: ModelSpec, X: np.ndarray, tokens: np.ndarray | None, loss: Mapping[str, Any] | None
) -> tuple[losses.Loss, int | None]:
    """The loss asked for, or (None, or no "kind") the one the model's task implies
    (losses.default_kind): next_token when the readout reads the inputs' own vocabulary.
    Also the size of that vocabulary (None: the inputs are not tokens)."""
    ids = losses.next_tokens(tokens, X)  # (T, 1), or None: the inputs are not tokens
    vocabulary = None
    if ids is not None:
        vocabulary = spec.embedding.num_embeddings if spec.embedding else spec.input_size
    given = dict(loss or {})
    if not given.get("kind"):
        per_step = None if spec.readout == "final" else vocabulary  # next_token reads every step
        kind = losses.default_kind(spec.output_size, per_step)
        given = {"kind": kind} if kind != "cross_entropy" else {**given, "kind": kind}
    T = 1 if spec.readout == "final" else X.shape[0]  # the output rows
    return losses.parse(given, T, 1, spec.output_size or spec.top_width, ids), vocabulary


def _recorded(prepare: Callable[P, Run]) -> Callable[P, Trace]:
    """`prepare(...).backward()` as one function of prepare's arguments (and signature)."""

    def trace(*args: P.args, **kwargs: P.kwargs) -> Trace:
        """Run the model over one sequence `inputs` (T, D) and record everything: the Trace of
        `prepare(...).backward()`, with prepare's arguments (its docstring says them)."""
        return prepare(*args, **kwargs).backward()

    signature = inspect.signature(prepare).replace(return_annotation="Trace")
    trace.__signature__ = signature  # type: ignore[attr-defined]  # for help() and IDEs
    return trace


trace = _recorded(prepare)


def check_tokens(spec: ModelSpec, inputs: Any) -> np.ndarray:
    """Token ids (T,) as int64, each in [0, V); the error names the first one out of range."""
    assert spec.embedding is not None
    V = spec.embedding.num_embeddings
    ids = np.asarray(inputs)
    if ids.ndim != 1 or ids.size == 0 or (ids.dtype.kind not in "iu" and ids.size):
        raise ModelError(
            f"input.tokens must be a non-empty list of integer token ids (the model has an "
            f"embedding of {V} rows), got an array of shape {ids.shape} and type {ids.dtype}"
        )
    bad = np.flatnonzero((ids < 0) | (ids >= V))
    if bad.size:
        n = int(bad[0])
        raise ModelError(
            f"input.tokens[{n}] = {int(ids[n])} is not a token id of the embedding: "
            f"ids lie in [0, {V - 1}]"
        )
    return ids.astype(np.int64)


def _state(spec: ModelSpec, state: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if state is None:
        return None
    out: dict[str, Any] = {}
    for key in ("h", "c") if spec.cell == "lstm" else ("h",):
        rows = state.get(key)
        L = spec.num_layers
        widths = [spec.out_width(k) if key == "h" else spec.widths[k] for k in range(L)]
        if rows is None or len(rows) != L:
            raise ModelError(f"initial_state.{key} must hold one row per layer ({L})")
        values = []
        for k, (row, width) in enumerate(zip(rows, widths, strict=True)):
            value = np.asarray(row, dtype=np.float64)
            if value.shape != (width,) or not np.all(np.isfinite(value)):
                raise ModelError(f"initial_state.{key}[{k}] must be finite with shape ({width},)")
            values.append(value[None, :])  # (1, width): a batch of one
        out[key] = values
    return out


def _forward_record(spec: ModelSpec, cache: Any, j: int) -> dict[str, Any]:
    """One entry's forward arrays in input order (a reverse entry's cache runs backwards)."""
    k, direction, _ = spec.entries[j]
    H = spec.widths[k]
    order = slice(None, None, -1) if direction == "reverse" else slice(None)
    gates = {g: cache.A[order, 0, n * H : (n + 1) * H] for n, g in enumerate(spec.gates)}
    c = cache.C[order, 0] if spec.cell == "lstm" else None
    return {"layer": k, "direction": direction, "gates": gates, "c": c, "h": cache.Hs[order, 0]}


def _layer_trace(spec: ModelSpec, cache: Any, res: dict, j: int) -> LayerTrace:
    fwd = _forward_record(spec, cache, j)
    order = slice(None, None, -1) if fwd["direction"] == "reverse" else slice(None)
    grad_h = res["grad_h"]
    h_norm, h_log = norms_and_log10(grad_h)
    c_norm = c_log = grad_c_plain = None
    if res["grad_c"] is not None:
        c_norm, c_log = norms_and_log10(res["grad_c"])
        grad_c_plain = res["grad_c"].plain()[order, 0]
        c_norm, c_log = c_norm[order], c_log[order]
    return LayerTrace(
        gates=fwd["gates"],
        h=fwd["h"],
        c=fwd["c"],
        grad_h=grad_h.plain()[order, 0],
        grad_c=grad_c_plain,
        grad_h_norm=h_norm[order],
        grad_c_norm=c_norm,
        grad_h_log10_norm=h_log[order],
        grad_c_log10_norm=c_log,
        layer=fwd["layer"],
        direction=fwd["direction"],
    )
