"""Content codings: which one a client takes, and compressing an answer as it is made.

An answer is compressed once, when it is made, and the answer cache keeps the compressed
parts (app/api/cache.py): the 30th identical request costs a copy. gzip is written by ISA-L
(the `isal` package, the stdlib's zlib when it is missing) at its level 1: on a T = 1000,
H = 32 trace answer (5.5 MB of JSON) that is 4-5x faster than zlib's level 1 for the same
size (bench/wire.py --api has the figures). Each part is compressed in a thread of its own
while the next part is computed, and ends on a sync flush, so what has been sent can be
read at once; the parts together are one gzip stream (one member, as every client reads).
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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


def encoded(parts: Iterator[Any], coding: str) -> Iterator[Any]:
    """`parts` (bytes, and markers such as cache.PAUSE passed through in order) in `coding`.

    For gzip, each part is compressed in a thread of its own while the caller's thread makes
    the next one (the compressor releases the GIL): compression overlaps the computation and
    the JSON writing instead of following them. Compressed parts come out in order, as soon
    as they are ready when the next part is asked for, all of them at the end; when `parts`
    fails, what was compressed before the failure comes out first (the answer is cut short,
    never passed off as whole)."""
    if coding == "identity":
        yield from parts
        return
    if coding != "gzip":
        raise ValueError(f"unknown content coding {coding!r}")
    stream = GzipStream()
    pending: deque[Future[bytes]] = deque()
    pool = ThreadPoolExecutor(1, thread_name_prefix="gzip")
    try:
        try:
            for part in parts:
                if not isinstance(part, bytes):  # a marker: after everything before it
                    while pending:
                        yield pending.popleft().result()
                    yield part
                    continue
                pending.append(pool.submit(stream.compress, part))
                while pending and pending[0].done():
                    yield pending.popleft().result()
        except Exception:  # from `parts` (a GeneratorExit, the reader leaving, is not)
            while pending:
                yield pending.popleft().result()
            raise
        while pending:
            yield pending.popleft().result()
        yield stream.finish()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
