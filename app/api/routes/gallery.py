"""The gallery of trained models: GET /api/gallery (the cards), GET /api/gallery/{slug} (the
model object /api/trace takes as it is, with its card) and the page GET /models.

The cards and weights live in app/gallery/ (read once per process); see docs/gallery.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from ...gallery import all_cards, get_card, summary
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
async def get_gallery_model(slug: str) -> dict[str, Any]:
    card = await run_in_threadpool(get_card, slug)
    if card is None:
        known = ", ".join(c.slug for c in all_cards())
        raise RequestError(
            ("path", "slug"), f"no gallery model {slug[:80]!r}; the gallery has: {known}", 404
        )
    return card.model


@router.get("/models", response_class=HTMLResponse, include_in_schema=False)
def gallery_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "models.html", {"active": "models"})
