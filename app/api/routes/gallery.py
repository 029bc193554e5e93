"""The gallery of trained models: GET /api/gallery (the cards), GET /api/gallery/{slug} (the
model object /api/trace takes as it is, with its card) and the page GET /models.

The cards and weights live in app/gallery/ (read once per process); see docs/gallery.md.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ...gallery import all_cards, get_card, summary
from .. import encoding
from ..errors import RequestError
from .pages import templates

router = APIRouter(tags=["gallery"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No gallery model with this slug",
          "content": {"application/json": {"schema": {"type": "object"}}}}
}  # fmt: skip


@router.get("/api/gallery", summary="The trained models shipped with the app: their cards")
async def list_gallery() -> list[dict[str, Any]]:
    cards = await run_in_threadpool(all_cards)  # the first call reads the weight files
    return [summary(c) for c in cards]


@router.get(
    "/api/gallery/{slug}", summary="A gallery model, weights inline, as /api/trace takes it",
    responses=NOT_FOUND,
)  # fmt: skip
async def get_gallery_model(slug: str, request: Request) -> Response:
    """Encoded (and gzipped) once per process, with an ETag: the char LM's weights are 7.8 MB of
    JSON, which every page of a lesson on it, and every student of a class, would otherwise
    fetch again. `Cache-Control: no-cache` keeps it fresh across an upgrade: a browser asks
    again with If-None-Match and gets 304 Not Modified."""
    card = await run_in_threadpool(get_card, slug)
    if card is None:
        known = ", ".join(c.slug for c in all_cards())
        raise RequestError(
            ("path", "slug"), f"no gallery model {slug[:80]!r}; the gallery has: {known}", 404
        )
    coding = encoding.choose(request.headers)  # zstd, gzip or identity, as answers are sent
    body, etag = await run_in_threadpool(_encoded, slug, coding)
    headers = {**encoding.headers(coding), "etag": etag, "cache-control": "no-cache"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@functools.lru_cache(maxsize=32)
def _json(slug: str) -> bytes:
    card = get_card(slug)
    assert card is not None
    return orjson.dumps(card.model, option=orjson.OPT_SERIALIZE_NUMPY)


@functools.lru_cache(maxsize=32)
def _encoded(slug: str, coding: str) -> tuple[bytes, str]:
    """The model's JSON in `coding`, once, and its ETag (one per coding: two representations)."""
    body = _json(slug)
    tag = hashlib.sha256(body).hexdigest()[:32]
    return encoding.whole(body, coding), f'"{tag}"' if coding == "identity" else f'"{tag}-{coding}"'


@router.get("/models", response_class=HTMLResponse, include_in_schema=False)
def gallery_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "models.html", {"active": "models"})
