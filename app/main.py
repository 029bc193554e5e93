"""The ASGI app: assembles routers, static files, middleware and error handlers. Nothing else."""

from __future__ import annotations

import sys
import threading

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from . import __version__
from .api import precompressed
from .api.cache import AnswerCache
from .api.errors import (
    RequestError,
    request_error_handler,
    validation_error_handler,
)
from .api.middleware import BodyLimit, OpenStreams, SecurityHeaders
from .api.precompressed import PrecompressedStaticFiles
from .api.routes import (
    classes,
    compare,
    docs,
    gallery,
    health,
    html,
    lessons,
    pages,
    reference,
    trace,
    train,
    units,
    weights,
)
from .api.slots import RunSlots
from .paths import STATIC
from .settings import get_settings

# Engine runs in worker threads hold the GIL between NumPy calls (the per-step Python loop);
# the event loop needs it several times per request and waits up to the switch interval each
# time. Measured on 2 busy cores, /healthz during the largest trace plus a training run:
# p99 69-138 ms at the default 5 ms, 18-93 ms at 1 ms. The engine loses little to it.
sys.setswitchinterval(0.001)


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="LSTM Explainer",
        version=__version__,
        description="Step through an LSTM, GRU or tanh RNN: every gate, state and gradient.",
        docs_url=None,  # FastAPI's pages load a CDN and run inline scripts: routes/docs.py
        redoc_url=None,
    )
    app.state.slots = RunSlots(settings.max_concurrent_runs, settings.run_queue_seconds)
    app.state.streams = {"open": 0}
    app.state.cache = AnswerCache(settings.cache_bytes)
    app.add_exception_handler(RequestError, request_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    modules = (health, trace, html, weights, compare, train, units, reference, lessons, gallery,
               pages, docs, classes)  # fmt: skip
    for module in modules:
        app.include_router(module.router)
    app.mount("/static", PrecompressedStaticFiles(directory=STATIC), name="static")
    threading.Thread(target=precompressed.warm, args=(pages.PLOTLY_JS,), daemon=True).start()
    # JSON answers gzipped for clients that accept it, the streamed POST /api/trace part by
    # part (each part flushed as it goes, nothing buffered); static files arrive gzipped
    # already and pass through.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        upload_limit=settings.max_upload_bytes,
        max_lists=settings.max_lists,
    )
    app.add_middleware(SecurityHeaders, frame_ancestors=settings.frame_ancestors)
    hosts = [h.strip() for h in settings.allowed_hosts.split(",") if h.strip()]
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts or ["*"])
    app.add_middleware(OpenStreams, counter=app.state.streams)
    # No CORSMiddleware: the pages and the API share one origin, so browsers need none.
    return app


app = create_app()
