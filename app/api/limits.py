"""The request's size limits, checked before any work: each error names the field and the limit
(LSTMX_* settings). Used by the trace, the lab and text-through-vocabulary inputs."""

from __future__ import annotations

from ..settings import Settings
from .errors import RequestError
from .schemas import TraceRequest


def check_shape_limits(req: TraceRequest, T: int, D: int, s: Settings) -> None:
    m = req.model
    widths = m.widths
    checks = [
        (("body", "model", "hidden_size"), max(widths), "max_hidden", "hidden size H"),
        (("body", "model", "num_layers"), m.num_layers, "max_layers", "number of layers L"),
        (("body", "input"), T, "max_steps", "sequence length T"),
        (("body", "model", "input_size"), D, "max_input", "input size D"),
        (("body", "model", "output_size"), m.output_size or 0, "max_input", "output size O"),
        (("body", "clamp"), len(req.clamp or []), "max_clamps", "number of clamp entries"),
    ]
    for loc, value, setting, what in checks:
        limit = getattr(s, setting)
        if value > limit:
            raise RequestError(
                loc, f"{what} is {value}, above the limit of {limit} (LSTMX_{setting.upper()})"
            )
    # Per layer and direction, a step costs H_k·(R_k + D_k): its gate rows times what they
    # read (R_k: its own h, the projection's width P if any; D_k: the layer below's output).
    # One width, one direction: T·L·H·(H+D) for L = 1, as the limit has always been stated.
    dirs = 2 if m.bidirectional else 1
    out = [m.proj_size or H for H in widths]
    ins = [D] + [dirs * R for R in out[:-1]]
    work = T * dirs * sum(H * (R + Dk) for H, R, Dk in zip(widths, out, ins, strict=True))
    if work > s.max_work:
        raise RequestError(
            ("body",),
            f"work T·Σ H_k·(R_k + D_k) over layers and directions = {work:,} is above the "
            f"budget of {s.max_work:,}: shorten the sequence or shrink the model",
        )
    gates = {"lstm": 4, "gru": 3, "rnn": 0}[m.cell]
    L = m.num_layers
    check_clamp_cost(req.clamp or [], T, max(widths), L * dirs, max(gates, 1))
    numbers = T * dirs * sum(widths) * (gates + 4) + T * D
    if numbers > s.max_answer_numbers:
        raise RequestError(
            ("body",),
            f"the answer would hold {numbers:,} numbers, above the limit of "
            f"{s.max_answer_numbers:,} (LSTMX_MAX_ANSWER_NUMBERS): shorten the sequence or "
            "shrink the model",
        )


def check_clamp_cost(clamp: list, T: int, H: int, L: int, G: int) -> None:
    """Each clamp entry sets len(t)·len(units) gate values per layer; together they may not set
    more than the run holds (T·L·G·H), which only repeated steps or units could exceed."""
    cost = 0
    for c in clamp:
        steps = len(c.t) if isinstance(c.t, list) else 1
        units = len(c.units) if c.units is not None else H
        cost += steps * units * (L if c.layer is None else 1)
    if cost > T * L * G * H:
        raise RequestError(
            ("body", "clamp"),
            f"the clamp entries set {cost:,} gate values, more than the run's {T * L * G * H:,}: "
            "remove repeated steps or units",
        )
