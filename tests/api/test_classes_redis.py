"""Classroom mode across processes: a real redis-server and two uvicorn processes with
LSTMX_REDIS_URL, the teacher on one and the students on the other (real WebSocket clients).
Then a Redis outage: an error frame on the class sockets, and the rest of the server serves on.
Skipped with a message when redis-server is missing, a failure under CI (redis_support)."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from procs import die_with_parent, free_port, stop
from redis_support import RedisServer, redis_server  # noqa: F401 - redis_server is a fixture
from test_hardening_server import raw_ws
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0


class Server:
    """`uvicorn app.main:app` on a free loopback port; its log (access log included) kept."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
               "--port", str(self.port), "--log-level", "info"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env},
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=die_with_parent)  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {self.output()}") from None
                time.sleep(0.05)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        c.request(method, path, body=None if body is None else json.dumps(body),
                  headers={"content-type": "application/json"})  # fmt: skip
        r = c.getresponse()
        data = r.read()
        c.close()
        is_json = r.getheader("content-type", "").startswith("application/json")
        return r.status, json.loads(data) if is_json else {}

    def ws(self, stack: ExitStack, code: str, hello: dict):
        url = f"ws://127.0.0.1:{self.port}/ws/class/{code}"
        ws = stack.enter_context(connect(url, open_timeout=TIMEOUT))
        ws.send(json.dumps(hello))
        return ws

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        stop(self.proc)


# the module's two servers (and its Redis) start once, on one pytest-xdist worker
pytestmark = pytest.mark.xdist_group("classes_redis")


@pytest.fixture(scope="module")
def pair(request):
    """Two server processes on one Redis (shared by the tests of this module)."""
    url = request.getfixturevalue("redis_server").url
    env = {"LSTMX_REDIS_URL": url, "LSTMX_SEND_TIMEOUT": "2",
           "LSTMX_CLASS_MESSAGES_PER_SECOND": "100000"}  # fmt: skip
    servers = [Server(env) for _ in range(2)]
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture
def sockets():
    """Open WebSocket clients, closed at the end of the test."""
    with ExitStack() as stack:
        yield stack


def recv(ws, kind: str, limit: int = 100) -> dict:
    for _ in range(limit):
        frame = json.loads(ws.recv(timeout=TIMEOUT))
        if frame["type"] == kind:
            return frame
    raise AssertionError(f"no {kind!r} frame in {limit}")


def test_two_processes_serve_one_class_with_right_counts_and_order(pair, sockets):
    a, b = pair
    status, made = a.request("POST", "/api/classes")
    assert status == 201
    code, token = made["code"], made["token"]
    teacher = a.ws(sockets, code, {"type": "hello", "role": "teacher", "token": token})
    assert recv(teacher, "welcome")["role"] == "teacher"
    ids = [f"{k:032x}" for k in range(1, 5)]  # each tab's own id (32 hex digits)
    hellos = [{"type": "hello", "role": "student", "member": m} for m in ids]
    students = [b.ws(sockets, code, hello) for hello in hellos[:3]]
    # and one on the teacher's process
    students.append(a.ws(sockets, code, hellos[3]))
    assert sorted(recv(s, "welcome")["members"] for s in students) == [1, 2, 3, 4]
    while recv(teacher, "members")["members"] != 4:
        pass
    for k in range(10):
        teacher.send(json.dumps({"type": "state", "url": f"/?t={k}", "playing": k < 9}))
    for s in students:  # a socket that is behind may skip stale states, never reorder them
        got = [recv(s, "state")]
        while got[-1]["url"] != "/?t=9":
            got.append(recv(s, "state"))
        seqs = [f["seq"] for f in got]
        assert seqs == sorted(set(seqs)) and seqs[-1] == 10
        assert all(f["url"] == f"/?t={f['seq'] - 1}" for f in got)
        assert got[-1]["playing"] is False
    teacher.send(json.dumps({"type": "poll", "question": "q", "choices": ["a", "b", "c"]}))
    poll = [recv(s, "poll")["poll"] for s in students]
    for s, choice in zip(students, (0, 2, 2, 1), strict=True):
        s.send(json.dumps({"type": "answer", "poll": poll[0], "choice": choice}))
    while (tally := recv(teacher, "tally"))["answered"] < 4:
        pass
    assert tally["counts"] == [1, 1, 2] and tally["members"] == 4
    students.pop(1).close()  # a student on the other process leaves mid-poll: the vote stays
    while (tally := recv(teacher, "tally"))["members"] != 3:
        pass
    assert tally["counts"] == [1, 1, 2] and tally["answered"] == 4
    back = a.ws(sockets, code, hellos[1])  # and comes back, on the teacher's process
    assert recv(back, "welcome")["answer"] == 2
    students.append(back)
    while (tally := recv(teacher, "tally"))["members"] != 4:
        pass
    assert tally["counts"] == [1, 1, 2] and tally["answered"] == 4
    teacher.send(json.dumps({"type": "end"}))
    for s in students:
        assert recv(s, "ended")["reason"]
        with pytest.raises(ConnectionClosed):
            s.recv(timeout=TIMEOUT)
    assert b.request("GET", f"/api/classes/{code}")[0] == 404
    for server in (a, b):
        log = server.output()
        assert token not in log and "Traceback" not in log
    assert f"/ws/class/{code}" in b.output()  # the access log is on: it was looked at


