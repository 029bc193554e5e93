"""Class roles over the socket, on both hubs: one tab of the teacher's browser drives, the
others are viewers until one takes over; a poll names what it asks about (hide); a state names
the page's model by key (model_key); the panel learns whether the room can reach the server."""

from __future__ import annotations

import asyncio
import socket
from contextlib import contextmanager

from redis_support import redis_server  # noqa: F401 - a fixture
from test_classes import make_client, new_class, next_of  # noqa: F401 - a fixture

from app.api.routes.classes import reachable

TAB_A, TAB_B = "a" * 32, "b" * 32


@contextmanager
def teacher_tab(c, code, token, tab):
    with c.websocket_connect(f"/ws/class/{code}") as ws:
        ws.send_json({"type": "hello", "role": "teacher", "token": token, "tab": tab})
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome", welcome
        yield ws, welcome


@contextmanager
def student(c, code):
    with c.websocket_connect(f"/ws/class/{code}") as ws:
        ws.send_json({"type": "hello", "role": "student"})
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome", welcome
        yield ws, welcome


def test_a_second_tab_is_a_viewer_until_it_takes_over(make_client):  # noqa: F811 - the fixture
    client = make_client()
    code, token = new_class(client)
    with teacher_tab(client, code, token, TAB_A) as (a, wa), student(client, code) as (s, _):
        assert wa["role"] == "teacher" and wa["driver"] == TAB_A
        a.send_json({"type": "state", "url": "/?t=1"})
        assert next_of(s, "state")["url"] == "/?t=1"
        with teacher_tab(client, code, token, TAB_B) as (b, wb):
            assert wb["role"] == "viewer" and wb["driver"] == TAB_A
            assert wb["state"]["url"] == "/?t=1"  # a viewer sees where the class is
            b.send_json({"type": "state", "url": "/compare"})
            refusal = next_of(b, "error")
            assert "viewer" in refusal["detail"] and "take it over" in refusal["detail"]
            for kind in ({"type": "recall"}, {"type": "end"}, {"type": "close_poll"}):
                b.send_json(kind)
                assert "viewer" in next_of(b, "error")["detail"]
            b.send_json({"type": "take_over"})
            assert next_of(b, "driver")["tab"] == TAB_B
            assert next_of(a, "driver")["tab"] == TAB_B  # the old tab learns it is a viewer
            b.send_json({"type": "state", "url": "/compare"})
            assert next_of(s, "state")["url"] == "/compare"  # the other state never arrived
            a.send_json({"type": "state", "url": "/train"})
            assert "viewer" in next_of(a, "error")["detail"]
        # the driving tab is a tab, not a socket: B's next page drives, A's does not
        with teacher_tab(client, code, token, TAB_B) as (_, again):
            assert again["role"] == "teacher"


def test_a_student_cannot_take_over_and_a_tabless_teacher_drives_as_before(make_client):  # noqa: F811 - the fixture
    client = make_client()
    code, token = new_class(client)
    with teacher_tab(client, code, token, TAB_A), student(client, code) as (s, _):
        s.send_json({"type": "take_over"})
        assert "only the teacher" in next_of(s, "error")["detail"]
        with client.websocket_connect(f"/ws/class/{code}") as plain:
            plain.send_json({"type": "hello", "role": "teacher", "token": token})
            assert plain.receive_json()["role"] == "teacher"
            plain.send_json({"type": "take_over"})
            assert "tab" in next_of(plain, "error")["detail"]
            plain.send_json({"type": "state", "url": "/?t=4"})
            assert next_of(s, "state")["url"] == "/?t=4"


def test_a_poll_says_what_to_hide_and_a_state_names_its_model_by_key(make_client):  # noqa: F811 - the fixture
    client = make_client()
    code, token = new_class(client)
    key = "0" * 64
    with teacher_tab(client, code, token, TAB_A) as (t, _), student(client, code) as (s, _):
        t.send_json({"type": "poll", "question": "Is i open?", "choices": ["no", "yes"],
                     "hide": ["i"]})  # fmt: skip
        assert next_of(s, "poll")["hide"] == ["i"]
        t.send_json({"type": "poll", "question": "Any?", "choices": ["no", "yes"]})
        assert "hide" not in next_of(s, "poll")  # both hubs leave an empty list out
        t.send_json({"type": "poll", "question": "x", "choices": ["a", "b"], "hide": ["q"]})
        assert "hide" in str(next_of(t, "error")["detail"])
        t.send_json({"type": "state", "url": "/?trained=1", "model_key": key})
        assert next_of(s, "state")["model_key"] == key
    with student(client, code) as (_, late):  # a late joiner has it in the welcome
        assert late["state"]["model_key"] == key


def test_reachable_is_false_on_loopback_and_true_where_the_server_listens():
    async def probe(bind: str, ask: str) -> bool:
        server = await asyncio.start_server(lambda r, w: w.close(), bind, 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await reachable(f"http://{ask}:{port}/c/ABCDE")

    lan = lan_ip()
    assert asyncio.run(probe("127.0.0.1", "127.0.0.1")) is False  # loopback: never
    if lan is not None:
        assert asyncio.run(probe("127.0.0.1", lan)) is False  # bound to loopback only
        assert asyncio.run(probe("0.0.0.0", lan)) is True  # noqa: S104 - all addresses


def lan_ip() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") else address


def test_the_teacher_keeps_a_training_snapshot_for_the_class_by_key(make_client):  # noqa: F811
    client = make_client()
    code, token = new_class(client)
    rows = [[0.5, None], [0.25, 1.0]]
    snap = {"cell": "lstm", "steps": 2, "hidden_size": 2, "num_layers": 1,
            "gates": ["i", "f", "g", "o"], "inputs": [[1.0], [0.0]], "outputs": [0.1, 0.2],
            "layers": [{"gates": {g: rows for g in "ifgo"}, "c": rows, "h": rows}]}  # fmt: skip
    url = f"/api/classes/{code}/snapshots"
    r = client.post(url, json=snap, headers={"X-Class-Token": token})
    assert r.status_code == 200, r.text
    kept = client.get(f"/api/models/{r.json()['key']}").json()
    assert kept["layers"][0]["gates"]["f"] == rows and kept["inputs"] == [[1.0], [0.0]]
    assert "outputs" not in kept  # only what a Train page draws is kept
    assert client.post(url, json=snap, headers={"X-Class-Token": "x"}).status_code == 403
    assert client.post(url, json=snap).status_code == 403
    assert (
        client.post(url, json={**snap, "cell": "cnn"}, headers={"X-Class-Token": token}).status_code
        == 422
    )
    other = next(c for c in ("ABCDE", "ZZZZZ") if c != code)
    assert client.post(f"/api/classes/{other}/snapshots", json=snap,
                       headers={"X-Class-Token": token}).status_code == 404  # fmt: skip
