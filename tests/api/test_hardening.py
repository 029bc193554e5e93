"""Hardening (issue 6), in process: fast refusals, strict JSON, busy answers, hosts, uploads.

Each test fails without the piece of hardening it names. Servers started as subprocesses
(event loop, slow and vanishing clients, shutdown) are in test_hardening_server.py.
"""

from __future__ import annotations

import io
import json
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.lib import format as npy_format
from starlette.websockets import WebSocketDisconnect

from app import settings as settings_module
from app.engine.params import init_params, spec_from_dict
from app.main import app, create_app

client = TestClient(app)
FAST = 0.5  # seconds: the target is 50 ms; generous for a loaded CI machine
SMALL = 16 * 2**20  # bytes of Python allocations while refusing


def strict_json(text: str | bytes):
    """Parse rejecting NaN/Infinity, as a browser's JSON.parse does."""

    def refuse(token):
        raise AssertionError(f"bare {token} in JSON")

    return json.loads(text, parse_constant=refuse)


def timed(call):
    """(answer, seconds, peak bytes allocated) of one call: timed once as it is, then once
    more under tracemalloc (which slows allocations down) for the peak."""
    t0 = time.perf_counter()
    call()
    seconds = time.perf_counter() - t0
    tracemalloc.start()
    try:
        out = call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return out, seconds, peak


def post_raw(path: str, body: bytes):
    return client.post(path, content=body, headers={"content-type": "application/json"})


def seq_body(rows: int) -> bytes:
    return ('{"input":{"sequence":[' + ",".join(["[0.5]"] * rows) + "]}}").encode()


def clamp_body(t: list[int], length: int = 50, hidden: int = 8, entries: int = 1) -> bytes:
    entry = json.dumps({"gate": "f", "value": 1.0, "t": t})
    return (
        f'{{"model":{{"hidden_size":{hidden}}},'
        f'"input":{{"task":{{"name":"sine","length":{length}}}}},'
        f'"clamp":[{",".join([entry] * entries)}]}}'
    ).encode()


BIG_WEIGHTS = (
    '{"model":{"hidden_size":4,"weights":{"weight_ih_l0":[['
    + ",".join(["0.5"] * 200_000)
    + ']]}},"input":{"text":"ab"}}'
).encode()

# (name, path, JSON body or raw bytes, expected status, words in the first message)
REFUSALS = [
    ("task T=1e9", "/api/trace", {"input": {"task": {"name": "sine", "length": 10**9}}},
     422, "10000"),
    ("H=1e6", "/api/trace", {"model": {"hidden_size": 10**6}, "input": {"text": "abc"}},
     422, "512"),
    ("O=1e9", "/api/trace", {"model": {"output_size": 10**9}, "input": {"text": "abc"}},
     422, "256"),
    ("clamp t=2**70", "/api/trace", {"input": {"text": "abc"},
                                     "clamp": [{"gate": "f", "value": 1, "t": [2**70]}]},
     422, "less than"),
    ("L=1e6", "/api/trace", {"model": {"num_layers": 10**6}, "input": {"text": "abc"}},
     422, "4"),
    ("work budget", "/api/trace", {"model": {"hidden_size": 512, "num_layers": 4},
                                   "input": {"task": {"name": "sine", "length": 10_000}}},
     422, "budget"),
    ("text 1e6", "/api/trace", {"input": {"text": "a" * 10**6}}, 422, "10000"),
    ("alphabet 2e4", "/api/trace", {"input": {"text": "a", "alphabet": "".join(
        chr(0x4E00 + k) for k in range(20_000))}}, 422, "256"),
    ("sequence 1e6 rows", "/api/trace", seq_body(10**6), 413, "lists"),
    ("sequence 20001 rows", "/api/trace", seq_body(20_001), 422, "10000"),
    ("row 3e5 wide", "/api/trace",
     ('{"input":{"sequence":[[' + ",".join(["0"] * 300_000) + "]]}}").encode(), 422, "256"),
    ("clamp t 1e5 steps", "/api/trace", clamp_body(list(range(100_000))), 422, "10000"),
    ("clamp t repeated", "/api/trace", clamp_body([3] * 5000), 422, "once"),
    ("clamp cost", "/api/trace", clamp_body(list(range(50)), entries=1000), 422, "gate values"),
    ("clamp 1500 entries", "/api/trace", clamp_body([0], entries=1500), 422, "1000"),
    ("weights 2e5 numbers", "/api/trace", BIG_WEIGHTS, 422, "weight"),
    ("compare T=1e9", "/api/compare", {"input": {"task": {"name": "sine", "length": 10**9}}},
     422, "10000"),
    ("compare H=1e6", "/api/compare", {"hidden_size": 10**6, "input": {"text": "ab"}},
     422, "512"),
    ("compare 1e6 rows", "/api/compare", seq_body(10**6), 413, "lists"),
]  # fmt: skip


