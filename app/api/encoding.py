"""Content codings: which one a client takes, and compressing an answer as it is made.

An answer is compressed once, when it is made, and the answer cache keeps the compressed
parts (app/api/cache.py): the 30th identical request costs a copy. gzip is written by ISA-L
(the `isal` package, the stdlib's zlib when it is missing) at its level 1: a T = 1000, H = 32
trace answer (5.5 MB of JSON) took 19-53 ms against zlib level 1's 104-176 ms on a loaded
2-core machine, for 2.56 MB against 2.60 (zstd level 1: 15-42 ms, 2.29 MB, but no client
asks for it by default). Each part is compressed while the next part is
computed in another thread, and ends on a sync flush, so what has been sent can be read at
once; the parts together are one gzip stream (one member, as every client reads).
"""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from starlette.datastructures import Headers

_deflate: ModuleType = zlib
try:  # ISA-L: the same gzip, several times faster; compresses with the GIL released
    from isal import isal_zlib

    _deflate = isal_zlib
except ImportError:  # pragma: no cover - isal ships wheels for the usual platforms
    pass
GZIP_LEVEL = 1  # ISA-L's levels are 0-3, zlib's 1-9: 1 is the fast end of both

CODINGS = ("gzip", "identity")  # in the server's order of preference


def _weights(header: str) -> dict[str, float]:
    """Accept-Encoding's codings -> q (lower-cased; a malformed q counts as 0)."""
    out: dict[str, float] = {}
    for item in header.split(","):
        name, *params = (p.strip() for p in item.split(";"))
        if not name:
            continue
        q = next((p[2:] for p in params if p.lower().startswith("q=")), "1")
        try:
            out[name.lower()] = float(q)
        except ValueError:
            out[name.lower()] = 0.0
    return out


def accepts(headers: Headers, coding: str) -> bool:
    """The client's Accept-Encoding names `coding` (or *) with a q above 0."""
    q = _weights(headers.get("accept-encoding", ""))
    return q.get(coding, q.get("*", 0.0)) > 0


def accepts_gzip(headers: Headers) -> bool:
    return accepts(headers, "gzip")


def choose(headers: Headers) -> str:
    """The coding an answer goes out in: the server's first choice the client takes (RFC 9110
    12.5.3: identity is acceptable unless refused by name or by `*;q=0`)."""
    q = _weights(headers.get("accept-encoding", ""))
    for coding in CODINGS[:-1]:
        if q.get(coding, q.get("*", 0.0)) > 0:
            return coding
    return "identity"


def gzip_compressobj(level: int = GZIP_LEVEL) -> Any:
    """A compressobj writing one gzip stream (zlib's interface)."""
    return _deflate.compressobj(level, _deflate.DEFLATED, 16 + _deflate.MAX_WBITS)


class GzipStream:
    """One gzip stream written part by part: each part ends on a sync flush (readable as it
    arrives), `finish()` writes the end. Not thread-safe: one caller at a time, in order."""

    def __init__(self, level: int = GZIP_LEVEL) -> None:
        self._c = gzip_compressobj(level)

    def compress(self, part: bytes) -> bytes:
        return self._c.compress(part) + self._c.flush(_deflate.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._c.flush(_deflate.Z_FINISH)


def gzip_bytes(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    """`data` as one gzip stream (for small, whole answers)."""
    c = gzip_compressobj(level)
    return c.compress(data) + c.flush(_deflate.Z_FINISH)


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_END = object()
_POLL = 0.05  # seconds between looks at the stop flag while waiting


def encoded(parts: Iterator[Any], coding: str) -> Iterator[Any]:
    """`parts` (bytes, and markers such as cache.PAUSE passed through in order) in `coding`.

    For gzip, `parts` is made in a thread of its own (the computation and the JSON writing)
    while the caller's thread compresses each part as it arrives and hands it on at once:
    compression overlaps the computation instead of following it, and the forward pass's
    parts go out compressed while the backward pass is computed. The maker runs at most a few
    parts ahead; at a marker it waits until the caller has passed it on and asked for more.
    When `parts` fails, what was made before the failure comes out first, then the error
    (the answer is cut short, never passed off as whole). Closing this generator stops the
    maker at its next part."""
    if coding == "identity":
        yield from parts
        return
    if coding != "gzip":
        raise ValueError(f"unknown content coding {coding!r}")
    made: queue.Queue[Any] = queue.Queue(maxsize=4)
    stop, resume = threading.Event(), threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                made.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def make() -> None:
        try:
            for part in parts:
                if not put(part):
                    return
                if not isinstance(part, bytes):  # a marker: wait until it has been handled
                    while not resume.wait(_POLL):
                        if stop.is_set():
                            return
                    resume.clear()
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            put(_Failed(exc))
        finally:
            close = getattr(parts, "close", None)
            if close is not None:
                close()

    maker = threading.Thread(target=make, name="answer-maker", daemon=True)
    maker.start()
    stream = GzipStream()
    try:
        while (item := made.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.exc
            if isinstance(item, bytes):
                if out := stream.compress(item):
                    yield out
            else:
                yield item
                resume.set()
        yield stream.finish()
    finally:
        stop.set()
        maker.join()
