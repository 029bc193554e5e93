"""The step page's compact binary WebSocket frames: written here, read by static/js and tests.

A binary WebSocket frame: a little-endian uint32 N, N bytes of a JSON header, zero bytes up
to a multiple of 8, then the arrays back to back, each little-endian in its own dtype and
padded to a multiple of 8. The header is {"type", "t", "n", "arrays": [[name, layer, dtype,
count], ...], ...}: rows t..t+n-1 of each named field of trace entry `layer`, in time order.
Each view gets what it shows at the precision it shows it:
  "steps" (every client): the heatmaps' gates, c and h as round(v·10^4) in int16 (int32 when
    a value needs it; the run's float dtype past that), header "decimals": 4, the smallest
    integer standing for a non-finite value. The heatmaps show colours and v to 4 decimals
    (%{z:.4f}): rounded as Number.toFixed rounds, n/10^4 prints the digits v prints.
  "grads" (every client): the four gradient norms per step, exact (the run's dtype).
  "columns" (a client showing unit `unit` of entry `layer`, or all its units for the mean):
    that unit's gates, c and h (after the forward blocks) or dL/dh and dL/dc (after the
    gradient blocks) at every step, exact in the run's dtype; header "unit", "width".
  "reading" (a client, for its thresholds "lo", "hi"): per sigmoid gate and step the number
    of units closed (v < lo), partly open and open (v > hi), uint16, counted on exact values.
A client chooses what it shows with {"type": "view", "layer", "unit" (a number or "mean"),
"lo", "hi", "also": [more units]} (app/api/compact.py); without one it gets the shared
frames only.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import numpy as np
import orjson

from ..engine import Trace

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
