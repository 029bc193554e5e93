"""Trace -> JSON bytes with orjson (NumPy arrays encoded natively, float32 at float32 precision).

Non-finite numbers become null (browsers reject bare NaN) and the answer carries a
"nonfinite" note naming the first field and step where one appeared.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from fractions import Fraction
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
    one-layer trace, three quarters of the answer)."""
    return _gather(_trace_pieces(run, extra))


def _trace_pieces(run: Any, extra: dict[str, Any]) -> Iterator[bytes | memoryview]:
    forward = run.forward()
    spec, X = run.spec, run.X
    yield b"{"
    head = {"cell": spec.cell, "steps": X.shape[0], "hidden_size": hidden_size(spec),
            "num_layers": spec.num_layers, **model_extras(spec),
            "inputs": _c(X[:, 0])}  # fmt: skip
    yield from _items(head, first=True)
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
    if trace.tokens is not None:  # dL/d(embedding row read at step t)
        yield from _items({"grad_embedding": _c(trace.grad_inputs)})
    yield from _items({"loss": trace.loss if np.isfinite(trace.loss) else None,
                       "outputs": _c(trace.outputs), **predictions.end_fields(run, trace),
                       "nonfinite": first_nonfinite(trace), **extra})  # fmt: skip
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


# --- the compact binary frames of the step page ----------------------------------------------
#
# A binary WebSocket frame: a little-endian uint32 N, N bytes of a JSON header, zero bytes up
# to a multiple of 8, then the arrays back to back, each little-endian in its own dtype and
# padded to a multiple of 8. The header is {"type", "t", "n", "arrays": [[name, layer, dtype,
# count], ...], ...}: rows t..t+n-1 of each named field of trace entry `layer`, in time order.
# Each view gets what it shows at the precision it shows it:
#   "steps" (every client): the heatmaps' gates, c and h as round(v·10^4) in int16 (int32 when
#     a value needs it; the run's float dtype past that), header "decimals": 4, the smallest
#     integer standing for a non-finite value. The heatmaps show colours and v to 4 decimals
#     (%{z:.4f}): rounded as Number.toFixed rounds, n/10^4 prints the digits v prints.
#   "grads" (every client): the four gradient norms per step, exact (the run's dtype).
#   "columns" (a client showing unit `unit` of entry `layer`, or all its units for the mean):
#     that unit's gates, c and h (after the forward blocks) or dL/dh and dL/dc (after the
#     gradient blocks) at every step, exact in the run's dtype; header "unit", "width".
#   "reading" (a client, for its thresholds "lo", "hi"): per sigmoid gate and step the number
#     of units closed (v < lo), partly open and open (v > hi), uint16, counted on exact values.
# A client chooses what it shows with {"type": "view", "layer", "unit" (a number or "mean"),
# "lo", "hi", "also": [more units]} (app/api/compact.py); without one it gets the shared
# frames only.

DECIMALS = 4
SCALE = 10**DECIMALS
SIGMOIDS = frozenset("ifozr")  # gates that read as closed / partly open / open


class BinaryFrame(bytes):
    """A frame that goes out as a binary WebSocket message."""


class ColumnFrame(BinaryFrame):
    """One unit's exact columns: sent only to the clients that show that unit."""

    layer: int
    unit: int


class ForwardEnd(BinaryFrame):
    """Marks the end of the forward columns (never sent): thresholds can be counted from here."""


WIRE_DTYPES = ("float64", "float32", "int16", "int32", "uint16")