def test_a_model_stored_on_one_process_is_fetched_from_the_other(pair):
    a, b = pair
    model = {"cell": "rnn", "hidden_size": 1, "input_size": 1,
             "weights": {"weight_ih_l0": [[0.5]], "weight_hh_l0": [[0.25]],
                         "bias_ih_l0": [0.0], "bias_hh_l0": [0.125]}}  # fmt: skip
    status, answer = a.request("POST", "/api/models", model)
    assert status == 200
    status, back = b.request("GET", f"/api/models/{answer['key']}")
    assert status == 200 and back["weights"] == model["weights"]


@pytest.mark.alone  # the drop is bounded by LSTMX_SEND_TIMEOUT: timed against the server
def test_a_student_who_stops_reading_is_dropped_and_slows_nobody(pair, sockets):
    a, b = pair
    status, made = a.request("POST", "/api/classes")
    code, token = made["code"], made["token"]
    teacher = a.ws(sockets, code, {"type": "hello", "role": "teacher", "token": token})
    recv(teacher, "welcome")
    stuck = raw_ws(b.port, {"type": "hello", "role": "student"}, path=f"/ws/class/{code}")
    reader = b.ws(sockets, code, {"type": "hello", "role": "student"})
    recv(reader, "welcome")
    while recv(teacher, "members")["members"] != 2:
        pass
    pad = "x" * 4000  # 2,000 frames of 4 kB: more than the kernel buffers (4 MB) hold
    for k in range(2000):
        teacher.send(json.dumps({"type": "state", "url": f"/?t={k}&pad={pad}"}))
    got = [recv(reader, "state")]
    while not got[-1]["url"].startswith("/?t=1999&"):
        got.append(recv(reader, "state", limit=5000))
    seqs = [f["seq"] for f in got]
    assert seqs == sorted(set(seqs))  # the reader got the teacher's last view, in order
    while recv(teacher, "members", limit=5000)["members"] != 1:  # the stuck one was dropped
        pass
    teacher.send(json.dumps({"type": "state", "url": "/?after"}))
    assert recv(reader, "state")["url"] == "/?after"
    stuck.close()
    assert "Traceback" not in b.output()


def test_a_redis_outage_is_an_error_frame_and_the_server_serves_on(sockets):
    redis = RedisServer()  # its own: it is killed
    server = Server({"LSTMX_REDIS_URL": redis.url})
    try:
        code = server.request("POST", "/api/classes")[1]["code"]
        student = server.ws(sockets, code, {"type": "hello", "role": "student"})
        recv(student, "welcome")
        redis.stop()
        error = recv(student, "error")
        assert "Redis" in error["detail"] and "unreachable" in error["detail"]
        with pytest.raises(ConnectionClosed) as closed:
            student.recv(timeout=TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
        status, answer = server.request("POST", "/api/classes")
        assert status == 503 and "unreachable" in answer["detail"][0]["msg"]
        again = server.ws(sockets, code, {"type": "hello", "role": "student"})
        assert "unreachable" in recv(again, "error")["detail"]
        assert server.request("GET", "/healthz")[0] == 200
        trace = {"model": {"hidden_size": 2}, "input": {"sequence": [[1.0], [0.5]]}}
        assert server.request("POST", "/api/trace", trace)[0] == 200
        assert server.request("GET", "/")[0] == 200
        assert "Traceback" not in server.output()
    finally:
        server.stop()
        redis.stop()
