"""Trace -> JSON bytes with orjson (NumPy arrays encoded natively, float32 at float32 precision).

Non-finite numbers become null (browsers reject bare NaN) and the answer carries a
"nonfinite" note naming the first field and step where one appeared.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import orjson

from ..engine import Trace
from ..engine.params import spec_to_dict
from . import predictions

OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=OPTIONS, default=_default)


CHUNK_NUMBERS = 2**16  # numbers per orjson call in `dumps_parts`: ~2 ms of holding the GIL
PART_BYTES = 2**20  # pieces of an answer are gathered into parts of about this size


def dumps_parts(obj: Any) -> list[bytes]:
    """`dumps(obj)` as a list of parts whose concatenation is the same JSON (see iter_parts)."""
    return list(iter_parts(obj))


def iter_parts(obj: Any) -> Iterator[bytes]:
    """`dumps(obj)` in parts of about PART_BYTES, made one at a time.

    orjson holds the GIL for a whole call: one call over a 150 MB trace answer stops every
    other thread, the event loop's too, for ~0.2 s. Here big arrays go through orjson a few
    rows at a time, so the loop gets the GIL back every few ms; a caller can send each part as
    soon as it is made.
    """
    return _gather(_pieces(obj))


FLUSH = memoryview(b"")  # a piece that ends the current part (what comes next takes a while)


def _gather(pieces: Iterable[bytes | memoryview]) -> Iterator[bytes]:
    """Pieces into parts of about PART_BYTES. The pieces are gathered as memoryviews, so each
    byte is copied once, into its part."""
    pending: list[bytes | memoryview] = []
    size = 0
    for piece in pieces:
        if piece is FLUSH and pending or size >= PART_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
        pending.append(piece)
        size += len(piece)
    if pending:
        yield b"".join(pending)


def trace_parts(run: Any, extra: dict[str, Any]) -> Iterator[bytes]:
    """The JSON answer of POST /api/trace for a prepared run, computed and written in order:
    the first layer's gates, c and h go out while the backward pass is computed (for a
    one-layer trace, three quarters of the answer). Its bytes are
    `dumps(trace_answer(run, run.backward(), extra))`, written as they are computed."""
    return _gather(_trace_pieces(run, extra))


def answer_head(run: Any) -> dict[str, Any]:
    """The answer's fields before "layers" (known before any computation)."""
    spec, X = run.spec, run.X
    return {"cell": spec.cell, "steps": X.shape[0], "hidden_size": hidden_size(spec),
            "num_layers": spec.num_layers, **model_extras(spec),
            "inputs": _c(X[:, 0])}  # fmt: skip


def answer_tail(run: Any, trace: Trace, extra: dict[str, Any]) -> dict[str, Any]:
    """The answer's fields after "layers" (known after the backward pass)."""
    tail: dict[str, Any] = {}
    if trace.tokens is not None:  # dL/d(embedding row read at step t)
        tail["grad_embedding"] = _c(trace.grad_inputs)
    return {**tail, "loss": trace.loss if np.isfinite(trace.loss) else None,
            "outputs": _c(trace.outputs), **predictions.end_fields(run, trace),
            "nonfinite": first_nonfinite(trace), **extra}  # fmt: skip


def trace_answer(run: Any, trace: Trace, extra: dict[str, Any]) -> dict[str, Any]:
    """The answer of POST /api/trace as one object, for a run whose backward pass gave
    `trace` (the JSON answer is its dumps; the .npz answer its arrays)."""
    layers = [layer_dict(layer) for layer in trace.layers]
    return {**answer_head(run), "layers": layers, **answer_tail(run, trace, extra)}