@pytest.mark.alone  # each refusal timed (FAST): run alone under pytest-xdist
@pytest.mark.parametrize("name,path,body,status,words", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_out_of_range_requests_are_refused_fast_without_allocating(name, path, body, status, words):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    client.get("/healthz")  # warm
    r, seconds, peak = timed(lambda: post_raw(path, raw))
    assert r.status_code == status, r.text[:300]
    detail = strict_json(r.text)["detail"]
    assert detail[0]["loc"][0] == "body" and words in " ".join(d["msg"] for d in detail)
    assert len(r.content) < 4096  # a big input is not echoed back
    assert seconds < FAST, f"{name}: {seconds:.3f} s"
    # Requests that ask for big arrays by numbers must not allocate them. Bodies that carry
    # their data cost memory in proportion to their bytes (JSON parsing; bounded by the body
    # cap): test_hardening_server measures the server's RSS for those.
    if len(raw) < 2**20:
        assert peak < SMALL + 128 * len(raw), f"{name}: {peak / 2**20:.1f} MB"


@pytest.mark.alone  # timed (FAST)
def test_websocket_refuses_a_huge_request_fast():
    with client.websocket_connect("/ws/trace") as ws:
        t0 = time.perf_counter()
        ws.send_text(json.dumps({"input": {"task": {"name": "sine", "length": 10**9}}}))
        frame = strict_json(ws.receive_text())
        assert time.perf_counter() - t0 < FAST
        assert frame["type"] == "error" and "10000" in frame["detail"][0]["msg"]
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(seq_body(10**6).decode())
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1009


# --- non-finite numbers never reach a client as bare NaN or Infinity ---

NAN_BODIES = [
    b'{"input":{"text":"ab"},"clamp":[{"gate":"f","value":NaN,"t":0}]}',
    b'{"model":{"init":{"recurrent_gain":Infinity}},"input":{"text":"ab"}}',
    b'{"input":{"sequence":[[NaN],[-Infinity]]}}',
]


@pytest.mark.parametrize("body", NAN_BODIES)
def test_nan_in_a_request_is_a_422_that_parses_strictly(body):
    r = post_raw("/api/trace", body)
    assert r.status_code == 422
    assert strict_json(r.text)["detail"][0]["loc"][0] == "body"
    r = post_raw("/api/compare", b'{"input_scale":NaN,"input":{"text":"ab"}}')
    assert r.status_code == 422 and strict_json(r.text)


STEPS = 400


def diverging_body() -> dict:
    """A tanh RNN with W_hh = 10 x orthogonal at h = 0: ||dL/dh_t|| grows 10^(T-1-t) and
    passes float64's 1.8e308 at T-1-t = 309, so the backward pass diverges at step 90."""
    w = init_params(spec_from_dict({"cell": "rnn", "input_size": 1, "hidden_size": 4,
                                    "init": {"recurrent_init": "orthogonal"}}))  # fmt: skip
    w["weight_hh_l0"] *= 10.0
    w["bias_ih_l0"][:] = 0
    w["bias_hh_l0"][:] = 0
    weights = {k: v.tolist() for k, v in w.items()}
    return {"model": {"cell": "rnn", "hidden_size": 4, "weights": weights},
            "input": {"sequence": [[0.0]] * STEPS}}  # fmt: skip


def test_a_diverging_trace_is_reported_with_its_step_and_parses_strictly():
    r = client.post("/api/trace", json=diverging_body())
    assert r.status_code == 200
    data = strict_json(r.text)
    t = data["nonfinite"]["diverged_at"]
    assert data["nonfinite"] == {"field": "grad_h", "layer": 0, "t": 0, "diverged_at": t}
    assert 85 <= t <= 92
    assert None in data["layers"][0]["grad_h"][t]
    assert None not in data["layers"][0]["grad_h"][t + 1]


def test_websocket_frames_of_a_diverging_run_parse_strictly_and_end_names_the_step():
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps(diverging_body()))
        frames = [strict_json(ws.receive_text()) for _ in range(1 + 2 * STEPS + 1)]
    end = frames[-1]
    assert end["type"] == "end" and end["nonfinite"]["field"] == "grad_h"
    at = end["nonfinite"]["diverged_at"]
    assert 85 <= at <= 92
    grads = {f["t"]: f for f in frames if f["type"] == "grad"}
    assert None in grads[at]["layers"][0]["grad_h"]
    assert None not in grads[at + 1]["layers"][0]["grad_h"]


