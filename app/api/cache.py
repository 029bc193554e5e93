"""A content-addressed cache of answers: identical requests are computed once.

Runs are seeded and deterministic, so an answer is a function of the validated request. Its
key is the sha256 of the validated request dumped as JSON (every default filled in, fields in
the schema's order, typed numbers as floats, so `{"live": false}` and nothing at all are one
key) together with the kind of answer (the POST body in its format and content coding,
"post-json-gzip", "post-npz-identity", ..., or one of the WebSocket framings). Anything that
changes the answer is in the request, inline weights included; fields that only choose how
it is sent (`live`, `frames`, `view`, `format`) are left out, the kind says it. Requests that
differ only in ways the schema keeps (the order of the weights' names, 1 against 1.0 in a
weight) are two keys: a miss, never a wrong answer.

An entry is the answer's parts (bytes) in order, as they go out: compressed already for a
client that takes a compressed coding, so a kept answer costs each reader a copy. It is
readable while it is being written: the first request for a key starts one computation in a
task of its own, and every request
for that key that arrives meanwhile follows the same parts as they are made (single-flight).
A requester that leaves or is cancelled never stops the computation the others wait on; when
the last one leaves before the answer is complete, the computation stops at its next part
and nothing is kept (a client that disconnects costs nothing afterwards). A computation that
fails hands its error to everyone waiting and is not kept: the next request
computes again. Written answers are kept up to a byte budget (LSTMX_CACHE_BYTES), the least
recently used dropped first; an answer larger than the whole budget is served, not kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

PAUSE_POLL = 0.005  # seconds between looks at the readers' progress, while paused
PART_OVERHEAD = 64  # bytes a Python bytes object and its list slot cost beyond their length
PRESENTATION = {"live", "frames", "view", "format"}  # fields that choose how it is sent


def request_key(req: BaseModel, kind: str) -> str:
    """sha256 of the kind of answer and the request as pydantic dumps it (in Rust: a body of
    200,000 weights takes milliseconds, before any limit is checked)."""
    dump = req.model_dump_json(exclude=PRESENTATION)
    return hashlib.sha256(f"{kind}\n{dump}".encode()).hexdigest()


class Answer:
    """An answer's parts, appended as they are made; readers follow them in order."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.nbytes = 0
        self.done = False
        self.error: BaseException | None = None
        self._grew = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None  # where it is being computed
        self.readers = 0
        self.read_max = 0  # parts read by the furthest reader
        self.abandoned = False  # every reader left before the end: stop computing
        self.on_abandon: Callable[[], None] = lambda: None

    def add(self, part: bytes) -> None:
        self.parts.append(part)
        self.nbytes += len(part) + PART_OVERHEAD
        self._wake()

    def end(self, error: BaseException | None = None) -> None:
        self.done, self.error = True, error
        self._wake()

    def _wake(self) -> None:
        self._grew.set()
        self._grew = asyncio.Event()

    async def read(self) -> AsyncIterator[bytes]:
        """Every part, waiting for the ones still to come; the computation's error, if it
        failed, after the parts made before it. Close it when done with it (aclosing): the
        last reader to leave early abandons the computation."""
        n = 0
        self.readers += 1
        try:
            while True:
                while n < len(self.parts):
                    yield self.parts[n]
                    n += 1
                    self.read_max = max(self.read_max, n)
                if self.done:
                    if self.error is not None:
                        raise self.error
                    return
                await self._grew.wait()
        finally:
            self.readers -= 1
            if not self.readers and not self.done and not self.abandoned:
                self.abandoned = True
                self.on_abandon()


Make = Callable[[Answer], Awaitable[None]]
PAUSE = object()  # yielded by a part maker: go on once a reader has read every part so far


class AbandonedError(Exception):
    """Every reader left before the answer was complete."""


class AnswerCache:
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.bytes = 0
        self.hits = self.misses = self.waits = 0  # waits: requests that joined a computation
        self._kept: OrderedDict[str, Answer] = OrderedDict()  # least recently used first
        self._running: dict[str, Answer] = {}
        self._tasks: set[asyncio.Future[None]] = set()  # references until they end

    def get(self, key: str, make: Make) -> Answer:
        """The answer for `key`: kept, being computed, or computed now by `make(answer)`,
        which adds the parts and returns (or raises) when the answer is complete."""
        if (answer := self._kept.get(key)) is not None:
            self._kept.move_to_end(key)
            self.hits += 1
            return answer
        loop = asyncio.get_running_loop()
        if (answer := self._running.get(key)) is not None and answer.loop is loop:
            self.waits += 1
            return answer
        # (a computation on another event loop, whose loop has closed, is never joined: a
        # test client runs each request on a loop of its own)
        self.misses += 1
        answer = self._running[key] = Answer()
        answer.loop = loop
        answer.on_abandon = lambda: self._forget(key, answer)
        task = asyncio.ensure_future(self._compute(key, answer, make))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return answer

    async def _compute(self, key: str, answer: Answer, make: Make) -> None:
        try:
            await make(answer)
        except BaseException as exc:  # noqa: BLE001 - handed to every reader, never kept
            answer.end(exc)
        else:
            answer.end()
            # made whole: kept, even when its last reader left between reading the last part
            # and this line (the parts are all there; an abandoned answer raises AbandonedError
            # in fill() instead and is never kept)
            self._keep(key, answer)
        finally:
            self._forget(key, answer)

    def _forget(self, key: str, answer: Answer) -> None:
        if self._running.get(key) is answer:  # the next request for it computes anew
            del self._running[key]

    def _keep(self, key: str, answer: Answer) -> None:
        if answer.nbytes > self.budget:
            return
        self._kept[key] = answer
        self.bytes += answer.nbytes
        while self.bytes > self.budget:
            _, old = self._kept.popitem(last=False)
            self.bytes -= old.nbytes

    def clear(self) -> None:
        """Forget every kept answer and zero the counts (computations under way finish for
        their readers)."""
        self._kept.clear()
        self.bytes = self.hits = self.misses = self.waits = 0

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "waits": self.waits,
                "entries": len(self._kept), "bytes": self.bytes, "budget": self.budget,
                "computing": len(self._running)}  # fmt: skip


async def fill(answer: Answer, parts: Callable[[], Iterator[bytes | object]]) -> None:
    """Make `parts()` in a worker thread, adding each part to the answer on the event loop
    as soon as it is made (readers start on the first while the rest is computed); stop
    making them once every reader has left. At a PAUSE the maker waits for the furthest
    reader to catch up: work that only a reader who is reading needs (a stream's backward
    pass) is not done for a client that stalls and is then dropped."""
    loop = asyncio.get_running_loop()
    finished = asyncio.Event()

    def write() -> None:
        try:
            made = 0
            for part in parts():
                while part is PAUSE and answer.read_max < made and not answer.abandoned:
                    time.sleep(PAUSE_POLL)
                if answer.abandoned:  # read across threads: a stale False costs one part
                    raise AbandonedError
                if isinstance(part, bytes):
                    loop.call_soon_threadsafe(answer.add, part)
                    made += 1
        finally:  # after every part, in order: the answer is complete once this is set
            loop.call_soon_threadsafe(finished.set)

    await run_in_threadpool(write)
    await finished.wait()
