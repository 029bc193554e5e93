"""Page routes: the HTML pages (Jinja2) and plotly.js served from the installed package.

Everything the browser loads comes from this server (no CDN), so the tool works offline and
a Content-Security-Policy of `script-src 'self'` holds: pages carry no inline scripts.
"""

from __future__ import annotations

from pathlib import Path

import plotly
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from ..precompressed import negotiate

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
def plotly_js(request: Request) -> Response:
    # The file only changes with the plotly package; the page adds ?v=<version> to the URL.
    # Gzipped once (app/api/precompressed.py): 4.8 MB becomes about 1.4 MB on the wire.
    # A plain function: FastAPI runs it in a worker thread, so the one compression it may
    # wait for never holds the event loop.
    stat = PLOTLY_JS.stat()
    plain = FileResponse(
        PLOTLY_JS,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
        stat_result=stat,
    )
    return negotiate(plain, PLOTLY_JS, stat, request.headers)