def test_compare_of_an_exploding_rnn_parses_strictly():
    body = {"input": {"task": {"name": "sine", "length": 900}}, "cells": ["rnn", "lstm"],
            "hidden_size": 8, "recurrent_init": "orthogonal", "recurrent_gain": 10.0,
            "input_scale": 0.0}  # fmt: skip
    r = client.post("/api/compare", json=body)
    assert r.status_code == 200
    data = strict_json(r.text)
    assert None in data["cells"]["rnn"]["grad_h_log10"] or data["cells"]["rnn"]["grad_h_log10"]


# --- busy: a clear answer instead of a crawl ---


def test_busy_answers_503_with_retry_after_and_a_1013_websocket_close():
    slots = app.state.slots
    old = slots.limit, slots.wait
    slots.limit, slots.wait = 0, 0.2
    try:
        r = client.post("/api/trace", json={"input": {"text": "ab"}})
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
        assert "busy" in r.json()["detail"][0]["msg"]
        with client.websocket_connect("/ws/trace") as ws:
            ws.send_text(json.dumps({"input": {"text": "ab"}}))
            frame = strict_json(ws.receive_text())
            assert frame["type"] == "error" and "busy" in frame["detail"][0]["msg"]
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1013
    finally:
        slots.limit, slots.wait = old
    assert client.post("/api/trace", json={"input": {"text": "ab"}}).status_code == 200


def test_healthz_detail_reports_runs_and_streams():
    assert client.get("/healthz").json() == {"status": "ok"}
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps({"input": {"text": "ab", "alphabet": "ab"}, "live": True}))
        # up to "ready": the run of the text given is done (after "start" it may still hold a
        # run slot: a fresh-clone CI run read active_runs 1 there); the open stream holds none
        while strict_json(ws.receive_text())["type"] != "ready":
            pass
        detail = client.get("/healthz", params={"detail": "true"}).json()
        assert detail == {"status": "ok", "active_runs": 0, "streams": 1,
                          "cache": app.state.cache.stats()}  # fmt: skip
    assert client.get("/healthz?detail=true").json()["streams"] == 0


# --- web security: hosts, CORS ---


@pytest.fixture
def env_app(monkeypatch):
    """An app built from settings taken from the given environment variables."""

    def build(**env):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings_module.get_settings.cache_clear()
        return TestClient(create_app())

    yield build
    monkeypatch.undo()
    settings_module.get_settings.cache_clear()


def test_trusted_hosts_come_from_settings(env_app):
    c = env_app(LSTMX_ALLOWED_HOSTS="lab.example,127.0.0.1")
    assert c.get("/healthz", headers={"host": "evil.example"}).status_code == 400
    assert c.get("/healthz", headers={"host": "lab.example"}).status_code == 200
    assert c.get("/healthz", headers={"host": "127.0.0.1:8000"}).status_code == 200


