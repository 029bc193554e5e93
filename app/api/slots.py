"""A global cap on concurrent heavy runs: beyond it, a clear "busy, retry" instead of a crawl."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .errors import RequestError


class RunSlots:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0  # only touched from the event loop thread: no lock needed

    @property
    def full(self) -> bool:
        return self.active >= self.limit

    def busy(self) -> RequestError:
        return RequestError(
            ("body",), f"the server is busy ({self.limit} runs at once); retry shortly", 503
        )

    @contextmanager
    def take(self) -> Iterator[None]:
        """Hold a slot for the block; raise the 503 busy RequestError when none is free."""
        if self.full:
            raise self.busy()
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
