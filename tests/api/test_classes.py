"""Classroom mode (issue 10): POST /api/classes, the QR code, WS /ws/class/{code}, the model
store. Every test runs against the in-process hub and against the Redis hub (a real
redis-server; skipped with a message when it is missing, a failure under CI)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import time
from contextlib import ExitStack, contextmanager

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from redis_support import redis_server  # noqa: F401 - a fixture
from starlette.websockets import WebSocketDisconnect

from app.classes import ALPHABET
from app.classes.protocol import Close, Subscriber
from app.main import create_app
from app.settings import get_settings


@pytest.fixture(params=["memory", "redis"])
def make_client(request, monkeypatch):
    """make_client(LSTMX_NAME="value", ...) -> a TestClient of a new app with those settings."""
    stack = ExitStack()
    base = {"LSTMX_REDIS_URL": ""}
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        server.flush()
        base["LSTMX_REDIS_URL"] = server.url

    def make(**env: str) -> TestClient:
        for name, value in {**base, **env}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return stack.enter_context(TestClient(create_app()))

    yield make
    stack.close()
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def client(make_client):
    return make_client()


def new_class(c: TestClient) -> tuple[str, str]:
    r = c.post("/api/classes")
    assert r.status_code == 201, r.text
    return r.json()["code"], r.json()["token"]


@contextmanager
def joined(c: TestClient, code: str, token: str | None = None, member: str | None = None):
    """A socket that said hello (as the teacher when a token is given; as the student with
    this tab's member id when one is); yields (ws, welcome)."""
    with c.websocket_connect(f"/ws/class/{code}") as ws:
        hello = {"type": "hello", "role": "teacher" if token else "student"}
        if token:
            hello["token"] = token
        if member:
            hello["member"] = member
        ws.send_json(hello)
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome", welcome
        yield ws, welcome


def next_of(ws, kind: str, limit: int = 50) -> dict:
    """The next frame of this type, skipping others (member counts, tallies)."""
    for _ in range(limit):
        frame = ws.receive_json()
        if frame["type"] == kind:
            return frame
    raise AssertionError(f"no {kind!r} frame in {limit}")


def states_until(ws, url: str, limit: int = 200) -> list[dict]:
    """The state frames up to the one showing `url`. A socket that is behind skips a state
    when a newer one is queued for it, so some seq may be missing, never out of order."""
    states: list[dict] = []
    while not states or states[-1]["url"] != url:
        states.append(next_of(ws, "state", limit))
    return states


def refused(c: TestClient, code: str, hello: dict) -> tuple[dict, int]:
    """The error frame and the close code of a refused hello."""
    with c.websocket_connect(f"/ws/class/{code}") as ws:
        ws.send_json(hello)
        frame = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    return frame, closed.value.code


def test_a_class_has_a_short_unambiguous_code_a_secret_token_and_a_tokenless_join_url(client):
    answers = [client.post("/api/classes") for _ in range(2)]
    assert all(r.status_code == 201 for r in answers)
    (a, b) = (r.json() for r in answers)
    for made in (a, b):
        assert re.fullmatch(f"[{ALPHABET}]{{4,6}}", made["code"])
        assert not set(made["code"]) & set("0O1IL")
        assert len(base64.urlsafe_b64decode(made["token"] + "==")) * 8 >= 128
        assert made["join_url"] == f"/c/{made['code']}"
        assert made["token"] not in made["join_url"]
    assert a["code"] != b["code"] and a["token"] != b["token"]


def test_teacher_states_are_numbered_by_the_server_and_relayed_in_order(client):
    code, token = new_class(client)
    with joined(client, code, token) as (teacher, _), joined(client, code) as (student, _):
        for k in range(20):  # a "seq" of the teacher's own is ignored
            teacher.send_json({"type": "state", "url": f"/?t={k}", "seq": 999, "playing": True})
        got = states_until(student, "/?t=19")
        echoed = states_until(teacher, "/?t=19")
    for states in (got, echoed):
        seqs = [f["seq"] for f in states]
        assert seqs == sorted(set(seqs)) and seqs[-1] == 20  # increasing, the last one last
        assert all(f["url"] == f"/?t={f['seq'] - 1}" for f in states)  # seq numbers the sends
        assert all(f["playing"] is True and f["mode"] == "follow" for f in states)


def test_a_late_joiner_gets_the_current_state_poll_and_counts_in_its_welcome(client):
    code, token = new_class(client)
    with joined(client, code, token) as (teacher, welcome):
        assert welcome["state"]["seq"] == 0 and welcome["state"]["url"] is None
        teacher.send_json({"type": "state", "url": "/compare?T=200&k=40", "playing": True})
        teacher.send_json({"type": "state", "mode": "explore", "playing": False})
        teacher.send_json({"type": "poll", "question": "Open?", "choices": ["no", "yes"]})
        next_of(teacher, "poll")
        with joined(client, code) as (_, first), joined(client, code) as (_, late):
            pass
    assert late["state"] == {"type": "state", "seq": 2, "url": "/compare?T=200&k=40",
                             "mode": "explore", "playing": False, "model_key": None}  # fmt: skip
    assert late["poll"]["question"] == "Open?" and late["poll"]["choices"] == ["no", "yes"]
    assert (first["members"], late["members"]) == (1, 2) and late["following"] == 2
    assert "tally" not in late and late["role"] == "student"


def test_a_student_cannot_drive_and_a_teacher_cannot_answer(client):
    code, token = new_class(client)
    with joined(client, code, token) as (teacher, _), joined(client, code) as (student, _):
        for msg in ({"type": "state", "url": "/"}, {"type": "recall"}, {"type": "end"},
                    {"type": "poll", "question": "q", "choices": ["a", "b"]},
                    {"type": "close_poll"}):  # fmt: skip
            student.send_json(msg)
            error = student.receive_json()
            assert error["type"] == "error" and "only the teacher" in error["detail"]
        teacher.send_json({"type": "status", "following": False})
        assert "only a student" in next_of(teacher, "error")["detail"]
        teacher.send_json({"type": "state", "url": "/train"})
        state = next_of(student, "state")
    assert state["seq"] == 1 and state["url"] == "/train"  # nothing the student sent applied


def test_the_teachers_training_frames_reach_the_students_as_sent_and_change_no_state(client):
    code, token = new_class(client)
    frames = [{"cell": "lstm", "type": "start", "task": {"name": "adding", "metric": "mse"}},
              {"cell": "lstm", "type": "progress", "step": 10, "steps": 100, "loss": 0.25,
               "grad_norm": None, "steps_per_s": 150.0, "eta_s": 0.6},
              {"cell": "gru", "type": "eval", "step": 10, "metric": {"mse": 0.2}}]  # fmt: skip
    with (
        joined(client, code, token) as (teacher, _),
        joined(client, code) as (a, _),
        joined(client, code) as (b, _),
    ):
        teacher.send_json({"type": "relay", "run": "r1", "frames": frames})
        for student in (a, b):
            assert next_of(student, "relay") == {"type": "relay", "run": "r1", "frames": frames}
        snap = [{"cell": "lstm", "type": "snapshot", "step": 10, "key": "a" * 64}]
        teacher.send_json({"type": "relay", "run": "r1", "frames": snap})  # a snapshot, by key
        assert next_of(a, "relay")["frames"] == snap
        teacher.send_json({"type": "relay", "run": "r1", "frames": frames[:1], "replay": 2})
        assert next_of(a, "relay")["replay"] == 2  # part 2 of the run so far, for a late joiner
        a.send_json({"type": "relay", "run": "r2", "frames": frames})  # students cannot relay
        assert "only the teacher" in next_of(a, "error")["detail"]
        for bad in ({"type": "relay", "run": "r1", "frames": []},
                    {"type": "relay", "run": "R 1", "frames": frames},
                    {"type": "relay", "run": "r1", "frames": [{"cell": "rnn", "type": "snapshot"}]},
                    {"type": "relay", "run": "r1", "frames": [{"cell": "rnn", "type": "snapshot",
                                                              "key": "f" * 64, "trace": {}}]},
                    {"type": "relay", "run": "r1", "frames": [{"cell": "cnn", "type": "eval"}]},
                    {"type": "relay", "run": "r1", "frames": [frames[0]] * 65},
                    {"type": "relay", "run": "r1", "frames": frames, "replay": 0}):  # fmt: skip
            teacher.send_json(bad)
            assert next_of(teacher, "error")["detail"], bad
        teacher.send_json({"type": "state", "url": "/train"})
        state = next_of(b, "state")
    assert state["seq"] == 1  # relays are not states
    with joined(client, code) as (_, welcome):
        assert welcome["state"]["url"] == "/train"  # and are not kept for late joiners
        assert "relay" not in json.dumps(welcome)


def test_a_wrong_or_missing_token_is_refused_with_1008(client):
    code, token = new_class(client)
    for hello in ({"type": "hello", "role": "teacher", "token": token[:-1] + "x"},
                  {"type": "hello", "role": "teacher"}):  # fmt: skip
        frame, close = refused(client, code, hello)
        assert frame["type"] == "error" and "token" in frame["detail"] and close == 1008
    with joined(client, code, token) as (_, welcome):
        assert welcome["role"] == "teacher"


def test_an_unknown_code_is_refused_with_1008(client):
    code, _ = new_class(client)
    unknown = next(c for c in ("ABCDE", "ZZZZZ") if c != code)
    for bad in (unknown, "0OIL1", "x" * 40):
        frame, close = refused(client, bad, {"type": "hello", "role": "student"})
        assert frame["type"] == "error" and "unknown class code" in frame["detail"]
        assert close == 1008
    assert client.get(f"/api/classes/{unknown}").status_code == 404
    known = client.get(f"/api/classes/{code.lower()}").json()
    assert known == {"code": code, "join_link": f"http://testserver/c/{code}", "reachable": False}


def test_a_bad_hello_is_refused_with_1008(client):
    code, _ = new_class(client)
    for hello in ({"type": "hello", "role": "admin"}, {"type": "state"}, {"role": "student"}):
        frame, close = refused(client, code, hello)
        assert frame["type"] == "error" and isinstance(frame["detail"], list) and close == 1008


def test_malformed_messages_get_an_error_frame_and_change_nothing(client):
    code, token = new_class(client)
    bad = ["{not json", json.dumps({"type": "dance"}), json.dumps([1, 2]),
           json.dumps({"type": "state", "url": "/", "colour": "red"}),  # an extra field
           json.dumps({"type": "state", "playing": "yes"}),  # no coercion
           json.dumps({"type": "state", "url": "https://elsewhere.example/"}),
           json.dumps({"type": "state", "url": "//elsewhere.example/"}),
           json.dumps({"type": "state", "model_key": "not-a-key"}),
           json.dumps({"type": "poll", "question": "q", "choices": ["only one"]}),
           json.dumps({"type": "poll", "question": "q", "choices": ["c"] * 9})]  # fmt: skip
    with joined(client, code, token) as (teacher, _), joined(client, code) as (student, _):
        next_of(teacher, "members")
        for raw in bad:
            teacher.send_text(raw)
            frame = teacher.receive_json()
            assert frame["type"] == "error" and frame["detail"], raw
        teacher.send_bytes(b'{"type": "recall"}')
        assert "text" in teacher.receive_json()["detail"]
        student.send_json({"type": "answer", "poll": 1, "choice": 0})  # no poll is open
        assert "not open" in student.receive_json()["detail"]
        teacher.send_json({"type": "state", "url": "/compare"})  # the sockets stayed open
        state = next_of(student, "state")
    assert state["seq"] == 1 and state["url"] == "/compare"


def test_an_oversized_message_is_refused_naming_the_limit(make_client):
    c = make_client(LSTMX_CLASS_MESSAGE_BYTES="300")
    code, token = new_class(c)
    with joined(c, code, token) as (teacher, _):
        teacher.send_json({"type": "state", "url": "/?" + "a" * 400})
        error = teacher.receive_json()
        assert error["type"] == "error" and "above the limit of 300" in error["detail"]
        teacher.send_json({"type": "state", "url": "/?small"})
        assert next_of(teacher, "state")["seq"] == 1


def test_a_socket_sending_too_fast_has_the_excess_dropped(make_client):
    c = make_client(LSTMX_CLASS_MESSAGES_PER_SECOND="5")
    code, token = new_class(c)
    with joined(c, code, token) as (teacher, _):
        for k in range(30):
            teacher.send_json({"type": "state", "url": f"/?t={k}"})
        time.sleep(1.2)  # the bucket refills: the next message passes
        teacher.send_json({"type": "state", "url": "/?last"})
        frames = []
        while not frames or frames[-1].get("url") != "/?last":
            frames.append(teacher.receive_json())
    errors = [f for f in frames if f["type"] == "error"]
    accepted = frames[-1]["seq"] - 1  # the server numbered only the states it accepted
    assert len(errors) + accepted == 30 and len(errors) >= 10
    assert all("5 messages/s" in e["detail"] for e in errors)


def test_guessing_codes_locks_the_address_out_even_for_a_real_code(make_client):
    c = make_client(LSTMX_CLASS_CODE_MISSES="3", LSTMX_CLASS_MISS_WINDOW="60")
    code, _ = new_class(c)
    guesses = [g for g in ("AAAA", "BBBB", "CCCC") if g != code]
    for guess in guesses:
        refused(c, guess, {"type": "hello", "role": "student"})
    assert c.get("/api/classes/DDDD").status_code in (404, 429)
    frame, close = refused(c, code, {"type": "hello", "role": "student"})
    assert "too many unknown class codes" in frame["detail"] and close == 1008
    r = c.get(f"/api/classes/{code}/qr.svg")
    assert r.status_code == 429 and r.headers["retry-after"] == "60"


def test_the_class_and_member_limits_are_clear(make_client):
    c = make_client(LSTMX_MAX_CLASSES="2", LSTMX_MAX_CLASS_MEMBERS="1")
    code, _ = new_class(c)
    new_class(c)
    r = c.post("/api/classes")
    assert r.status_code == 503 and "limit of 2 classes" in r.json()["detail"][0]["msg"]
    with joined(c, code):
        frame, close = refused(c, code, {"type": "hello", "role": "student"})
    assert "at most 1 students" in frame["detail"] and close == 1008


def test_one_answer_per_student_per_poll_and_a_new_answer_replaces_the_old(client):
    code, token = new_class(client)
    with joined(client, code, token) as (teacher, _), joined(client, code) as (a, _):
        with joined(client, code) as (b, _):
            teacher.send_json({"type": "poll", "question": "f at t=13?",
                               "choices": ["closed", "partly open", "open"]})  # fmt: skip
            poll = next_of(a, "poll")
            assert next_of(b, "poll") == poll and poll["choices"][2] == "open"
            tally = next_of(teacher, "tally")
            assert tally["counts"] == [0, 0, 0] and tally["members"] == 2
            a.send_json({"type": "answer", "poll": poll["poll"], "choice": 0})
            assert a.receive_json() == {"type": "answered", "poll": poll["poll"], "choice": 0}
            a.send_json({"type": "answer", "poll": poll["poll"], "choice": 2})
            b.send_json({"type": "answer", "poll": poll["poll"], "choice": 2})
            for ws in (a, b):
                next_of(ws, "answered")
            tallies = [next_of(teacher, "tally") for _ in range(3)]
            a.send_json({"type": "answer", "poll": poll["poll"], "choice": 3})
            assert "choice" in a.receive_json()["detail"]
            teacher.send_json({"type": "close_poll"})
            closed = next_of(b, "poll_closed")
    assert tallies[-1]["counts"] == [0, 0, 2] and tallies[-1]["answered"] == 2
    assert closed["counts"] == [0, 0, 2] and closed["members"] == 2


def test_a_page_change_mid_poll_keeps_the_students_answer_and_counts_them_once(client):
    """A student's tab keeps its member id across pages: the new page's socket may open before
    the old one closes, and either way the student is one member with one answer."""
    code, token = new_class(client)
    me = "ab" * 16
    with joined(client, code, token) as (teacher, _), joined(client, code) as (other, _):
        teacher.send_json({"type": "poll", "question": "q", "choices": ["a", "b"]})
        poll = next_of(other, "poll")["poll"]
        with joined(client, code, member=me) as (first_page, welcome):
            assert welcome["poll"]["poll"] == poll and welcome["answer"] is None
            first_page.send_json({"type": "answer", "poll": poll, "choice": 1})
            next_of(first_page, "answered")
            while (t := next_of(teacher, "tally"))["answered"] < 1:
                pass
            with joined(client, code, member=me) as (second_page, welcome):  # overlapping sockets
                assert welcome["answer"] == 1 and welcome["members"] == 2
            assert next_of(teacher, "members")["members"] == 2  # still two students
        # the student left (both sockets closed): their vote stays, they are not a member
        while (t := next_of(teacher, "tally"))["members"] != 1:
            pass
        assert t["counts"] == [0, 1] and t["answered"] == 1
        with joined(client, code, member=me) as (back, welcome):
            assert welcome["answer"] == 1
            back.send_json({"type": "answer", "poll": poll, "choice": 0})  # replaces, once
            next_of(back, "answered")
            while (t := next_of(teacher, "tally"))["counts"] != [1, 0]:
                pass
            assert t["answered"] == 1 and t["members"] == 2
        teacher.send_json({"type": "close_poll"})
        closed = next_of(other, "poll_closed")
    assert closed["counts"] == [1, 0] and closed["answered"] == 1


def test_a_member_id_must_be_32_hex_digits(client):
    code, _ = new_class(client)
    for member in ("short", "AB" * 16, "ab" * 17, 12):
        frame, close = refused(client, code, {"type": "hello", "role": "student", "member": member})
        assert frame["type"] == "error" and close == 1008, member


def test_explore_then_bring_everyone_back(client):
    code, token = new_class(client)
    with joined(client, code, token) as (teacher, _), joined(client, code) as (a, _):
        with joined(client, code) as (b, _):
            teacher.send_json({"type": "state", "url": "/?t=5", "mode": "explore"})
            assert next_of(a, "state")["mode"] == next_of(b, "state")["mode"] == "explore"
            a.send_json({"type": "status", "following": False})
            while (m := next_of(teacher, "members"))["exploring"] != 1:
                pass
            assert m == {"type": "members", "members": 2, "following": 1, "exploring": 1}
            teacher.send_json({"type": "recall"})
            back = next_of(a, "state")
            assert next_of(b, "state") == back
            while (m := next_of(teacher, "members"))["exploring"] != 0:
                pass
    assert back["recall"] is True and back["mode"] == "follow" and back["seq"] == 2
    assert back["url"] == "/?t=5" and m["following"] == 2


def test_ending_the_class_closes_every_socket_and_forgets_the_code(client):
    code, token = new_class(client)
    with joined(client, code, token) as (teacher, _), joined(client, code) as (student, _):
        teacher.send_json({"type": "end"})
        ended = next_of(student, "ended")
        with pytest.raises(WebSocketDisconnect) as closed:
            student.receive_json()
        assert next_of(teacher, "ended") == ended
    assert closed.value.code == 1000 and "ended" in ended["reason"]
    assert client.get(f"/api/classes/{code}").status_code == 404
    frame, close = refused(client, code, {"type": "hello", "role": "teacher", "token": token})
    assert close == 1008


def test_an_idle_class_expires(make_client):
    c = make_client(LSTMX_CLASS_IDLE_SECONDS="0.4")
    code, _ = new_class(c)
    with joined(c, code) as (student, _):  # no teacher socket keeps it alive
        ended = next_of(student, "ended")
    assert "idle" in ended["reason"]
    assert c.get(f"/api/classes/{code}").status_code == 404
    kept, token = new_class(c)
    with joined(c, kept, token):  # a teacher socket keeps its class alive
        time.sleep(1.0)
        assert c.get(f"/api/classes/{kept}").status_code == 200


def test_a_teacher_who_reconnects_keeps_the_class(client):
    code, token = new_class(client)
    with joined(client, code) as (student, _):
        with joined(client, code, token) as (teacher, _):
            teacher.send_json({"type": "state", "url": "/?t=7"})
            teacher.send_json({"type": "poll", "question": "q", "choices": ["a", "b"]})
            next_of(teacher, "tally")
        with joined(client, code, token) as (teacher, again):
            teacher.send_json({"type": "state", "url": "/?t=8"})
            assert states_until(student, "/?t=8")[-1]["seq"] == 2
    assert again["state"]["url"] == "/?t=7" and again["members"] == 1
    assert again["tally"]["counts"] == [0, 0] and again["poll"]["question"] == "q"


def weights(H: int = 2, D: int = 1, scale: float = 0.5) -> dict:
    rng = np.random.default_rng(0)
    shapes = {"weight_ih_l0": (H, D), "weight_hh_l0": (H, H), "bias_ih_l0": (H,),
              "bias_hh_l0": (H,)}  # fmt: skip
    return {name: (scale * rng.standard_normal(s)).tolist() for name, s in shapes.items()}


def test_a_model_travels_with_the_class_by_its_content_hash(client):
    model = {"cell": "rnn", "hidden_size": 2, "input_size": 1, "weights": weights()}
    r = client.post("/api/models", json=model)
    assert r.status_code == 200, r.text
    key = r.json()["key"]
    assert re.fullmatch("[0-9a-f]{64}", key)
    reordered = dict(reversed(list(model.items())))
    assert client.post("/api/models", json=reordered).json()["key"] == key
    other = client.post("/api/models", json={**model, "weights": weights(scale=0.6)})
    assert other.json()["key"] != key
    back = client.get(f"/api/models/{key}").json()
    assert back["weights"] == model["weights"] and back["cell"] == "rnn"
    assert hashlib.sha256(orjson.dumps(back, option=orjson.OPT_SORT_KEYS)).hexdigest() == key
    code, token = new_class(client)
    with joined(client, code, token) as (teacher, _), joined(client, code) as (student, _):
        teacher.send_json({"type": "state", "url": "/?model=stored", "model_key": key})
        assert next_of(student, "state")["model_key"] == key
        teacher.send_json({"type": "state", "model_key": None})
        assert next_of(student, "state")["model_key"] is None


def test_an_unknown_or_dropped_model_is_expired_and_bad_models_are_refused(make_client):
    c = make_client(LSTMX_MODEL_STORE_BYTES="800")  # one small model (~470 bytes), not two
    r = c.get("/api/models/" + "0" * 64)
    assert r.status_code == 404 and "expired" in r.json()["detail"][0]["msg"]
    first = c.post("/api/models", json={"cell": "rnn", "hidden_size": 2, "weights": weights()})
    second = c.post("/api/models", json={"cell": "rnn", "hidden_size": 2,
                                         "weights": weights(scale=0.7)})  # fmt: skip
    assert first.status_code == second.status_code == 200
    if get_settings().redis_url == "":  # in-process: least recently used goes first
        assert c.get(f"/api/models/{first.json()['key']}").status_code == 404
    assert c.get(f"/api/models/{second.json()['key']}").status_code == 200
    bad = {"cell": "rnn", "hidden_size": 3, "weights": weights()}  # shapes say H = 2
    assert c.post("/api/models", json=bad).status_code == 422
    assert c.post("/api/models", json={"cell": "rnn"}).status_code == 422  # no weights
    big = c.post("/api/models", json={"cell": "rnn", "hidden_size": 8, "weights": weights(8)})
    assert big.status_code == 413 and "above the store" in big.json()["detail"][0]["msg"]


def svg_modules(svg: str) -> np.ndarray:
    """Rasterise segno's SVG (one path of horizontal 1-module strokes) to a 0/1 matrix."""
    size = int(re.search(r'd="M0 0h(\d+)v', svg).group(1))
    path = re.search(r'class="qrline"[^>]*d="([^"]+)"', svg).group(1)
    dark = np.zeros((size, size), dtype=np.uint8)
    x = y = 0.0
    for op, a, b in re.findall(r"([MmHh])(-?[\d.]+)(?:[ ,](-?[\d.]+))?", path):
        if op in "Mm":
            x, y = (float(a), float(b)) if op == "M" else (x + float(a), y + float(b))
        else:
            end = x + float(a) if op == "h" else float(a)
            dark[int(y), int(x) : int(end)] = 1
            x = end
    return dark


def test_the_qr_code_is_an_svg_of_the_absolute_join_link(client):
    zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (requirements-dev.txt)")
    code, token = new_class(client)
    r = client.get(f"/api/classes/{code.lower()}/qr.svg")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    svg = r.text
    assert svg.startswith("<svg") and token not in svg
    image = np.kron(1 - svg_modules(svg), np.ones((8, 8), dtype=np.uint8)) * 255
    found = zxingcpp.read_barcodes(image)
    assert [b.text for b in found] == [f"http://testserver/c/{code}"]
    assert client.get("/api/classes/ZZZZ/qr.svg").status_code == 404


def run(coro):
    return asyncio.run(coro)


def test_a_socket_behind_skips_only_stale_states_and_keeps_the_order_of_the_rest():
    async def scenario():
        sub = Subscriber("student")
        sub.start(0, b"welcome")
        for rev, (aud, data) in enumerate([("v", b"s1"), ("a", b"poll"), ("v", b"s2"),
                                           ("a", b"recall"), ("v", b"s3"), ("t", b"tally"),
                                           ("v", b"s4")], 1):  # fmt: skip
            sub.deliver(aud, rev, data)
        sent = [await sub.next() for _ in range(4)]
        sub.deliver("x", 9, b"ended")
        return sent, await sub.next(), sub.queue.empty()

    sent, last, empty = run(scenario())
    assert sent == [b"welcome", b"poll", b"recall", b"s4"]  # no tally: teacher only
    assert last == Close(1000, b"ended") and empty


def test_frames_before_the_welcome_are_held_and_those_in_the_snapshot_dropped():
    async def scenario():
        sub = Subscriber("teacher")
        sub.deliver("t", 4, b"members-old")  # published before the join's snapshot (rev 5)
        sub.deliver("t", 6, b"members-new")
        sub.start(5, b"welcome")
        return [await sub.next() for _ in range(2)]

    assert run(scenario()) == [b"welcome", b"members-new"]


def test_a_socket_that_falls_too_far_behind_is_closed_not_waited_for():
    async def scenario():
        sub = Subscriber("student", limit=5)
        sub.start(0, b"welcome")
        for rev in range(1, 20):
            sub.deliver("a", rev, b"poll")
        items = [await sub.next() for _ in range(sub.queue.qsize())]
        return items, sub.closed

    items, closed = run(scenario())
    assert closed and isinstance(items[-1], Close) and items[-1].code == 1008
    assert "too slow" in items[-1].reason and len(items) <= 6


def test_the_join_link_names_the_lan_address_when_the_teacher_browses_via_loopback(monkeypatch):
    import app.api.routes.classes as routes

    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as c:
        code = c.post("/api/classes").json()["code"]
        monkeypatch.setattr(routes, "lan_address", lambda: "192.168.1.20")
        assert c.get(f"/api/classes/{code}").json()["join_link"] == (
            f"http://192.168.1.20:8000/c/{code}"
        )
        monkeypatch.setattr(routes, "lan_address", lambda: None)  # no network but loopback
        assert c.get(f"/api/classes/{code}").json()["join_link"] == (
            f"http://127.0.0.1:8000/c/{code}"
        )
