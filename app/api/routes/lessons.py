"""Guided lessons: GET /lessons (the list), /lessons/<slug> (the first stop), one URL per stop
(/lessons/<slug>/<k>?<the stop's view>, the stop's own page with the lesson panel on it),
GET /api/lessons[/<slug>] (the parsed lessons) and POST /api/lessons/parse (a teacher's file).

A stop's page is rendered at the lesson's own path: the page reads its URL state from the
query and writes it back with location.pathname, so the lesson stays in the address.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from ...lessons import LessonError, all_lessons, parse_lesson
from ...lessons.parse import MAX_BYTES
from ..errors import RESPONSES, RequestError
from .pages import PLOTLY_VERSION, templates

router = APIRouter(tags=["lessons"])

Page = Literal["step", "compare", "train"]
TEMPLATES = {"step": "index.html", "compare": "compare.html", "train": "train.html"}


class LessonText(BaseModel):
    text: str = Field(..., max_length=MAX_BYTES, description="a lesson file (docs/lessons.md)")


def _lesson(slug: str) -> dict[str, Any]:
    for lesson in all_lessons():
        if lesson["slug"] == slug:
            return lesson
    raise RequestError(("path", "slug"), f"no lesson “{slug}”", status=404)


@router.get("/api/lessons", summary="The lessons: title, slug, summary and stop count")
def list_lessons() -> list[dict[str, Any]]:
    return [{"slug": les["slug"], "title": les["title"], "summary": les["summary"],
             "stops": len(les["stops"])} for les in all_lessons()]  # fmt: skip


# parse first: /api/lessons/parse must not be read as the lesson with slug "parse"
@router.post("/api/lessons/parse", summary="Parse and check a lesson file", responses=RESPONSES)
def parse(body: LessonText) -> dict[str, Any]:
    try:
        return parse_lesson(body.text)
    except LessonError as exc:
        detail = [
            {"loc": ["body", "text"], "msg": str(exc), "type": "value_error", "line": exc.line}
        ]
        raise _UnprocessableError(detail) from None


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No lesson with this slug",
                   "content": {"application/json": {"schema": {"type": "object"}}}}}  # fmt: skip


@router.get(
    "/api/lessons/{slug}", summary="One lesson, parsed", responses={**RESPONSES, **NOT_FOUND}
)
def get_lesson(slug: str) -> dict[str, Any]:
    return _lesson(slug)


class _UnprocessableError(RequestError):
    def __init__(self, detail: list[dict[str, Any]]) -> None:
        super().__init__(detail[0]["loc"], detail[0]["msg"])
        self._detail = detail

    def detail(self) -> list[dict]:
        return self._detail


@router.get("/lessons", response_class=HTMLResponse, include_in_schema=False)
def lessons_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "lessons.html", {"active": "lessons", "lessons": list_lessons()}
    )


def _stop_page(request: Request, page: str, title: str) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "lesson_stop.html",
        {
            "active": "lessons",
            "page_template": TEMPLATES[page],
            "plotly_version": PLOTLY_VERSION,
            "lesson_title": title,
        },  # fmt: skip
    )


@router.get("/lessons/own/{page}/{k}", response_class=HTMLResponse, include_in_schema=False)
def own_stop(request: Request, page: Page, k: int) -> HTMLResponse:
    """A stop of a lesson file loaded in this browser (it lives in sessionStorage)."""
    return _stop_page(request, page, "Your lesson")


@router.get("/lessons/{slug}", include_in_schema=False)
def lesson_start(slug: str) -> Response:
    return _redirect(_lesson(slug), 1)


@router.get("/lessons/{slug}/{k}", include_in_schema=False)
def lesson_stop(request: Request, slug: str, k: int) -> Response:
    lesson = _lesson(slug)
    if not 1 <= k <= len(lesson["stops"]):
        raise RequestError(("path", "k"), f"“{slug}” has stops 1 to {len(lesson['stops'])}", 404)
    stop = lesson["stops"][k - 1]
    if not request.url.query and stop["view"]:
        return _redirect(lesson, k)  # a bare stop URL opens the stop's own view
    return _stop_page(request, stop["page"], lesson["title"])


def _redirect(lesson: dict[str, Any], k: int) -> RedirectResponse:
    view = lesson["stops"][k - 1]["view"]
    url = f"/lessons/{lesson['slug']}/{k}" + (f"?{view}" if view else "")
    return RedirectResponse(url, status_code=307)
