"""What every browser test shares: one server, one Chromium, pages that watch themselves.

`base_url`: the real app (`uvicorn app.main:app`) in its own process on a free loopback port,
once per session. `browser`: Debian's Chromium through Playwright, launched so that it never
looks outside 127.0.0.1 (`chromium_path` skips, or fails in CI, when it is missing).
`make_page(width, height, **context_options)`: a page whose every request, console error or
warning and page error is recorded; at teardown the test fails if any request left 127.0.0.1
or anything went wrong in the console. `page` is `make_page()` at 1280x720.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from procs import die_with_parent, free_port, stop, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]  # fmt: skip


@pytest.fixture(scope="session")
def base_url():
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(url, proc)
        except RuntimeError as exc:
            pytest.fail(str(exc))
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def browser(chromium_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Recorder:
    """Every request, console error or warning and page error of one page."""

    def __init__(self, page) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("websocket", lambda ws: self.urls.append(ws.url))
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def _console(self, msg) -> None:
        if msg.type in ("error", "warning"):
            self.errors.append(f"console {msg.type}: {msg.text}")

    def check(self) -> None:
        outside = [u for u in self.urls if urlparse(u).scheme not in ("data", "blob", "file")
                   and urlparse(u).hostname != "127.0.0.1"]  # fmt: skip
        assert outside == [], f"requests left 127.0.0.1: {outside}"
        assert self.errors == [], "\n".join(self.errors)


@pytest.fixture
def make_page(browser):
    made = []

    def make(width: int = 1280, height: int = 720, timeout: float = 20_000, **options):
        context = browser.new_context(viewport={"width": width, "height": height}, **options)
        pg = context.new_page()
        pg.set_default_timeout(timeout)
        made.append((context, Recorder(pg)))
        return pg

    yield make
    for context, recorder in made:
        recorder.check()
        context.close()


@pytest.fixture
def page(make_page):
    return make_page()


@pytest.fixture
def assert_accessible():
    """axe-core's WCAG 2.1 A and AA rules: `assert_accessible(page)` or `(page, "#part")`."""
    from accessibility import assert_accessible as check

    return check
