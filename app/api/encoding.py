"""Content codings: which one a client takes, and compressing an answer as it is made.

An answer is compressed once, when it is made, and the answer cache keeps the compressed
parts (app/api/cache.py): the 30th identical request costs a copy. Measured on a T = 1000,
H = 32 trace answer (5.5 MB of JSON, made in 22 ms) on this 2-core machine under load, the
best of 9 (`bench/wire.py --api` has the end-to-end figures):

    coding        bytes    compress   client decodes
    zlib 1        2.60 MB   62 ms      32 ms
    zlib 6        2.42 MB  445 ms      22 ms    (the GZipMiddleware this replaces)
    ISA-L 1       2.56 MB   20-25 ms   26-35 ms
    ISA-L 3       2.51 MB   16-19 ms   22-24 ms (AVX-512: its fastest level here both ways)
    zstd 1        2.29 MB   15-16 ms    7 ms

So: zstd to clients that take it (browsers; httpx and requests when zstandard is installed),
gzip by ISA-L (the `isal` package: the same format) at level 3 to the rest (httpx and
requests by default). Each part is compressed while the next part is computed in another
thread, and ends on a flush, so what has been sent can be read at once; the parts together
are one gzip stream (one member, as every client reads) or one zstd frame.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import zstandard
from isal import isal_zlib as _deflate  # ISA-L: zlib's gzip, several times faster
from starlette.datastructures import Headers

GZIP_LEVEL = 3  # ISA-L's levels are 0-3 (measured above)
ZSTD_LEVEL = 1
CODINGS = ("zstd", "gzip", "identity")  # the server's order among codings of the same q


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
    """The coding an answer goes out in: of the codings the server writes, the one the client
    gives the highest q, the server's order breaking ties (RFC 9110 12.5.3: identity is
    acceptable unless refused by name or by `*;q=0`, and is taken last)."""
    q = _weights(headers.get("accept-encoding", ""))
    best, best_q = "identity", 0.0
    for coding in CODINGS[:-1]:
        weight = q.get(coding, q.get("*", 0.0))
        if weight > best_q:
            best, best_q = coding, weight
    return best


def gzip_compressobj(level: int = GZIP_LEVEL) -> Any:
    """A compressobj writing one gzip stream (zlib's interface)."""
    return _deflate.compressobj(level, _deflate.DEFLATED, 16 + _deflate.MAX_WBITS)


class GzipStream:
    """One gzip stream written part by part: each part ends on a sync flush (readable as it
    arrives), `finish()` writes the end. Not thread-safe: one caller at a time, in order."""

    def __init__(self, level: int = GZIP_LEVEL) -> None:
        self._c = gzip_compressobj(level)

    def compress(self, part: bytes | memoryview) -> bytes:
        return self._c.compress(part) + self._c.flush(_deflate.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._c.flush(_deflate.Z_FINISH)


class ZstdStream:
    """One zstd frame written part by part, each part ending on a block flush."""

    def __init__(self, level: int = ZSTD_LEVEL) -> None:
        self._c = zstandard.ZstdCompressor(level=level).compressobj()

    def compress(self, part: bytes | memoryview) -> bytes:
        return self._c.compress(part) + self._c.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def finish(self) -> bytes:
        return self._c.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


STREAMS: dict[str, type[GzipStream] | type[ZstdStream]] = {"gzip": GzipStream, "zstd": ZstdStream}


def whole(data: bytes, coding: str) -> bytes:
    """`data` in `coding`, in one piece (an answer made whole; call it off the event loop)."""
    if coding == "identity":
        return data
    stream = STREAMS[coding]()
    return stream.compress(data) + stream.finish()


def headers(coding: str, vary: str = "Accept-Encoding") -> dict[str, str]:
    """The headers of an answer this module compressed (or chose not to) for `coding`."""
    out = {"vary": vary}
    if coding != "identity":
        out["content-encoding"] = coding
    return out


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_END = object()
SLICE = 2**18  # bytes compressed, flushed and handed on at a time
_POLL = 0.05  # seconds between looks at the stop flag while waiting


def encoded(parts: Iterator[Any], coding: str) -> Iterator[Any]:
    """`parts` (bytes, and markers such as cache.PAUSE passed through in order) in `coding`.

    For gzip and zstd, `parts` is made in a thread of its own (the computation and the JSON writing)
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
    if coding not in CODINGS:
        raise ValueError(f"unknown content coding {coding!r}")
    stream = STREAMS[coding]()
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
    try:
        while (item := made.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.exc
            if isinstance(item, bytes):
                view = memoryview(item)
                for start in range(0, len(view), SLICE):  # the client inflates one slice
                    if out := stream.compress(view[start : start + SLICE]):  # while the next
                        yield out  # is compressed: less waiting at the end than whole parts
            else:
                yield item
                resume.set()
        yield stream.finish()
    finally:
        stop.set()
        maker.join()