def _trace_pieces(run: Any, extra: dict[str, Any]) -> Iterator[bytes | memoryview]:
    forward = run.forward()
    yield b"{"
    yield from _items(answer_head(run), first=True)
    first = forward[0]
    yield b',"layers":[{'
    yield from _items({"layer": first["layer"], "direction": first["direction"],
                       "gates": {g: _c(v) for g, v in first["gates"].items()},
                       "c": _c(first["c"]), "h": _c(first["h"])}, first=True)  # fmt: skip
    yield FLUSH
    trace = run.backward()
    layers = [layer_dict(layer) for layer in trace.layers]
    done = ("layer", "direction", "gates", "c", "h")
    yield from _items({k: v for k, v in layers[0].items() if k not in done})
    yield b"}"
    for layer in layers[1:]:
        yield b","
        yield from _pieces(layer)
    yield b"]"
    yield from _items(answer_tail(run, trace, extra))
    yield b"}"


def _items(d: dict[str, Any], first: bool = False) -> Iterator[bytes | memoryview]:
    """The members of a JSON object, without its braces."""
    for n, (key, value) in enumerate(d.items()):
        yield (b"" if first and n == 0 else b",") + orjson.dumps(str(key)) + b":"
        yield from _pieces(value)


_NESTED = (dict, list, tuple, np.ndarray)


