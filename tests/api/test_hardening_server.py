"""Hardening (issue 6) against a real uvicorn server (a subprocess on a free loopback port).

The event loop stays free while the largest trace computes; a client that stops reading slows
nobody and is dropped; clients that leave or go silent cost nothing afterwards and log no
error; the busy answer; shutdown within a few seconds with streams open.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from procs import die_with_parent, free_port, stop
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
# the largest trace the default limits allow: T·H·8 just under 8e6 numbers, work 3.9e8
LARGEST = {"model": {"hidden_size": 390}, "input": {"task": {"name": "sine", "length": 2560}}}
BIG_STREAM = {"model": {"hidden_size": 64, "num_layers": 2},
              "input": {"task": {"name": "sine", "length": 5000}}}  # fmt: skip
SMALL_STREAM = {"model": {"hidden_size": 16}, "input": {"task": {"name": "sine", "length": 200}}}
ERRORS = ("Exception in ASGI application", "Traceback", "Error in ASGI")
# every test here bounds a time against a real server: run alone under pytest-xdist (conftest.py)
pytestmark = pytest.mark.alone


class Server:
    """`python -m uvicorn app.main:app` on a free port, stderr kept for inspection."""

    def __init__(self, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.err = tempfile.TemporaryFile()
        cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
               "--port", str(self.port), "--log-level", "warning", *args]  # fmt: skip
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})},
                                     stdout=subprocess.DEVNULL, stderr=self.err,
                                     preexec_fn=die_with_parent)  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.get("/healthz", timeout=1)[0] == 200:
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {self.stderr()}") from None
                time.sleep(0.05)

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 60):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        data = None if body is None else json.dumps(body)
        c.request(method, path, body=data, headers={"content-type": "application/json"})
        r = c.getresponse()
        out = r.status, r.read(), {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return out

    def get(self, path: str, timeout: float = 10):
        return self.request("GET", path, timeout=timeout)

    def detail(self) -> dict:
        return json.loads(self.get("/healthz?detail=true")[1])

    def wait_idle(self, seconds: float) -> dict:
        """Poll until no run and no WebSocket stream is left, or `seconds` pass; the load
        figures of /healthz?detail (not its cache counts)."""
        deadline = time.monotonic() + seconds
        while True:
            d = {k: v for k, v in self.detail().items() if k != "cache"}
            if (d["active_runs"], d["streams"]) == (0, 0) or time.monotonic() > deadline:
                return d
            time.sleep(0.05)

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def stderr(self) -> str:
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def stop(self) -> None:
        stop(self.proc)


@pytest.fixture
def server_factory():
    servers: list[Server] = []

    def make(env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> Server:
        servers.append(Server(env, args))
        return servers[-1]

    yield make
    for s in servers:
        s.stop()


def raw_ws(
    port: int, body: dict | None, rcvbuf: int = 4096, path: str = "/ws/trace"
) -> socket.socket:
    """A WebSocket opened by hand that never reads (a tiny receive buffer) and never pongs."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())  # fmt: skip
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # one byte at a time: read the handshake answer and nothing more
    assert head.startswith(b"HTTP/1.1 101"), head
    if body is not None:
        sock.sendall(_frame(json.dumps(body).encode()))
    return sock


def _frame(payload: bytes) -> bytes:
    """One masked client text frame."""
    mask = os.urandom(4)
    n = len(payload)
    size = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n)
    if n >= 2**16:
        size = bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ mask[k % 4] for k, b in enumerate(payload))
    return b"\x81" + size + mask + masked


def stream_all(url: str, body: dict, timeout: float = 30) -> list[dict]:
    with connect(url, max_size=2**24, open_timeout=timeout) as ws:
        ws.send(json.dumps(body))
        frames = []
        while True:
            frame = json.loads(ws.recv(timeout=timeout))
            frames.append(frame)
            if frame["type"] in ("end", "error"):
                return frames


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


LOAD = """
import http.client, json, sys, threading
from websockets.sync.client import connect
port, largest, train = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {}
def heavy():  # three in a row: one stall in ~100 samples would hide under the p99
    for _ in range(3):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request("POST", "/api/trace", body=largest, headers={"content-type": "application/json"})
        r = c.getresponse(); r.read(); out["post"] = r.status
def training():
    with connect(f"ws://127.0.0.1:{port}/ws/train", max_size=2**24) as ws:
        ws.send(train)
        while True:
            kind = json.loads(ws.recv(timeout=120))["type"]
            if kind in ("done", "error"):
                out["train"] = kind; return
workers = [threading.Thread(target=heavy), threading.Thread(target=training)]
[w.start() for w in workers]; [w.join() for w in workers]
print(json.dumps(out))
"""
TRAIN = {"task": {"name": "adding", "length": 50, "seed": 0},
         "model": {"cell": "lstm", "hidden_size": 32},
         "train": {"steps": 150, "batch_size": 32, "eval_every": 50}}  # fmt: skip


