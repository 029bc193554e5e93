"""Command line: ``python -m app [--host H] [--port P] [--workers N] [--open] [--log-level L]``."""

from __future__ import annotations

import argparse
import threading
import webbrowser
from collections.abc import Sequence

from . import __version__
from .settings import get_settings

APP = f"{__package__}.main:app"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Serve the LSTM Explainer web app.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--open", action="store_true", help="open the page in a web browser once started"
    )
    parser.add_argument(
        "--log-level", default="info", choices=LOG_LEVELS, help="uvicorn log level (default info)"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in 0..65535, got {args.port}")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    return args


def browser_url(host: str, port: int) -> str:
    """The URL to open: wildcard binds are reached through loopback."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def open_browser_later(url: str, delay: float = 1.5) -> threading.Timer:
    """Open ``url`` in a browser after ``delay`` seconds, from a daemon thread."""
    timer = threading.Timer(delay, webbrowser.open, args=(url,))
    timer.daemon = True
    timer.start()
    return timer


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    args = parse_args(argv)
    if args.open:
        open_browser_later(browser_url(args.host, args.port))
    uvicorn.run(
        APP,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        # the same values as `make run` (see the Makefile): shutdown within 5 s with streams
        # open; a client silent for 20 s after a ping is dropped; messages capped like bodies
        timeout_graceful_shutdown=5,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        ws_max_size=get_settings().max_body_bytes,
        # no permessage-deflate: the step page's frames are binary floats (deflate saves 3-7%),
        # and deflating every frame of every follower on the event loop was what held a
        # classroom burst back (bench/load.py: 100 viewers done in 3-4.5 s without it, 45-64 s
        # with it on a busy machine). JSON API clients get gzip from POST /api/trace instead.
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
