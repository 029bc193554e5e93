"""POST /api/units/search: which hidden units track a target? (app/engine/analysis/units.py)

The body is the body of POST /api/trace plus:
- "target": exactly one of
  {"steps": [[a, b], ...]}   half-open ranges of steps;
  {"pattern": "regex"}       over the input text, every matched character a target step
                             (RE2 syntax: linear time, so no pattern can hold a worker);
  {"values": [v_0, ...]}     one number per step (bracket depth, position in the line);
  {"builtin": "inside_quotes" | "bracket_depth" | "line_position"}  computed from the text;
- "field": "h" (default), "c" or a gate letter; "layer": one layer, or all when left out;
- "top": how many units to answer (default 10).
Only the forward pass runs. The answer: {"kind": "steps" | "values", "marked": n,
"units": [{"layer", "unit", "field", "score", ...}]}, best first; for steps also "auc",
"direction" ("high" or "low"), "threshold", "tpr", "fpr"; for values "r". For a bidirectional
model both directions of a layer are scored, each row with "layer_direction" ("forward" or
"reverse"; not "direction", which is the score's).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import re2
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ...engine.analysis import units
from ...settings import get_settings
from .. import serialize
from ..errors import RESPONSES, RequestError
from ..middleware import OffLoopJSONRoute
from ..runs import build_run
from ..schemas import Strict, TraceRequest

router = APIRouter(tags=["units"], route_class=OffLoopJSONRoute)
_S = get_settings()
MAX_PATTERN = 200  # characters of a target regex
MAX_TOP = 100
Step = Annotated[int, Field(ge=0, le=_S.max_steps)]


class TargetIn(BaseModel):
    model_config = Strict
    steps: list[tuple[Step, Step]] | None = Field(
        None, max_length=_S.max_steps, description="half-open ranges [a, b) of target steps"
    )
    pattern: str | None = Field(
        None, min_length=1, max_length=MAX_PATTERN, description="RE2 regex over the input text"
    )
    values: list[float] | None = Field(None, max_length=_S.max_steps, description="one per step")
    builtin: Literal[units.BUILTINS] | None = None  # type: ignore[valid-type]


class UnitSearchRequest(TraceRequest):
    target: TargetIn
    field: Literal["h", "c", "i", "f", "g", "o", "r", "z", "n"] = "h"
    layer: int | None = Field(None, ge=0, lt=_S.max_layers)
    top: int = Field(10, ge=1, le=MAX_TOP)


def _target(req: UnitSearchRequest, text: str | None, T: int) -> np.ndarray:
    """A (T,) bool mask or (T,) float values, checked; errors name the field."""
    tgt = req.target
    given = [k for k in ("steps", "pattern", "values", "builtin") if getattr(tgt, k) is not None]
    loc = ("body", "target")
    if len(given) != 1:
        raise RequestError(loc, "give exactly one of steps, pattern, values or builtin")
    kind = given[0]
    if kind in ("pattern", "builtin") and text is None:
        raise RequestError((*loc, kind), f"a {kind} target needs a text input")
    try:
        if tgt.steps is not None:
            return units.step_mask(T, tgt.steps)
        if tgt.values is not None:
            if len(tgt.values) != T:
                raise ValueError(f"the target has {len(tgt.values)} values for {T} steps")
            return np.asarray(tgt.values, dtype=np.float64)
        if tgt.builtin is not None:
            assert text is not None
            return units.builtin_target(tgt.builtin, text)
    except ValueError as exc:
        raise RequestError((*loc, kind), str(exc)) from None
    assert text is not None and tgt.pattern is not None
    try:
        regex = re2.compile(tgt.pattern)
    except re2.error as exc:
        raise RequestError((*loc, "pattern"), f"not a valid RE2 pattern: {exc}") from None
    mask = np.zeros(T, dtype=bool)
    for m in regex.finditer(text):
        mask[m.start() : m.end()] = True
    return mask


def search(req: UnitSearchRequest) -> dict[str, Any]:
    """Validate, run the forward pass, score every unit of the asked field and layers."""
    run, extra = build_run(req, get_settings())
    spec = run.spec
    if req.field == "c" and spec.cell != "lstm":
        raise RequestError(("body", "field"), f"a {spec.cell} has no cell state c")
    if req.field not in ("h", "c") and req.field not in spec.gates:
        raise RequestError(
            ("body", "field"), f"a {spec.cell} has no gate {req.field!r}; its gates: {spec.gates}"
        )
    if req.layer is not None and req.layer >= spec.num_layers:
        raise RequestError(("body", "layer"), f"the model has {spec.num_layers} layers")
    T = run.X.shape[0]
    target = _target(req, req.input.text, T)
    records = run.forward()
    layers = range(spec.num_layers) if req.layer is None else [req.layer]
    rows: list[dict[str, Any]] = []
    by_steps = target.dtype == bool
    for rec in records:  # one per layer, or per layer and direction (bidirectional)
        k = rec["layer"]
        if k not in layers:
            continue
        where = {"layer_direction": rec["direction"]} if spec.bidirectional else {}
        A = np.asarray(rec[req.field] if req.field in ("h", "c") else rec["gates"][req.field],
                       dtype=np.float64)  # fmt: skip  # (T, H) float32 runs scored in float64
        try:
            if by_steps:
                s = units.score_steps(A, target)
                rows += [
                    {"layer": k, "unit": n, "field": req.field, "score": float(s.score[n]),
                     "auc": float(s.auc[n]), "direction": str(s.direction[n]),
                     "threshold": float(s.threshold[n]), "tpr": float(s.tpr[n]),
                     "fpr": float(s.fpr[n]), **where}
                    for n in range(A.shape[1])
                ]  # fmt: skip
            else:
                r = units.score_values(A, target)
                rows += [
                    {"layer": k, "unit": n, "field": req.field, "score": abs(float(r[n])),
                     "r": float(r[n]), **where}
                    for n in range(A.shape[1])
                ]  # fmt: skip
        except ValueError as exc:
            raise RequestError(("body", "target"), str(exc)) from None
    rows.sort(key=lambda row: (-row["score"], row["layer"], row["unit"]))
    marked = int(target.sum()) if by_steps else T
    return {"kind": "steps" if by_steps else "values", "marked": marked, "steps": T,
            "units": rows[: req.top]}  # fmt: skip


@router.post(
    "/api/units/search", summary="Rank hidden units by how well they track a target",
    responses=RESPONSES,
)  # fmt: skip
async def post_units_search(req: UnitSearchRequest, request: Request) -> Response:
    with request.app.state.slots.take():
        body = await run_in_threadpool(lambda: serialize.dumps(search(req)))
    return Response(body, media_type="application/json")