def binary_frame(header: dict[str, Any], arrays: list[tuple[str, int, np.ndarray]]) -> bytes:
    datas = []
    specs = []
    for name, layer, a in arrays:
        a = np.asarray(a)
        a = np.ascontiguousarray(a, dtype=a.dtype if a.dtype.name in WIRE_DTYPES else np.float64)
        datas.append(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
        specs.append([name, layer, a.dtype.name, a.size])
    head = orjson.dumps({**header, "arrays": specs})
    out = [len(head).to_bytes(4, "little"), head, bytes(-(4 + len(head)) % 8)]
    for data in datas:
        out += [data, bytes(-len(data) % 8)]
    return BinaryFrame(b"".join(out))


def read_frame(frame: bytes) -> tuple[dict[str, Any], dict[tuple[str, int], np.ndarray]]:
    """A binary frame's header and arrays, keyed (name, layer) (views into the frame)."""
    n = int.from_bytes(frame[:4], "little")
    header = orjson.loads(frame[4 : 4 + n])
    offset = 4 + n + (-(4 + n) % 8)
    arrays = {}
    for name, layer, dtype, count in header["arrays"]:
        little = np.dtype(dtype).newbyteorder("<")
        a = np.frombuffer(frame, dtype=little, count=count, offset=offset)
        arrays[name, layer] = a
        offset += a.nbytes + (-a.nbytes % 8)
    return header, arrays


def rounded(values: np.ndarray) -> np.ndarray:
    """The integer n nearest to v·10^DECIMALS, ties away from zero, computed exactly: the n
    whose n/10^4 Number.prototype.toFixed(4) prints as it prints v (as float64). Float, with
    NaN where v is not finite."""
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    y = np.abs(np.where(finite, v, 0.0)) * SCALE  # within an ulp of |v|·10^4
    n = np.floor(y + 0.5)
    # where y is within rounding of a half, decide on v's exact value
    for i in np.flatnonzero(np.abs(y - np.floor(y) - 0.5) < 1e-6):
        exact = Fraction(float(abs(v.flat[i]))) * SCALE
        n.flat[i] = math.floor(exact + Fraction(1, 2))
    return np.where(finite, np.copysign(n, v), np.nan)


def heat(values: np.ndarray) -> np.ndarray:
    """A heatmap's array as it goes out: rounded(values) in the smallest of int16 and int32
    that holds it (the type's smallest value standing for a non-finite one), else the values
    as they are."""
    n = rounded(values)
    big = np.nanmax(np.abs(n)) if np.isfinite(n).any() else 0
    for kind in (np.int16, np.int32):
        info = np.iinfo(kind)
        if big <= info.max:
            return np.where(np.isnan(n), info.min, n).astype(kind)
    return np.asarray(values)


def compact_steps(t0: int, t1: int, forward: list[dict[str, Any]]) -> bytes:
    """Forward steps t0..t1-1: every layer's gates, c and h for the heatmaps (see above)."""
    arrays = []
    for k, rec in enumerate(forward):
        arrays += [(f"gates.{g}", k, heat(v[t0:t1])) for g, v in rec["gates"].items()]
        arrays += [("c", k, heat(rec["c"][t0:t1]))] if rec["c"] is not None else []
        arrays.append(("h", k, heat(rec["h"][t0:t1])))
    return binary_frame({"type": "steps", "t": t0, "n": t1 - t0, "decimals": DECIMALS}, arrays)


def _columns(k: int, fields: list[tuple[str, np.ndarray]]) -> Iterator[ColumnFrame]:
    """One frame per unit of entry k: its column of every (T, H) field, exact."""
    T, H = fields[0][1].shape
    by_unit = [(name, np.ascontiguousarray(np.asarray(v).T)) for name, v in fields]
    for u in range(H):
        head = {"type": "columns", "t": 0, "n": T, "layer": k, "unit": u, "width": H}
        frame = ColumnFrame(binary_frame(head, [(name, k, cols[u]) for name, cols in by_unit]))
        frame.layer, frame.unit = k, u
        yield frame


def forward_columns(forward: list[dict[str, Any]]) -> Iterator[bytes]:
    """Every unit's exact gates, c and h, one frame per unit, then the ForwardEnd mark."""
    for k, rec in enumerate(forward):
        fields = [(f"gates.{g}", v) for g, v in rec["gates"].items()]
        fields += [("c", rec["c"])] if rec["c"] is not None else []
        yield from _columns(k, [*fields, ("h", rec["h"])])
    yield ForwardEnd()


def backward_columns(trace: Trace) -> Iterator[bytes]:
    """Every unit's exact dL/dh and dL/dc, one frame per unit."""
    for k, layer in enumerate(trace.layers):
        fields = [("grad_h", layer.grad_h)]
        fields += [("grad_c", layer.grad_c)] if layer.grad_c is not None else []
        yield from _columns(k, fields)


def reading_frame(columns: list[bytes], layer: int, lo: float, hi: float) -> bytes:
    """How many units of entry `layer` each sigmoid gate has closed (v < lo), partly open and
    open (v > hi) at every step, counted on the exact values of its column frames."""
    units = [read_frame(f) for f in columns if isinstance(f, ColumnFrame) and f.layer == layer]
    units.sort(key=lambda hv: hv[0]["unit"])
    T = units[0][0]["n"] if units else 0
    arrays = []
    for name, _ in units[0][1] if units else []:
        if not (name.startswith("gates.") and name[6:] in SIGMOIDS):
            continue
        v = np.stack([arrays_[name, layer] for _, arrays_ in units], axis=1)
        finite = np.isfinite(v)
        closed, opened = finite & (v < lo), finite & (v > hi)
        partly = finite & ~closed & ~opened
        for kind, m in (("closed", closed), ("partly", partly), ("open", opened)):
            arrays.append((f"{kind}.{name[6:]}", layer, m.sum(axis=1).astype(np.uint16)))
    head = {"type": "reading", "t": 0, "n": T, "layer": layer, "lo": lo, "hi": hi}
    return binary_frame(head, arrays)


NORMS = ("grad_h_norm", "grad_c_norm", "grad_h_log10_norm", "grad_c_log10_norm")


def compact_grads(t0: int, t1: int, trace: Trace) -> bytes:
    """Steps t0..t1-1 of the gradient norms (the gradient chart and the readouts), exact."""
    arrays = []
    for k, layer in enumerate(trace.layers):
        for name in NORMS:
            if (values := getattr(layer, name)) is not None:
                arrays.append((name, k, np.asarray(values)[t0:t1]))
    return binary_frame({"type": "grads", "t": t0, "n": t1 - t0}, arrays)
