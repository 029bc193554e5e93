"""A global cap on concurrent heavy runs: beyond it, a clear "busy, retry" instead of a crawl."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .errors import RequestError


class RunSlots:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0  # only touched from the event loop thread: no lock needed

    @contextmanager
    def take(self) -> Iterator[None]:
        if self.active >= self.limit:
            raise RequestError(
                ("body",), f"the server is busy ({self.limit} runs at once); retry shortly", 503
            )
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
