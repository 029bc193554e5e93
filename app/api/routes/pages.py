"""Page routes: the HTML pages (Jinja2) and plotly.js served from the installed package.

Everything the browser loads comes from this server (no CDN), so the tool works offline and
a Content-Security-Policy of `script-src 'self'` holds: pages carry no inline scripts.
"""

from __future__ import annotations

import re
from pathlib import Path

import plotly
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ...paths import TEMPLATES
from ..precompressed import negotiate

templates = Jinja2Templates(directory=str(TEMPLATES))
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PLOTLY_VERSION = plotly.__version__  # busts the long cache when the package is upgraded

router = APIRouter(tags=["pages"])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def step_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "index.html", {"active": "step", "plotly_version": PLOTLY_VERSION}
    )


# A class code as a student types it: case, spaces and dashes do not matter. The hub decides
# whether a class has it; this only keeps what cannot be a code out of the page.
CLASS_CODE = re.compile(r"^[A-Z0-9]{4,6}$")


def normalise_code(raw: str) -> str:
    code = re.sub(r"[\s-]", "", raw).upper()
    return code if CLASS_CODE.match(code) else ""


@router.get("/join", response_class=HTMLResponse, include_in_schema=False)
def join_page(request: Request, code: str | None = None) -> Response:
    """The form to type a class code; with ?code=, on to that class's page."""
    error = ""
    if code is not None:
        if normalised := normalise_code(code[:20]):
            return RedirectResponse(f"/c/{normalised}", status_code=303)
        error = "A class code is 4 to 6 letters or digits, as the teacher shows it."
    return templates.TemplateResponse(
        request, "join.html", {"active": "join", "code": "", "error": error}
    )


@router.get("/c/{code}", response_class=HTMLResponse, include_in_schema=False)
def class_page(request: Request, code: str) -> Response:
    """A student's way in: the page joins the class and then follows the teacher."""
    normalised = normalise_code(code[:20])
    if not normalised:
        return templates.TemplateResponse(
            request,
            "join.html",
            {"active": "join", "code": "", "error": f"“{code[:20]}” is not a class code."},
            status_code=404,
        )
    if normalised != code:
        return RedirectResponse(f"/c/{normalised}", status_code=307)
    return templates.TemplateResponse(request, "join.html", {"active": "join", "code": code})


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
