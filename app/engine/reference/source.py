"""The reference cells' own source lines, for the step page's Code panel.

Each line of a cell's forward and backward says which recorded quantity it computes, when it
computes one: `c[t] = ...` is the trace's c at step t, `dh[t] = ...` its grad_h, `dc[t] = ...`
its grad_c. The page shows that quantity's live value beside the line.
"""

from __future__ import annotations

import inspect
import re
from functools import cache
from pathlib import Path
from typing import Any

from . import gru, lstm, rnn

MODULES = {"lstm": lstm, "gru": gru, "rnn": rnn}
FORWARD = re.compile(r"\s*([ifgochrzn])\[t\] = ")  # a gate or state at step t
BACKWARD = re.compile(r"\s*d([hc])\[t\] = ")  # dL/dh_t, dL/dc_t
GRADS = {"h": "grad_h", "c": "grad_c"}


def _lines(fn: Any, pattern: re.Pattern[str], names: dict[str, str] | None) -> dict[str, Any]:
    text, first = inspect.getsourcelines(fn)
    lines = []
    for n, line in enumerate(text, start=first):
        m = pattern.match(line)
        quantity = None if m is None else (names or {}).get(m[1], m[1])
        lines.append({"n": n, "text": line.rstrip("\n"), "quantity": quantity})
    return {"start": first, "lines": lines}


@cache
def source(cell: str) -> dict[str, Any]:
    """{"cell", "file", "forward": {"start", "lines": [{"n", "text", "quantity"}]}, "backward"}."""
    module = MODULES[cell]
    root = Path(__file__).resolve().parents[3]
    return {
        "cell": cell,
        "file": Path(inspect.getfile(module)).resolve().relative_to(root).as_posix(),
        "forward": _lines(module.forward, FORWARD, None),
        "backward": _lines(module.backward, BACKWARD, GRADS),
    }
