"""`lstm-explainer serve`: the web app under uvicorn, with the options `make run` uses."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import webbrowser
from collections.abc import Sequence

APP = f"{__package__.rpartition('.')[0]}.main:app"  # app.main:app, lstm_explainer.main:app
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "memory://")
HELP = "serve the web app (the default command)"
DESCRIPTION = """\
Serve the LSTM Explainer web app: the step-through page, the gradient lab, training, lessons,
classes. Everything the pages load comes from this server, so it works offline."""
EPILOG = """\
examples:
  %(prog)s --open
      the app at http://127.0.0.1:8000, opened in your browser
  %(prog)s --host 0.0.0.0 --port 9000
      serve a classroom's network (the firewall must allow the port)
  %(prog)s --workers 4 --redis-url redis://localhost:6379/0
      four processes that share classes through Redis

Limits and other settings come from LSTMX_* environment variables (README, "Limits")."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--open", action="store_true", help="open the page in a web browser once started"
    )
    parser.add_argument(
        "--redis-url",
        metavar="URL",
        help="share classes between worker processes or servers through Redis "
        "(redis://host:port/db; default: LSTMX_REDIS_URL, else classes live in this process)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=LOG_LEVELS, help="uvicorn log level (default info)"
    )


def check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in 0..65535, got {args.port}")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    url = args.redis_url
    if url is not None and url.strip() and not url.strip().startswith(REDIS_SCHEMES):
        parser.error(f"--redis-url must be redis://host:port/db (or memory://), got {url!r}")


def make_parser(prog: str = "lstm-explainer serve") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = make_parser()
    args = parser.parse_args(argv)
    check(args, parser)
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


def run(args: argparse.Namespace) -> None:
    import uvicorn

    from ..settings import get_settings

    if args.redis_url is not None:  # the settings (and every worker process) read it from here
        os.environ["LSTMX_REDIS_URL"] = args.redis_url
        get_settings.cache_clear()
    settings = get_settings()
    if args.workers > 1 and not settings.redis_url.strip().startswith(REDIS_SCHEMES[:3]):
        print(
            "note: with several workers and no --redis-url, each process has its own classes: "
            "a student may land on a process that does not know the class code",
            file=sys.stderr,
        )
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
        ws_max_size=settings.max_body_bytes,
        # no permessage-deflate: the step page's frames are binary floats (deflate saves 3-7%),
        # and deflating every frame of every follower on the event loop was what held a
        # classroom burst back (bench/load.py: 100 viewers done in 3-4.5 s without it, 45-64 s
        # with it on a busy machine). JSON API clients get gzip from POST /api/trace instead.
        ws_per_message_deflate=False,
    )


def main(argv: Sequence[str] | None = None) -> None:
    run(parse_args(argv))
