"""A global cap on concurrent heavy runs: beyond it, a clear "busy, retry" instead of a crawl.

A slot is held while the engine computes (forward, backward, serialising an answer), not
while frames stream to a client: streaming is I/O, and holding a slot for it would let 8 slow
viewers turn a classroom away. A run that finds every slot taken waits up to `wait` seconds
(LSTMX_RUN_QUEUE_SECONDS, default 5: a burst of 100 small runs drains in about that on two
cores) and is then answered busy: HTTP 503 with Retry-After, or a WebSocket error frame and
close code 1013.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from .errors import RequestError

POLL_SECONDS = 0.02  # how often a waiting run looks for a free slot


class RunSlots:
    def __init__(self, limit: int, wait: float = 0.0) -> None:
        self.limit = limit
        self.wait = wait
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

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Hold a slot for the block, waiting up to `wait` seconds for one; then busy."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    async def acquire(self) -> None:
        """Take a slot, waiting up to `wait` seconds for one; raise busy after that. For a
        holder whose work outlives one block (hold() is the usual way): release() it once."""
        deadline = time.monotonic() + self.wait
        while self.full:  # checked and taken with no await between: nobody slips in
            if time.monotonic() >= deadline:
                raise self.busy()
            await asyncio.sleep(POLL_SECONDS)
        self.active += 1

    def release(self) -> None:
        self.active -= 1
