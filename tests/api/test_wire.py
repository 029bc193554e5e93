"""Bytes on the wire: static files gzipped once, JSON answers gzipped as they stream."""

import gzip
import json
import zlib

from fastapi.testclient import TestClient
from starlette.datastructures import Headers

from app.api.precompressed import accepts_gzip
from app.api.routes.pages import PLOTLY_JS
from app.main import ROOT, app

client = TestClient(app)
GZIP = {"Accept-Encoding": "gzip"}
PLAIN = {"Accept-Encoding": "identity"}


def raw_get(path, headers):
    """The bytes as sent (httpx would undo the gzip)."""
    with client.stream("GET", path, headers=headers) as r:
        return r, b"".join(r.iter_raw())


def test_plotly_goes_out_gzipped_under_2_mib_to_a_client_that_accepts_gzip():
    r, body = raw_get("/vendor/plotly.min.js", GZIP)
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.headers["vary"] == "Accept-Encoding"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert len(body) < 2 * 2**20 and gzip.decompress(body) == PLOTLY_JS.read_bytes()
    plain, plain_body = raw_get("/vendor/plotly.min.js", PLAIN)
    assert "content-encoding" not in plain.headers and plain_body == PLOTLY_JS.read_bytes()
    assert plain.headers["vary"] == "Accept-Encoding"
    assert plain.headers["etag"] != r.headers["etag"]  # two encodings, two validators


def test_a_revalidated_gzip_file_is_a_304():
    r, _ = raw_get("/static/js/main.js", GZIP)
    assert r.headers["content-encoding"] == "gzip"
    again = client.get("/static/js/main.js", headers={**GZIP, "If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_static_scripts_and_styles_go_out_gzipped_and_unchanged():
    for path in ("static/js/api.js", "static/css/app.css", "static/favicon.svg"):
        r, body = raw_get(f"/{path}", GZIP)
        assert r.headers["content-encoding"] == "gzip", path
        assert gzip.decompress(body) == (ROOT / path).read_bytes()


def test_accept_encoding_is_read_with_its_q_values():
    def takes(value):
        return accepts_gzip(Headers({"accept-encoding": value}))

    assert takes("gzip, deflate, br") and takes("br;q=1.0, gzip;q=0.8") and takes("*")
    assert not takes("gzip;q=0, identity") and not takes("identity") and not takes("")


def test_a_streamed_trace_answer_is_gzipped_part_by_part_and_equal_to_the_plain_one():
    body = {"model": {"hidden_size": 64}, "input": {"task": {"name": "random", "length": 1000}}}
    plain = client.post("/api/trace", json=body, headers=PLAIN).content
    with client.stream("POST", "/api/trace", json=body, headers=GZIP) as r:
        assert r.headers["content-encoding"] == "gzip"
        chunks = list(r.iter_raw())
    assert len(chunks) > 3  # streamed, not gathered into one body first
    whole = b"".join(chunks)
    assert len(whole) < len(plain) / 2
    assert zlib.decompress(whole, 16 + zlib.MAX_WBITS) == plain
    assert json.loads(plain)["steps"] == 1000


def compact_stream(body):
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps({**body, "frames": "compact"}))
        frames = [ws.receive()]
        while frames[-1].get("text", "").find('"type":"end"') < 0:
            frames.append(ws.receive())
    return frames


def test_compact_and_json_streams_are_cached_apart_and_computed_once_each():
    body = {"model": {"hidden_size": 3}, "input": {"text": "abc"}}
    first, again = compact_stream(body), compact_stream(body)
    assert first == again
    stats = app.state.cache.stats()
    assert stats["misses"] == 1 and stats["hits"] == 1
