"""A Trace as the view's data: the arrays it draws, float32 in base64, for a window of steps.

What a view carries per step and per layer entry: every gate, c (LSTM) and h, each H_k (h: R_k)
numbers; for every step of the run, the gradient norms (plain and log10, float64). A view holds
at most `max_numbers` of the per-step numbers (MAX_NUMBERS by default, about 4 bytes each plus a
third for base64): a longer run shows the window of steps that fits (the first ones, or those
asked for), says so in a note, and keeps the gradient chart whole. float32 keeps 7 significant
digits; the view shows 4.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from ..engine import Trace

MAX_NUMBERS = 600_000  # per view: ~3.2 MB of HTML at most (T=200, H=64 LSTM: 76,800 numbers)
MAX_INPUT_WIDTH = 16  # inputs wider than this are not shown number by number (no label either)


def _b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def _fields(tr: Trace, k: int) -> dict[str, np.ndarray]:
    entry = tr.layers[k]
    out = dict(entry.gates)
    if entry.c is not None:
        out["c"] = entry.c
    out["h"] = entry.h
    return out


def per_step(tr: Trace) -> int:
    """Numbers a view holds per step: every field of every layer entry."""
    return sum(sum(a.shape[1] for a in _fields(tr, k).values()) for k in range(len(tr.layers)))


def choose_window(T: int, step_numbers: int, window: Any, max_numbers: int) -> tuple[int, int]:
    """The steps [start, stop) a view shows: `window` (start, stop) if given, else from 0; cut
    to the steps that fit in max_numbers."""
    fit = max(1, max_numbers // max(1, step_numbers))
    if window is None:
        return 0, min(T, fit)
    try:
        start, stop = (int(v) for v in window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be (start, stop) steps, got {window!r}") from None
    if not 0 <= start < stop <= T:
        raise ValueError(f"window must satisfy 0 <= start < stop <= T = {T}, got ({start}, {stop})")
    return start, min(stop, start + fit)


def entry_name(tr: Trace, k: int) -> str:
    entry = tr.layers[k]
    bidirectional = any(e.direction == "reverse" for e in tr.layers)
    return f"layer {entry.layer}" + (f" {entry.direction}" if bidirectional else "")


def title_of(tr: Trace, variant: str) -> str:
    H = tr.hidden_size
    widths = H if isinstance(H, int) else "/".join(map(str, H))
    kind = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[tr.cell]
    if tr.cell == "lstm" and variant != "standard":
        kind += f" ({variant.replace('_', ' ')})"
    layers = f"{tr.num_layers} layer{'s' * (tr.num_layers > 1)}"
    bidi = " · bidirectional" if any(e.direction == "reverse" for e in tr.layers) else ""
    return f"{kind} · H = {widths} · {layers}{bidi} · T = {tr.steps} steps · loss {tr.loss:.6g}"


def payload(
    tr: Trace,
    *,
    variant: str = "standard",
    labels: list[str] | None = None,
    window: Any = None,
    max_numbers: int = MAX_NUMBERS,
    title: str | None = None,
) -> dict[str, Any]:
    """The view's data (JSON-ready): see static/js/standalone.js for how it is read."""
    T = tr.steps
    if T < 1:
        raise ValueError("the run has no steps: give at least one input")
    step_numbers = per_step(tr)
    start, stop = choose_window(T, step_numbers, window, max_numbers)
    first = max(0, start - 1)  # one step before the window: its c_{t-1} and h_{t-1}
    layers = []
    for k, entry in enumerate(tr.layers):
        fields = _fields(tr, k)
        logs = {
            "grad_h_norm": entry.grad_h_norm, "grad_h_log10_norm": entry.grad_h_log10_norm,
            "grad_c_norm": entry.grad_c_norm, "grad_c_log10_norm": entry.grad_c_log10_norm,
        }  # fmt: skip
        layers.append({
            "name": entry_name(tr, k),
            "width": int(next(iter(fields.values())).shape[1]),  # H_k (an RNN's: h's)
            "out_width": int(entry.h.shape[1]),
            "fields": {key: _b64(a[first:stop], "<f4") for key, a in fields.items()},
            **{key: None if a is None else _b64(a, "<f8") for key, a in logs.items()},
        })  # fmt: skip
    D = tr.inputs.shape[1] if tr.inputs.ndim == 2 else 1
    show_inputs = labels is None and D <= MAX_INPUT_WIDTH
    note = None
    if (start, stop) != (0, T):
        note = (
            f"This view holds steps {start}–{stop - 1} of the run's {T:,} (a view carries at most "
            f"{max_numbers:,} numbers; this model has {step_numbers:,} per step). The gradient "
            "chart covers every step. lx.show(..., window=(start, stop)) shows another stretch, "
            "max_numbers= raises the bound, and lx.trace(...) returns every number."
        )
    return {
        "cell": tr.cell,
        "variant": variant if tr.cell == "lstm" else "standard",
        "title": title or title_of(tr, variant),
        "note": note,
        "total_steps": T,
        "t0": start,
        "steps": stop - start,
        "first": first,
        "num_layers": tr.num_layers,
        "bidirectional": any(e.direction == "reverse" for e in tr.layers),
        "layers": layers,
        "labels": None if labels is None else [str(s) for s in labels[first:stop]],
        "inputs": _b64(tr.inputs[first:stop].reshape(-1, D), "<f4") if show_inputs else None,
        "input_size": D,
    }
