"""Static files gzipped once, served as gzip to clients that accept it.

plotly.min.js is 4.8 MB as the plotly package ships it and about 1.4 MB gzipped: a classroom
of laptops on one Wi-Fi pays the difference thirty times. Each file is compressed once, at
level 9, the first time it is asked for (plotly.min.js at startup, in a thread of its own),
and kept in memory with the file's size and modification time in its key, so an edited file
is compressed again. Answers carry `Vary: Accept-Encoding`, and an ETag of their own (the
file's, marked "-gzip"), so caches keep the two encodings apart and revalidation still works.
"""

from __future__ import annotations

import gzip
import os
import threading
from functools import lru_cache
from pathlib import Path

from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.types import Scope

from .encoding import accepts_gzip

COMPRESSIBLE = {".js", ".mjs", ".css", ".svg", ".json", ".html", ".txt", ".map"}
_lock = threading.Lock()  # one compression per file, however many ask for it at once


@lru_cache(maxsize=256)
def _gzip_bytes(path: str, size: int, mtime_ns: int) -> bytes:
    return gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0)


def gzipped(path: str | os.PathLike[str], stat: os.stat_result) -> bytes:
    with _lock:
        return _gzip_bytes(str(path), stat.st_size, stat.st_mtime_ns)


def warm(path: Path) -> None:
    """Compress `path` now (call it from a thread: plotly.min.js takes a second or so)."""
    gzipped(path, path.stat())


def negotiate(
    plain: Response, path: str | os.PathLike[str], stat: os.stat_result, headers: Headers
) -> Response:
    """`plain` (a FileResponse or a 304) as it is, or the gzipped file when the client takes
    gzip, with `Vary: Accept-Encoding` (the app's GZipMiddleware adds it to the plain file)."""
    if not isinstance(plain, FileResponse) or plain.status_code != 200:
        return plain
    if Path(path).suffix not in COMPRESSIBLE or not accepts_gzip(headers):
        return plain
    etag = plain.headers.get("etag", '""')
    gz_headers = {k: v for k, v in plain.headers.items() if k not in ("content-length", "etag")}
    gz_headers |= {
        "content-encoding": "gzip",
        "etag": f'{etag[:-1]}-gzip"',
        "vary": "Accept-Encoding",
    }
    if (tags := headers.get("if-none-match")) and gz_headers["etag"] in tags:
        return Response(status_code=304, headers=gz_headers)
    return Response(gzipped(path, stat), headers=gz_headers, media_type=plain.media_type)


class PrecompressedStaticFiles(StaticFiles):
    """StaticFiles whose text files go out gzipped to clients that accept it."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        plain = super().file_response(full_path, stat_result, scope, status_code)
        return negotiate(plain, full_path, stat_result, Headers(scope=scope))
