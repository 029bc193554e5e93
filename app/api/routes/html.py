"""POST /api/html: the run a /api/trace body describes, as one self-contained HTML file (the
step page's "Save as HTML"). The same file as `lstm-explainer html` and lx.show(...).save():
app.standalone.build_html makes it, after this route has checked the body and its limits as
/api/trace does; the engine runs off the event loop, in a run slot."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ...settings import get_settings
from ...standalone import build_html
from ..errors import RESPONSES, RequestError
from ..middleware import OffLoopJSONRoute
from ..runs import model_dict, resolve_input
from ..schemas import TraceRequest
from ..textinput import uses_vocab

router = APIRouter(tags=["trace"], route_class=OffLoopJSONRoute)


def page_html(req: TraceRequest) -> str:
    """Validate as /api/trace does, then build the file: text stays text (its characters
    label the steps), any other input goes in as the rows it resolves to."""
    X, alphabet = resolve_input(req, get_settings())  # limits checked, errors name the field
    if X.shape[0] == 0:
        raise RequestError(("body", "input"), "the input sequence is empty: give at least one step")
    emb = req.model.embedding
    model = model_dict(req, X.shape[1] if emb is None else emb.embedding_dim)
    inp = req.input
    options: dict[str, Any] = {"dtype": req.dtype}
    if req.loss.kind != "sum_last":
        options["loss"] = req.loss.model_dump()
    if req.clamp:
        options["clamp"] = [c.model_dump() for c in req.clamp]
    inputs: Any = X
    if inp.text is not None:
        inputs = inp.text
        if uses_vocab(req):
            options |= {"vocab": inp.vocab, "alphabet": inp.alphabet, "level": inp.level}
        else:
            options["alphabet"] = alphabet
    try:
        return build_html(model, inputs, **options)
    except ValueError as exc:  # the engine's own checks name the field
        raise RequestError(("body",), str(exc)) from None


@router.post(
    "/api/html",
    summary="The run as one self-contained HTML file (no server, no network needed to view it)",
    responses=RESPONSES,
    response_class=Response,
)
async def post_html(req: TraceRequest, request: Request) -> Response:
    async with request.app.state.slots.hold():
        html = await run_in_threadpool(page_html, req)
    cell = req.model.cell
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="lstm-explainer-{cell}.html"'},
    )
