"""What the browser tests share besides fixtures (tests/browser/conftest.py has those): the API
called as the pages call it, opening a page until it says it is ready, a page cut off from the
network (`offline`, for files opened from disk), and where screenshots go.

    from pagetools import artifact, open_ready, post_json

    open_ready(page, f"{base_url}/compare?len=30", "#lab-chart[data-state='ready']")
    want = post_json(base_url, "/api/trace", body)
    page.screenshot(path=artifact("compare-1280x720.png"))

Screenshots are named after their test (and its parameters), so parallel workers never write
the same file.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "tests" / "artifacts"
READY = "body[data-ready='1']"


def artifact(name: str) -> str:
    """The path of `name` under tests/artifacts/ (made if missing), for page.screenshot."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return str(ARTIFACTS / name)


def open_ready(page, url: str, ready: str = READY) -> None:
    """Go to `url` and wait for the selector that says the page has finished its first draw."""
    page.goto(url)
    page.wait_for_selector(ready)


def post(base_url: str, path: str, data: bytes, content_type: str, timeout: float = 30) -> dict:
    """POST a body to the server under test; the JSON answer (an HTTP error raises)."""
    req = urllib.request.Request(
        f"{base_url}{path}", data=data, headers={"Content-Type": content_type}
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def post_json(base_url: str, path: str, body: dict, timeout: float = 30) -> dict:
    """POST a JSON body, as the pages' fetch calls do; the JSON answer."""
    return post(base_url, path, json.dumps(body).encode(), "application/json", timeout)


def offline(page) -> list[str]:
    """Abort every request of `page` that is not for a local file; the list of those asked
    (a saved HTML view must need none)."""
    asked: list[str] = []

    def handle(route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            asked.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return asked
