"""Bytes on the wire: static files gzipped once, JSON answers gzipped as they stream."""

import gzip
import json
import zlib

from fastapi.testclient import TestClient
from starlette.datastructures import Headers

from app.api.encoding import accepts_gzip
from app.api.routes.pages import PLOTLY_JS
from app.main import app
from app.paths import STATIC

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
    for path in ("js/api.js", "css/app.css", "favicon.svg"):
        r, body = raw_get(f"/static/{path}", GZIP)
        assert r.headers["content-encoding"] == "gzip", path
        assert gzip.decompress(body) == (STATIC / path).read_bytes()


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


def raw_post(body, headers):
    with client.stream("POST", "/api/trace", json=body, headers=headers) as r:
        return r, b"".join(r.iter_raw())


LONG = {"model": {"hidden_size": 16}, "input": {"task": {"name": "random", "length": 300}}}


def test_a_trace_answer_is_compressed_once_kept_compressed_and_sent_again_as_a_copy():
    first, sent = raw_post(LONG, GZIP)
    assert first.headers["content-encoding"] == "gzip"
    assert first.headers["vary"] == "Accept, Accept-Encoding"  # each name once
    again, resent = raw_post(LONG, GZIP)
    assert resent == sent and again.headers["content-length"] == str(len(sent))
    stats = app.state.cache.stats()
    assert stats["hits"] == 1 and stats["misses"] == 1
    assert len(sent) <= stats["bytes"] < len(sent) + 10_000  # kept as sent: compressed
    plain, plain_body = raw_post(LONG, PLAIN)
    assert "content-encoding" not in plain.headers and zlib.decompress(sent, 31) == plain_body


def test_a_client_that_refuses_gzip_gets_the_plain_answer():
    r, body = raw_post(LONG, {"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in r.headers and json.loads(body)["steps"] == 300
    r, body = raw_post(LONG, {"Accept-Encoding": "*;q=0"})  # identity is still acceptable
    assert "content-encoding" not in r.headers and json.loads(body)["steps"] == 300


def test_compression_runs_off_the_event_loop_while_the_backward_pass_computes(monkeypatch):
    """The forward part is compressed in a thread of its own (no event loop in it) while the
    backward pass runs: compression overlaps the computation instead of following it."""
    import asyncio
    import threading
    import time

    from app.api import encoding
    from app.engine import Run

    events = []
    lock = threading.Lock()
    compress, backward = encoding.GzipStream.compress, Run.backward

    def recording_compress(self, part):
        with lock:
            events.append("compress")
        try:
            asyncio.get_running_loop()
            events.append("ON THE LOOP")
        except RuntimeError:
            pass
        return compress(self, part)

    def slow_backward(self):
        time.sleep(0.3)  # long enough for the forward part to be compressed meanwhile
        with lock:
            events.append("backward done")
        return backward(self)

    monkeypatch.setattr(encoding.GzipStream, "compress", recording_compress)
    monkeypatch.setattr(Run, "backward", slow_backward)
    _, sent = raw_post(LONG, GZIP)
    assert json.loads(zlib.decompress(sent, 31))["steps"] == 300
    assert "ON THE LOOP" not in events
    assert events.index("compress") < events.index("backward done")


def test_the_middleware_marks_the_etag_of_what_it_compresses_and_passes_the_rest():
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from app.api.middleware import GZip

    text = b"an answer with a validator of its own " * 100

    def plain(request):
        return Response(text, media_type="text/plain", headers={"etag": '"v1"'})

    def encoded(request):
        gz = gzip.compress(text)
        return Response(gz, media_type="text/plain", headers={"content-encoding": "gzip"})

    app_ = Starlette(routes=[Route("/plain", plain), Route("/encoded", encoded)])
    app_.add_middleware(GZip)
    small = TestClient(app_)
    with small.stream("GET", "/plain", headers=GZIP) as r:
        body = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == "gzip" and gzip.decompress(body) == text
    assert r.headers["etag"] == '"v1-gzip"' and r.headers["vary"] == "Accept-Encoding"
    assert small.get("/plain", headers=PLAIN).headers["etag"] == '"v1"'
    with small.stream("GET", "/encoded", headers=GZIP) as r:
        body = b"".join(r.iter_raw())
    assert gzip.decompress(body) == text  # compressed once, by the app: passed through


def test_ordinary_json_answers_are_gzipped_by_the_middleware_and_npz_never_is():
    r, body = raw_get("/openapi.json", GZIP)
    assert r.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(body))["paths"]["/api/trace"]
    r, body = raw_post({**LONG, "format": "npz"}, GZIP)
    assert "content-encoding" not in r.headers and body.startswith(b"PK")


def test_a_client_that_takes_zstd_gets_one_zstd_frame_streamed_part_by_part():
    import zstandard

    body = {"model": {"hidden_size": 64}, "input": {"task": {"name": "random", "length": 1000}}}
    plain = client.post("/api/trace", json=body, headers=PLAIN).content
    with client.stream("POST", "/api/trace", json=body,
                       headers={"Accept-Encoding": "gzip, deflate, zstd"}) as r:  # fmt: skip
        assert r.headers["content-encoding"] == "zstd"
        chunks = list(r.iter_raw())
    assert len(chunks) > 3
    whole = b"".join(chunks)
    assert len(whole) < len(plain) / 2
    assert zstandard.ZstdDecompressor().decompressobj().decompress(whole) == plain


def test_a_cut_zstd_answer_is_refused_by_the_client(monkeypatch):
    import httpx
    import pytest

    from app.engine import Run

    def broken(self):
        raise RuntimeError("engine failure")

    monkeypatch.setattr(Run, "backward", broken)
    quiet = TestClient(app, raise_server_exceptions=False)
    with pytest.raises(httpx.DecodingError):
        quiet.post("/api/trace", json=LONG, headers={"Accept-Encoding": "zstd"})
    assert app.state.slots.active == 0


def test_the_labs_answers_are_kept_compressed_too():
    body = {"input": {"task": {"name": "random", "length": 200}}, "hidden_size": 8}
    with client.stream("POST", "/api/compare", json=body, headers=GZIP) as r:
        sent = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    plain = client.post("/api/compare", json=body, headers=PLAIN)
    assert "content-encoding" not in plain.headers
    assert gzip.decompress(sent) == plain.content
    with client.stream("POST", "/api/compare", json=body, headers=GZIP) as r:
        assert b"".join(r.iter_raw()) == sent  # kept as sent
    stats = app.state.cache.stats()
    assert stats["hits"] == 1 and stats["misses"] == 2
    assert stats["bytes"] < len(sent) + len(plain.content) + 1000
