"""Page routes: the HTML pages (Jinja2) and plotly.js served from the installed package.

Everything the browser loads comes from this server (no CDN), so the tool works offline and
a Content-Security-Policy of `script-src 'self'` holds: pages carry no inline scripts.
"""

from __future__ import annotations

from pathlib import Path

import plotly
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

ROOT = Path(__file__).resolve().parents[3]  # project root: app/api/routes/pages.py -> ../../..
templates = Jinja2Templates(directory=str(ROOT / "templates"))
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PLOTLY_VERSION = plotly.__version__  # busts the long cache when the package is upgraded

router = APIRouter(tags=["pages"])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def step_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "index.html", {"active": "step", "plotly_version": PLOTLY_VERSION}
    )


@router.api_route("/vendor/plotly.min.js", methods=["GET", "HEAD"], include_in_schema=False)
def plotly_js() -> FileResponse:
    # The file only changes with the plotly package; the page adds ?v=<version> to the URL.
    return FileResponse(
        PLOTLY_JS,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
