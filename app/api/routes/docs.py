"""GET /docs: the OpenAPI reference (Swagger UI), served whole from this server.

FastAPI's own /docs page loads Swagger UI from a CDN and starts it with an inline script: our
Content-Security-Policy (`script-src 'self'`) blocks both, and offline there is no CDN. Here
the page is our template, its script is static/js/docs.js, and Swagger UI is the pinned copy in
static/vendor/swagger-ui/ (its README says why and how to upgrade). ReDoc is not offered: one
reference is enough, and it would be another megabyte of pinned script.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from .pages import templates

router = APIRouter(tags=["pages"])


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def docs_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "docs.html", {"active": "docs"})