def healthz_under_load(server: Server) -> list[float]:
    """/healthz latencies (at least 50) while the largest trace and a training run compute;
    the clients of that work run in their own process: only the server is measured."""
    load = subprocess.Popen(
        [sys.executable, "-c", LOAD, str(server.port), json.dumps(LARGEST), json.dumps(TRAIN)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(0.2)
    latencies = []
    while (len(latencies) < 50 or load.poll() is None) and len(latencies) < 2000:
        t0 = time.perf_counter()
        assert server.get("/healthz")[0] == 200
        latencies.append(time.perf_counter() - t0)
        time.sleep(0.01)
    assert json.loads(load.communicate(timeout=60)[0]) == {"post": 200, "train": "done"}
    return latencies


def test_healthz_is_never_held_for_the_engine_while_the_largest_trace_and_a_training_run(
    server_factory,
):
    """The engine's work (seconds for the largest trace) never runs on the event loop: every
    /healthz answer comes back in well under a second meanwhile. The 100 ms p99 target is a
    figure of bench/healthz.py, not a timed test: on a shared 2-core machine other processes
    move a p99 by tens of milliseconds. (Chunked serialisation, which keeps one big answer
    from holding the GIL ~0.2 s, is checked directly in test_hardening.py.)"""
    server = server_factory()
    latencies = healthz_under_load(server)
    print(f"healthz p50 {percentile(latencies, 0.5) * 1e3:.1f} ms "
          f"p99 {percentile(latencies, 0.99) * 1e3:.1f} ms max {max(latencies) * 1e3:.1f} ms "
          f"over {len(latencies)}")  # fmt: skip
    assert max(latencies) < 1.0, f"healthz waited {max(latencies):.2f} s"


def test_a_client_that_stops_reading_slows_nobody(server_factory):
    """With a 60 s send timeout the stalled client is still connected throughout: if it held
    up the server, the other stream would wait the full minute (the bound of 15 s is far from
    both a normal stream, well under a second, and the stall)."""
    server = server_factory(env={"LSTMX_SEND_TIMEOUT": "60"})
    stalled = raw_ws(server.port, BIG_STREAM)
    try:
        time.sleep(0.5)  # its run has computed and its frames filled the socket buffers
        assert server.detail()["streams"] == 1
        t0 = time.perf_counter()
        frames = stream_all(server.url("/ws/trace"), SMALL_STREAM)
        assert frames[-1]["type"] == "end" and len(frames) == 1 + 200 + 200 + 1
        assert time.perf_counter() - t0 < 15.0
        assert server.detail()["streams"] == 1  # the stalled one: still there, still stuck
    finally:
        stalled.close()
    assert not any(e in server.stderr() for e in ERRORS), server.stderr()


def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout(server_factory):
    server = server_factory(env={"LSTMX_SEND_TIMEOUT": "1"})
    stalled = raw_ws(server.port, BIG_STREAM)
    try:
        time.sleep(0.5)
        assert server.detail()["streams"] == 1
        # dropped after the send timeout: its run slot and stream are released
        assert server.wait_idle(5) == {"status": "ok", "active_runs": 0, "streams": 0}
    finally:
        stalled.close()
    assert not any(e in server.stderr() for e in ERRORS), server.stderr()


def test_a_training_client_that_stops_reading_is_dropped_and_frees_its_slot(server_factory):
    server = server_factory(env={"LSTMX_SEND_TIMEOUT": "1", "LSTMX_MAX_TRAININGS": "1"})
    long_run = {"task": {"name": "adding", "length": 50, "seed": 0},
                "model": {"cell": "lstm", "hidden_size": 64},
                "train": {"steps": 2000, "batch_size": 32, "eval_every": 1}}  # fmt: skip
    stalled = raw_ws(server.port, long_run, path="/ws/train")
    try:
        time.sleep(0.5)  # training; its snapshot frames fill the socket buffers
        short = {"task": {"name": "adding", "length": 10, "seed": 0},
                 "model": {"cell": "lstm", "hidden_size": 4},
                 "train": {"steps": 5, "batch_size": 4, "eval_every": 5}}  # fmt: skip
        with connect(server.url("/ws/train"), max_size=2**24) as ws:
            ws.send(json.dumps(short))
            kinds = []
            while not kinds or kinds[-1] not in ("done", "error"):
                kinds.append(json.loads(ws.recv(timeout=30))["type"])
        assert kinds[0] == "queued"  # the stalled client held the only slot ...
        assert "start" in kinds and kinds[-1] == "done"  # ... until it was dropped
    finally:
        stalled.close()
    assert not any(e in server.stderr() for e in ERRORS), server.stderr()


def test_clients_that_vanish_or_go_silent_cost_nothing_and_log_no_error(server_factory):
    server = server_factory(args=("--ws-ping-interval", "2", "--ws-ping-timeout", "2"))
    url = server.url("/ws/trace")
    # 1. closes politely mid-stream
    with connect(url) as ws:
        ws.send(json.dumps(BIG_STREAM))
        assert json.loads(ws.recv())["type"] == "start"
        ws.recv()
    # 2. killed: the socket is reset without a close frame
    sock = raw_ws(server.port, BIG_STREAM, rcvbuf=65536)
    time.sleep(0.3)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    # 3. silent in live mode: never reads, never answers a ping
    live = {"model": {"hidden_size": 4}, "input": {"text": "ab", "alphabet": "ab"}, "live": True}
    silent = raw_ws(server.port, live, rcvbuf=65536)
    try:
        # the killed one's stream ends at once; the silent one's only when no pong comes back
        # (2 s of ping interval and 2 s of timeout): it is the one left, for a while
        deadline = time.monotonic() + 2
        while (streams := server.detail()["streams"]) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert streams == 1  # the silent one, still open for now
        assert server.wait_idle(10) == {"status": "ok", "active_runs": 0, "streams": 0}
    finally:
        silent.close()
    assert stream_all(url, SMALL_STREAM)[-1]["type"] == "end"  # still serving
    log = server.stderr()
    assert not any(e in log for e in ERRORS), log


HOLD = """
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=120)
c.request("POST", "/api/trace", body=sys.argv[2], headers={"content-type": "application/json"})
r = c.getresponse(); r.read(); print(r.status)
"""


def test_busy_beyond_the_global_cap_is_503_retry_after_and_ws_1013(server_factory):
    env = {"LSTMX_MAX_CONCURRENT_RUNS": "1", "LSTMX_RUN_QUEUE_SECONDS": "0.2"}
    server = server_factory(env=env)
    # the largest trace computes for over a second, holding the one slot
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(server.port), json.dumps(LARGEST)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while server.detail()["active_runs"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        status, body, headers = server.request("POST", "/api/trace", SMALL_STREAM)
        assert status == 503 and int(headers["retry-after"]) >= 1
        assert "busy" in json.loads(body)["detail"][0]["msg"]
        with connect(server.url("/ws/trace")) as ws:
            ws.send(json.dumps(SMALL_STREAM))
            frame = json.loads(ws.recv())
            assert frame["type"] == "error" and "busy" in frame["detail"][0]["msg"]
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
            assert ws.close_code == 1013
    finally:
        assert holder.communicate(timeout=60)[0].strip() == "200"
    assert server.wait_idle(5)["active_runs"] == 0
    assert server.request("POST", "/api/trace", SMALL_STREAM)[0] == 200


def test_graceful_shutdown_within_seconds_with_streams_open(server_factory):
    server = server_factory(args=("--timeout-graceful-shutdown", "5"))
    live = {"model": {"hidden_size": 4}, "input": {"text": "ab", "alphabet": "ab"}, "live": True}
    with connect(server.url("/ws/trace")) as ws, connect(server.url("/ws/trace")) as big:
        ws.send(json.dumps(live))
        assert [json.loads(ws.recv())["type"] for _ in range(4)][-1] == "ready"
        big.send(json.dumps(BIG_STREAM))
        assert json.loads(big.recv())["type"] == "start"  # streaming, not reading on
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=10)
        elapsed = time.monotonic() - t0
    assert elapsed < 6, f"shutdown took {elapsed:.1f} s"
    assert not any(e in server.stderr() for e in ERRORS), server.stderr()


def test_a_compressing_answer_whose_client_leaves_stops_and_keeps_nothing(server_factory):
    """POST /api/trace compressing as it computes (app/api/encoding.py: a maker thread and a
    compressing thread): after a client that reads the first bytes and resets the connection,
    the run slot is free, nothing is kept in the answer cache, no error is logged and the
    server answers on (that the maker stops early: test_encoding.py)."""
    import zlib

    server = server_factory()
    for coding in ("identity", "gzip", "zstd"):
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        c.request("POST", "/api/trace", body=json.dumps(BIG_STREAM),
                  headers={"content-type": "application/json",
                           "accept-encoding": coding})  # fmt: skip
        r = c.getresponse()
        assert r.status == 200 and r.getheader("content-encoding", "identity") == coding
        assert r.read(65536)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.sock.close()
        r.close()  # (the response holds the socket open too)
        assert server.wait_idle(30)["active_runs"] == 0
        deadline = time.monotonic() + 10
        while (cache := server.detail()["cache"])["computing"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cache["computing"] == 0 and cache["entries"] == 0
    status, body, headers = server.request("POST", "/api/trace", SMALL_STREAM)
    assert status == 200 and json.loads(body)["steps"] == 200  # http.client asks for nothing
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    c.request(
        "POST",
        "/api/trace",
        body=json.dumps(SMALL_STREAM),
        headers={"content-type": "application/json", "accept-encoding": "gzip"},
    )
    assert zlib.decompress(c.getresponse().read(), 31) == body
    log = server.stderr()
    assert not any(e in log for e in ERRORS), log