def _pieces(obj: Any) -> Iterator[bytes | memoryview]:
    if isinstance(obj, dict):
        yield b"{"
        for n, (key, value) in enumerate(obj.items()):
            yield (b"," if n else b"") + orjson.dumps(str(key)) + b":"
            yield from _pieces(value)
        yield b"}"
    elif isinstance(obj, (list, tuple)) and any(isinstance(v, _NESTED) for v in obj):
        yield b"["
        for n, value in enumerate(obj):
            if n:
                yield b","
            yield from _pieces(value)
        yield b"]"
    elif isinstance(obj, np.ndarray) and obj.ndim >= 1 and obj.size > CHUNK_NUMBERS:
        rows = max(1, CHUNK_NUMBERS * obj.shape[0] // obj.size)
        yield b"["
        for start in range(0, obj.shape[0], rows):
            if start:
                yield b","
            yield memoryview(dumps(np.ascontiguousarray(obj[start : start + rows])))[1:-1]
        yield b"]"
    else:
        yield dumps(obj)


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):  # non-contiguous views
        return np.ascontiguousarray(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


ORIGINAL_FIELDS = ("cell", "input_size", "hidden_size", "num_layers", "variant", "output_size")


def hidden_size(spec: Any) -> int | list[int]:
    return spec_to_dict(spec)["hidden_size"]


def model_extras(spec: Any) -> dict[str, Any]:
    """The answer's model fields beyond the original ones, only when a model uses them (a
    plain model's answer is what it always was)."""
    return {k: v for k, v in spec_to_dict(spec).items() if k not in ORIGINAL_FIELDS}


def _c(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else np.ascontiguousarray(a)


def first_nonfinite(trace: Trace) -> dict | None:
    """The first (field, layer, step) holding NaN or infinity, or None ("direction" too when
    it is a reverse direction's).

    "t" is the earliest such step; "diverged_at" the step where the run diverged in the order
    it computes: the same for forward fields (gates, c, h), the latest one for gradients,
    which BPTT computes from T-1 down to 0 (an exploding gradient is inf at every t below it).
    """
    for layer in trace.layers:
        named: dict[str, np.ndarray | None] = {f"gates.{g}": v for g, v in layer.gates.items()}
        named.update(c=layer.c, h=layer.h, grad_h=layer.grad_h, grad_c=layer.grad_c)
        for name, arr in named.items():
            if arr is None:
                continue
            bad = ~np.isfinite(arr)
            if bad.any():
                steps = np.flatnonzero(bad.any(axis=tuple(range(1, arr.ndim))))
                # a reverse direction runs from T-1 down to 0, and its BPTT from 0 up
                backwards = name.startswith("grad_") != (layer.direction == "reverse")
                at = int(steps[-1] if backwards else steps[0])
                where = {"field": name, "layer": layer.layer, "t": int(steps[0]), "diverged_at": at}
                if layer.direction != "forward":
                    where["direction"] = layer.direction
                return where
    return None


def layer_dict(layer: Any) -> dict[str, Any]:
    return {
        "layer": layer.layer,
        "direction": layer.direction,
        "gates": {g: _c(v) for g, v in layer.gates.items()},
        "c": _c(layer.c),
        "h": _c(layer.h),
        "grad_h": _c(layer.grad_h),
        "grad_c": _c(layer.grad_c),
        "grad_h_norm": layer.grad_h_norm,
        "grad_c_norm": layer.grad_c_norm,
        "grad_h_log10_norm": layer.grad_h_log10_norm,
        "grad_c_log10_norm": layer.grad_c_log10_norm,
    }


def step_frame(
    t: int, forward: list[dict[str, Any]], offset: int = 0, extra: dict | None = None
) -> bytes:
    """One forward step: each layer's (and direction's) gates, c and h at row t (sent as step
    offset + t), and `extra`'s fields (a live step's predictions). A reverse direction's row t
    is known only once the forward pass has run."""
    layers = [
        {
            "layer": rec["layer"],
            "direction": rec["direction"],
            "gates": {g: v[t] for g, v in rec["gates"].items()},
            "c": None if rec["c"] is None else rec["c"][t],
            "h": rec["h"][t],
        }
        for rec in forward
    ]
    return dumps({"type": "step", "t": offset + t, "layers": layers, **(extra or {})})


def grad_frame(t: int, trace: Trace) -> bytes:
    """One backward step: each layer's (and direction's) dL/dh_t, dL/dc_t and their norms at
    step t, and dL/d(embedding row read at t) when the model has an embedding."""
    layers = []
    for layer in trace.layers:
        gc, gc_norm, gc_log = layer.grad_c, layer.grad_c_norm, layer.grad_c_log10_norm
        layers.append(
            {
                "layer": layer.layer,
                "direction": layer.direction,
                "grad_h": layer.grad_h[t],
                "grad_c": None if gc is None else gc[t],
                "grad_h_norm": layer.grad_h_norm[t],
                "grad_c_norm": None if gc is None or gc_norm is None else gc_norm[t],
                "grad_h_log10_norm": layer.grad_h_log10_norm[t],
                "grad_c_log10_norm": None if gc is None or gc_log is None else gc_log[t],
            }
        )
    frame: dict[str, Any] = {"type": "grad", "t": t, "layers": layers}
    if trace.tokens is not None and trace.grad_inputs is not None:
        frame["grad_embedding"] = trace.grad_inputs[t]
    return dumps(frame)


BATCH_NUMBERS = 2**16  # numbers per batched frame ("steps", "grads"): ~1 MB of JSON


def batch_rows(numbers_per_step: int) -> int:
    """Steps per batched frame: whole steps, about BATCH_NUMBERS numbers."""
    return max(1, BATCH_NUMBERS // max(1, numbers_per_step))


def steps_frame(t0: int, t1: int, forward: list[dict[str, Any]]) -> bytes:
    """Forward steps t0..t1-1 in one frame: each layer's gates, c and h, one row per step."""
    layers = [
        {
            "layer": rec["layer"],
            "direction": rec["direction"],
            "gates": {g: v[t0:t1] for g, v in rec["gates"].items()},
            "c": None if rec["c"] is None else rec["c"][t0:t1],
            "h": rec["h"][t0:t1],
        }
        for rec in forward
    ]
    return dumps({"type": "steps", "t": t0, "layers": layers})


def grads_frame(t0: int, t1: int, trace: Trace) -> bytes:
    """Gradients of steps t0..t1-1 in one frame (rows in time order), as grad_frame has them."""
    fields = ("grad_h", "grad_c", "grad_h_norm", "grad_c_norm",
              "grad_h_log10_norm", "grad_c_log10_norm")  # fmt: skip
    layers = []
    for layer in trace.layers:
        values = [getattr(layer, f) for f in fields]
        rows = {f: None if v is None else v[t0:t1] for f, v in zip(fields, values, strict=True)}
        layers.append({"layer": layer.layer, "direction": layer.direction, **rows})
    return dumps({"type": "grads", "t": t0, "layers": layers})
