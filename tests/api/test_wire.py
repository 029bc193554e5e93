"""Bytes on the wire: static files gzipped once, JSON answers gzipped as they stream."""

import gzip
import json
import zlib

import numpy as np
import pytest
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


def decode(frame: bytes) -> dict:
    """A compact binary frame: header and arrays (serialize.binary_frame's layout)."""
    n = int.from_bytes(frame[:4], "little")
    header = json.loads(frame[4 : 4 + n])
    offset = 4 + n + (-(4 + n) % 8)
    arrays = {}
    for name, layer, dtype, count in header["arrays"]:
        little = np.dtype(dtype).newbyteorder("<")
        a = np.frombuffer(frame, dtype=little, count=count, offset=offset)
        arrays[name, layer] = a
        offset += a.nbytes + (-a.nbytes % 8)
    return {**header, "values": arrays}


def compact_stream(body):
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps({**body, "frames": "compact"}))
        frames = [ws.receive()]
        while frames[-1].get("text", "").find('"type":"end"') < 0:
            frames.append(ws.receive())
    return frames


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compact_frames_hold_the_exact_numbers_the_json_answer_holds(dtype):
    body = {"model": {"hidden_size": 5, "num_layers": 2},
            "input": {"task": {"name": "sine", "length": 30}}, "dtype": dtype}  # fmt: skip
    post = client.post("/api/trace", json=body).json()
    frames = compact_stream(body)
    start, end = json.loads(frames[0]["text"]), json.loads(frames[-1]["text"])
    assert start["type"] == "start" and start["inputs"] == post["inputs"]
    assert end["loss"] == post["loss"]
    blocks = [decode(f["bytes"]) for f in frames[1:-1]]
    assert {b["type"] for b in blocks} == {"steps", "grads"}
    for k, want in enumerate(post["layers"]):
        for name, rows in [("gates.f", want["gates"]["f"]), ("c", want["c"]), ("h", want["h"])]:
            got = [b["values"][name, k].reshape(b["n"], 5) for b in blocks if b["type"] == "steps"]
            got = np.concatenate(got)
            assert got.dtype == np.dtype(dtype).newbyteorder("<")
            # JSON carries float32 as its shortest decimal: equal once read back as float32
            assert np.array_equal(got, np.array(rows, dtype=dtype)), name
        for name in ("grad_h_log10_norm", "grad_c_norm"):
            got = np.concatenate([b["values"][name, k] for b in blocks if b["type"] == "grads"])
            assert np.array_equal(got, np.array(want[name], dtype=got.dtype)), name


def test_compact_and_json_streams_are_cached_apart_and_computed_once_each():
    body = {"model": {"hidden_size": 3}, "input": {"text": "abc"}}
    first, again = compact_stream(body), compact_stream(body)
    assert first == again
    stats = app.state.cache.stats()
    assert stats["misses"] == 1 and stats["hits"] == 1