def test_no_cors_headers_for_a_foreign_origin():
    origin = {"origin": "http://evil.example"}
    r = client.get("/healthz", headers=origin)
    assert "access-control-allow-origin" not in r.headers
    r = client.post("/api/trace", json={"input": {"text": "ab"}}, headers=origin)
    assert "access-control-allow-origin" not in r.headers
    pre = client.options("/api/trace", headers={**origin, "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in pre.headers and pre.status_code >= 400


# --- uploads ---


def npz_declaring(shape: tuple[int, ...], data_bytes: int) -> bytes:
    """An .npz whose one .npy member declares `shape` of float64 but holds data_bytes."""
    header = io.BytesIO()
    npy_format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": shape}
    )
    member = b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + b"\0" * data_bytes
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("weight_hh_l0.npy", member)
    return out.getvalue()


@pytest.mark.alone  # timed (FAST)
def test_an_npz_declaring_a_gigabyte_is_refused_without_allocating_it():
    for shape in [(2**27,), (4096, 32768)]:  # 1 GiB of float64 declared in a 1 MB file
        data = npz_declaring(shape, 2**20)
        assert len(data) < 2 * 2**20
        files = {"file": ("model.npz", io.BytesIO(data))}
        r, seconds, peak = timed(lambda f=files: client.post("/api/weights", files=f))
        assert r.status_code == 400, r.text
        assert "declares shape" in r.json()["detail"][0]["msg"]
        assert peak < 16 * len(data), f"{peak / 2**20:.1f} MB allocated"
        assert seconds < 2 * FAST


def test_pt_files_are_400_whatever_they_hold():
    torch_like = io.BytesIO()
    with zipfile.ZipFile(torch_like, "w") as z:  # torch.save writes a zip holding data.pkl
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    for name, data in [("model.pt", torch_like.getvalue()), ("model.pt", b"\0" * 100),
                       ("model.pth", b"PK\x03\x04"), ("model.npz", b"\x80\x04K\x01.")]:  # fmt: skip
        r = client.post("/api/weights", files={"file": (name, io.BytesIO(data))})
        assert r.status_code == 400, (name, r.text)
        assert strict_json(r.text)["detail"][0]["loc"] == ["body", "file"]


def test_big_answers_are_serialised_in_short_gil_holding_pieces(monkeypatch):
    """One orjson call over a 150 MB answer holds the GIL (and so the event loop) ~0.2 s: the
    answer is written a few rows at a time instead, with the same bytes."""
    from app.api import serialize

    sizes = []
    real = serialize.orjson.dumps

    def recording(obj, *args, **kwargs):
        out = real(obj, *args, **kwargs)
        sizes.append(len(out))
        return out

    rng = np.random.default_rng(0)
    answer = {"layers": [{"h": rng.random((2560, 390)), "gates": {"i": rng.random((2560, 390))}}],
              "loss": float("nan"), "inputs": rng.random((2560, 1)), "alphabet": None}  # fmt: skip
    monkeypatch.setattr(serialize.orjson, "dumps", recording)
    parts = serialize.dumps_parts(answer)
    monkeypatch.undo()
    assert b"".join(parts) == serialize.dumps(answer)
    assert max(sizes) < 2 * 2**20  # bytes per orjson call: ~65k numbers, a couple of ms
    assert len(parts) > 10 and max(len(p) for p in parts) < 4 * 2**20


def test_trace_bodies_are_parsed_off_the_event_loop(monkeypatch):
    """FastAPI parses bodies on the event loop: a 4 MB body of numbers held it ~0.45 s."""
    import threading

    from app.api.schemas import TraceRequest

    threads = []
    real = TraceRequest.model_validate_json.__func__

    def recording(cls, *args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(TraceRequest, "model_validate_json", classmethod(recording))
    assert client.post("/api/trace", json={"input": {"text": "ab"}}).status_code == 200
    r = client.post("/api/trace", json={"model": {"cell": "x"}, "input": {"text": "ab"}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "model", "cell"]
    assert len(threads) == 2 and all("worker" in name.lower() for name in threads), threads
