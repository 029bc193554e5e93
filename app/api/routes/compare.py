"""The gradient-decay lab: GET /compare (the page) and POST /api/compare (the numbers).

One input sequence, a tanh RNN, an LSTM and a GRU with the same hidden size, seed and
initialisation options; for each, ||dL/dh_t|| (and ||dL/dc_t||) against k = T-1-t in log10,
normalised to k = 0, with the readouts of app/engine/analysis/decay.py.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool

from ...engine import prepare
from ...engine.analysis import decay as analysis
from ...engine.params import LSTM_VARIANTS, model_params
from ...engine.training import tasks
from ...settings import Settings, get_settings
from .. import serialize
from ..cache import Answer, request_key
from ..errors import RESPONSES, RequestError
from ..limits import check_clamp_cost
from ..middleware import OffLoopJSONRoute
from ..runs import resolve_input
from ..schemas import ClampIn, InputIn, ModelIn, Strict, TraceRequest
from .pages import PLOTLY_VERSION, templates

router = APIRouter(tags=["compare"], route_class=OffLoopJSONRoute)  # body parsed off the loop

Cell = Literal["rnn", "lstm", "gru"]
CELLS: tuple[Cell, ...] = ("rnn", "lstm", "gru")


class CompareRequest(BaseModel):
    model_config = Strict
    input: InputIn
    cells: list[Cell] = Field(default_factory=lambda: list(CELLS), min_length=1, max_length=3)
    hidden_size: int = Field(16, ge=1, description="H, the same for every network")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="one seed for every network")
    recurrent_init: Literal["uniform", "orthogonal"] = "uniform"
    recurrent_gain: float = Field(1.0, ge=0, le=10, description="multiplies every W_hh")
    forget_bias: float = Field(0.0, ge=-50, le=50, description="LSTM forget-gate bias offset")
    input_bias: float = Field(0.0, ge=-50, le=50, description="LSTM input-gate bias offset")
    zero_biases: bool = Field(False, description="start every bias at 0 (then add the offsets)")
    input_scale: float = Field(1.0, ge=0, le=100, description="multiplies the input")
    lstm_variant: Literal[LSTM_VARIANTS] = "standard"  # type: ignore[valid-type]
    dtype: Literal["float64", "float32"] = "float64"
    clamp: list[ClampIn] | None = Field(None, description="gate interventions (LSTM only)")
    weights: dict[Cell, dict[str, Any]] | None = Field(
        None,
        description="trained weights for some networks (PyTorch names, one layer of size "
        "hidden_size; a readout is ignored); the others are initialised as usual",
    )

    @field_validator("cells")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("each cell may appear once")
        return v


@router.get("/compare", response_class=HTMLResponse, include_in_schema=False)
def compare_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "compare.html", {"active": "compare", "plotly_version": PLOTLY_VERSION}
    )


@router.post(
    "/api/compare",
    summary="Gradient decay of an RNN, an LSTM and a GRU, side by side",
    responses=RESPONSES,
)
async def post_compare(req: CompareRequest, request: Request) -> Response:
    # identical lab settings (a classroom moving one slider together) are computed once
    slots = request.app.state.slots

    async def make(answer: Answer) -> None:
        X = check_and_resolve(req, get_settings())
        with slots.take():
            answer.add(await run_in_threadpool(lambda: serialize.dumps(compare(req, X))))

    key = await run_in_threadpool(request_key, req, "compare")  # inline weights: a while
    answer = request.app.state.cache.get(key, make)
    body = b"".join([part async for part in answer.read()])
    return Response(body, media_type="application/json")


def _input_shape(inp: InputIn) -> tuple[int, int]:
    """(T, D) of the input before anything is built."""
    given = [k for k in ("sequence", "text", "task") if getattr(inp, k) is not None]
    if len(given) != 1:
        raise RequestError(
            ("body", "input"),
            f"input needs exactly one of sequence, text or task; this one has {given or 'none'}",
        )
    if inp.task is not None:
        return inp.task.length, tasks.width(inp.task.name)
    if inp.text is not None:
        return len(inp.text), len(inp.alphabet if inp.alphabet is not None else set(inp.text))
    seq = inp.sequence or []
    return len(seq), len(seq[0]) if seq else 1


def check_and_resolve(req: CompareRequest, s: Settings) -> np.ndarray:
    """Every limit, checked before any work; then the (T, D) input, scaled."""
    T, D = _input_shape(req.input)
    H = req.hidden_size
    checks = [
        (("body", "hidden_size"), H, "max_hidden", "hidden size H"),
        (("body", "input"), T, "max_steps", "sequence length T"),
        (("body", "input"), D, "max_input", "input size D"),
        (("body", "clamp"), len(req.clamp or []), "max_clamps", "number of clamp entries"),
    ]
    for loc, value, setting, what in checks:
        limit = getattr(s, setting)
        if value > limit:
            raise RequestError(
                loc, f"{what} is {value}, above the limit of {limit} (LSTMX_{setting.upper()})"
            )
    if T == 0:
        raise RequestError(("body", "input"), "the input sequence is empty: give at least one step")
    work = len(req.cells) * T * H * (H + D)
    if work > s.max_work:
        raise RequestError(
            ("body", "hidden_size"),
            f"work cells·T·H·(H+D) = {work:,} is above the budget of {s.max_work:,}: "
            "shorten the sequence, shrink hidden_size or compare fewer cells",
        )
    for cell in req.weights or {}:
        if cell not in req.cells:
            raise RequestError(("body", "weights", cell), f"weights given for {cell!r}, "
                               f"which is not among the compared cells {req.cells}: add "
                               f"{cell!r} to cells or remove its weights")  # fmt: skip
    if req.clamp and "lstm" not in req.cells:
        raise RequestError(
            ("body", "clamp"),
            f"clamps act on the LSTM's gates, and cells {req.cells} has no LSTM: add 'lstm' to "
            "cells or remove the clamps",
        )
    for n, entry in enumerate(req.clamp or []):
        if entry.gate not in ("i", "f", "g", "o"):
            raise RequestError(
                ("body", "clamp", n, "gate"),
                f"gate {entry.gate!r} is not an LSTM gate: the lab clamps the LSTM's i, f, g or o",
            )
    check_clamp_cost(req.clamp or [], T, H, 1, 4)
    probe = TraceRequest(input=req.input, model=ModelIn(hidden_size=1))
    X, _ = resolve_input(probe, s)
    return X * req.input_scale


def cell_model(req: CompareRequest, cell: str, D: int) -> dict[str, Any]:
    """The model dict of one network, weights inline: same seed and init options for all,
    or the trained weights given for it (used as they are: no bias offsets)."""
    H = req.hidden_size
    if req.weights and cell in req.weights:
        given = {k: v for k, v in req.weights[cell].items() if not k.startswith("readout.")}
        trained = {"cell": cell, "input_size": D, "hidden_size": H, "weights": given,
                   "variant": req.lstm_variant if cell == "lstm" else "standard"}  # fmt: skip
        try:
            trained["weights"] = model_params(trained)[1]  # names, shapes, finiteness
        except ValueError as exc:
            raise RequestError(("body", "weights", cell), str(exc)) from None
        return trained
    model: dict[str, Any] = {
        "cell": cell,
        "input_size": D,
        "hidden_size": H,
        "variant": req.lstm_variant if cell == "lstm" else "standard",
        "init": {"seed": req.seed, "recurrent_init": req.recurrent_init,
                 "recurrent_gain": req.recurrent_gain},
    }  # fmt: skip
    _, params = model_params(model)
    if req.zero_biases:
        params["bias_ih_l0"][:] = 0.0
        params["bias_hh_l0"][:] = 0.0
    if cell == "lstm":
        params["bias_ih_l0"][:H] += req.input_bias  # block i
        params["bias_ih_l0"][H : 2 * H] += req.forget_bias  # block f
    model["weights"] = params
    return model


def analyse_cell(req: CompareRequest, cell: str, X: np.ndarray) -> dict[str, Any]:
    H = req.hidden_size
    model = cell_model(req, cell, X.shape[1])
    clamp = [c.model_dump() for c in req.clamp] if cell == "lstm" and req.clamp else None
    try:
        tr = prepare(model, X, None, req.dtype, clamp).backward()
    except ValueError as exc:  # the engine's checks name the field (clamp steps, ...)
        loc = ("body", "clamp") if "clamp" in str(exc) else ("body",)
        raise RequestError(loc, str(exc)) from None
    layer, params = tr.layers[0], model["weights"]
    abs_h = np.asarray(layer.grad_h_log10_norm, dtype=np.float64)[::-1]  # k order
    out: dict[str, Any] = {
        "cell": cell,
        "grad_h_log10": analysis.finite_or_nan(abs_h - abs_h[0]),
        "grad_h_log10_end": float(abs_h[0]),
        "fit_h": analysis.fit_decay(abs_h - abs_h[0]),
        "float_h": analysis.float_limits(abs_h),
        "hochreiter": analysis.hochreiter_condition(
            analysis.self_loop_factors(cell, layer, params, H)
        ),
        "pascanu": analysis.pascanu_condition(cell, params, H),
    }
    if cell == "lstm":
        assert layer.grad_c is not None and layer.c is not None
        abs_c = np.asarray(layer.grad_c_log10_norm, dtype=np.float64)[::-1]
        f = np.asarray(layer.gates["f"], dtype=np.float64)
        belt = analysis.belt_log10(f, layer.grad_c[-1])
        c = np.asarray(layer.c, dtype=np.float64)
        out.update(
            grad_c_log10=analysis.finite_or_nan(abs_c - abs_c[0]),
            grad_c_log10_end=float(abs_c[0]),
            fit_c=analysis.fit_decay(abs_c - abs_c[0]),
            float_c=analysis.float_limits(abs_c),
            belt_log10=analysis.finite_or_nan(belt - abs_c[0]),
            forget_half_life=analysis.half_life_summary(analysis.forget_half_life(f)),
            c_norm=analysis.finite_or_nan(np.linalg.norm(c, axis=1)),  # t order
            saturated=float((np.abs(np.tanh(c[-1])) > 0.99).mean()),
        )
    return out


def compare(req: CompareRequest, X: np.ndarray) -> dict[str, Any]:
    return {
        "steps": X.shape[0],
        "hidden_size": req.hidden_size,
        "input_size": X.shape[1],
        "dtype": req.dtype,
        "float_limits": analysis.FLOAT_LIMITS,
        "cells": {cell: analyse_cell(req, cell, X) for cell in req.cells},
    }
