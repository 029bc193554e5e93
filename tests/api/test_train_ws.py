"""WS /ws/train: validation, the frame sequence, stop, disconnect, the queue, the final model."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.main import create_app
from app.settings import get_settings


@pytest.fixture
def client():
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def setting(monkeypatch):
    """Set one LSTMX_ setting for a test (Settings are read once and cached)."""

    def put(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield put
    monkeypatch.undo()
    get_settings.cache_clear()


def body(task="adding", length=10, steps=40, eval_every=20, cell="lstm", hidden=4, **train_kw):
    return {
        "task": {"name": task, "length": length, "seed": 0},
        "model": {"cell": cell, "hidden_size": hidden, "num_layers": 1, "variant": "standard",
                  "init": {"seed": 0, "forget_bias": 1.0}},
        "train": {"steps": steps, "batch_size": 8, "optimizer": "adam", "lr": 0.01, "clip": 1.0,
                  "seed": 0, "eval_every": eval_every, **train_kw},
    }  # fmt: skip


def frames_until_done(ws, limit=10_000):
    frames = []
    for _ in range(limit):
        frame = ws.receive_json()
        frames.append(frame)
        if frame["type"] in ("done", "error"):
            return frames
    raise AssertionError("no done frame")


def test_training_streams_start_progress_eval_snapshot_and_done(client):
    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(json.dumps(body(steps=40, eval_every=20)))
        frames = frames_until_done(ws)
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert frames[0]["task"]["baseline_loss"] == pytest.approx(1 / 6)
    progress = [f for f in frames if f["type"] == "progress"]
    steps = [f["step"] for f in progress]
    assert steps == sorted(steps) and steps[-1] == 40 and len(steps) >= 2
    for f in progress:
        assert f["loss"] > 0 and f["grad_norm"] > 0 and f["steps_per_s"] > 0 and f["eta_s"] >= 0
    assert [f["step"] for f in frames if f["type"] == "eval"] == [0, 20, 40]
    snaps = [f for f in frames if f["type"] == "snapshot"]
    assert [s["step"] for s in snaps] == [0, 20, 40]
    gates = snaps[-1]["trace"]["layers"][0]["gates"]
    assert set(gates) == {"i", "f", "g", "o"} and len(gates["f"]) == 10 and len(gates["f"][0]) == 4
    done = frames[-1]
    assert done["step"] == 40 and not done["stopped"] and "mse" in done["metric"]


def test_the_final_model_opens_in_api_trace_with_its_readout(client):
    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(json.dumps(body(task="latch", steps=10, eval_every=10, cell="gru")))
        model = frames_until_done(ws)[-1]["model"]
    assert model["cell"] == "gru" and model["output_size"] == 2 and model["input_size"] == 1
    assert len(model["weights"]["readout.weight"]) == 2
    r = client.post("/api/trace", json={"model": model, "input": {"task": {"name": "latch",
                                        "length": 12, "seed": 1}}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert len(r.json()["outputs"][0]) == 2


def start_long_run(ws) -> None:
    """Start a run far longer than any test waits, and wait for its first progress frame."""
    ws.send_text(json.dumps(body(steps=20_000, length=10, eval_every=1000)))
    while ws.receive_json()["type"] != "progress":
        pass


def test_stop_ends_early_with_a_done_frame_and_the_model(client):
    with client.websocket_connect("/ws/train") as ws:
        start_long_run(ws)
        ws.send_text(json.dumps({"type": "stop"}))
        frames = frames_until_done(ws)
    done = frames[-1]
    assert done["type"] == "done" and done["stopped"] and done["step"] < 20_000
    assert "mse" in done["metric"] and "weights" in done["model"]


def test_pause_holds_the_run_and_resume_ends_exactly_as_an_uninterrupted_run(client):
    settings = body(steps=300, length=10, eval_every=300)
    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(json.dumps(settings))
        straight = frames_until_done(ws)[-1]["model"]["weights"]
    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(json.dumps(settings))
        while ws.receive_json()["type"] != "progress":
            pass
        ws.send_text(json.dumps({"type": "pause"}))
        frame = ws.receive_json()
        while frame["type"] != "paused":  # frames already under way arrive first
            frame = ws.receive_json()
        held_at = frame["step"]
        assert 0 < held_at < 300
        time.sleep(0.3)  # nothing trains while paused
        ws.send_text(json.dumps({"type": "resume"}))
        resumed = ws.receive_json()
        assert resumed == {"type": "resumed", "step": held_at}
        frames = frames_until_done(ws)
    done = frames[-1]
    assert done["step"] == 300 and not done["stopped"]
    assert done["model"]["weights"] == straight  # same optimiser state, same batches


def test_stop_while_paused_ends_with_done(client):
    with client.websocket_connect("/ws/train") as ws:
        start_long_run(ws)
        ws.send_text(json.dumps({"type": "pause"}))
        while ws.receive_json()["type"] != "paused":
            pass
        ws.send_text(json.dumps({"type": "stop"}))
        done = frames_until_done(ws)[-1]
    assert done["type"] == "done" and done["stopped"]


def test_a_client_that_leaves_stops_its_training_and_frees_the_slot(client):
    app = client.app
    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(json.dumps(body(steps=20_000, eval_every=1000)))
        while ws.receive_json()["type"] != "progress":
            pass
        assert app.state.train_slots.active == 1
    deadline = time.monotonic() + 5
    while app.state.train_slots.active and time.monotonic() < deadline:
        time.sleep(0.02)
    assert app.state.train_slots.active == 0


def test_beyond_the_limit_a_training_waits_with_its_place_shown(client, setting):
    setting("LSTMX_MAX_TRAININGS", "1")
    with client.websocket_connect("/ws/train") as first:
        first.send_text(json.dumps(body(steps=20_000, eval_every=1000)))
        while first.receive_json()["type"] != "progress":
            pass
        with client.websocket_connect("/ws/train") as second:
            second.send_text(json.dumps(body(steps=5, eval_every=5)))
            assert second.receive_json() == {"type": "queued", "position": 1, "running": 1,
                                             "limit": 1}  # fmt: skip
            first.send_text(json.dumps({"type": "stop"}))
            assert frames_until_done(first)[-1]["stopped"]
            frames = frames_until_done(second)
            assert frames[0]["type"] == "start" and frames[-1]["type"] == "done"


@pytest.mark.parametrize(
    "change,loc,words",
    [
        ({"train": {"steps": 20_001}}, ["train", "steps"], "20000"),
        ({"train": {"batch_size": 257}}, ["train", "batch_size"], "256"),
        ({"task": {"name": "adding", "length": 1001}}, ["task", "length"], "1000"),
        ({"model": {"hidden_size": 257}}, ["model", "hidden_size"], "256"),
        ({"task": {"name": "nope"}}, ["task", "name"], "adding"),
        ({"train": {"lr": "0.1"}}, ["train", "lr"], "number"),
        ({"task": {"name": "temporal_order", "length": 5}}, ["task", "length"], ">= 10"),
        ({"train": {"steps": 20_000, "batch_size": 256}, "model": {"hidden_size": 256}},
         ["train", "steps"], "above the limit"),
    ],
)  # fmt: skip
def test_bad_requests_get_an_error_frame_naming_the_field_and_close_1008(
    client, change, loc, words
):
    request = body()
    for key, value in change.items():
        request[key] = {**request[key], **value} if key != "task" else value
    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(json.dumps(request))
        frame = ws.receive_json()
        assert frame["type"] == "error"
        assert frame["detail"][0]["loc"] == loc
        assert words in frame["detail"][0]["msg"]
        with pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_json()
        assert exc.value.code == 1008


def test_a_foreign_origin_is_refused(client):
    with pytest.raises(WebSocketDisconnect) as closed:
        with client.websocket_connect("/ws/train", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_text()
    assert closed.value.code == 1008


def test_get_train_serves_the_page(client):
    r = client.get("/train")
    assert r.status_code == 200
    assert '<script type="module" src="/static/js/train.js"' in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]


@pytest.mark.parametrize("task", ["copy", "brackets"])
def test_length_dependent_baselines_arrive_in_the_start_frame(client, task):
    from app.engine.training.train_tasks import get

    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(json.dumps(body(task=task, length=16, steps=10, eval_every=10)))
        frames = frames_until_done(ws)
    start = frames[0]
    assert start["type"] == "start"
    loss, metric = get(task).baselines(16)
    assert start["task"]["baseline_loss"] == loss and start["task"]["baseline_metric"] == metric
    assert frames[-1]["type"] == "done" and "weights" in frames[-1]["model"]


def test_charlm_sends_samples_at_each_eval_and_its_model_opens_with_the_alphabet(client):
    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(json.dumps(body(task="charlm", length=12, steps=20, eval_every=10,
                                     temperature=0.5)))  # fmt: skip
        frames = frames_until_done(ws)
    start, done = frames[0], frames[-1]
    alphabet = start["task"]["alphabet"]
    assert start["task"]["metric"] == "bpc" and done["alphabet"] == alphabet
    assert start["task"]["input_size"] == len(alphabet)
    samples = [f for f in frames if f["type"] == "sample"]
    assert [s["step"] for s in samples] == [0, 10, 20]
    for s in samples:
        assert len(s["text"]) == 240 and set(s["text"]) <= set(alphabet)
        assert s["temperature"] == 0.5
    evals = [f for f in frames if f["type"] == "eval"]
    assert all(e["metric"]["bpc"] > 0 for e in evals)
    # the trained model reads text in its own alphabet on the step page's endpoint
    text = "def f(x):\n    return x\n"
    r = client.post("/api/trace", json={"model": done["model"],
                                        "input": {"text": text, "alphabet": alphabet}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["steps"] == len(text)


def test_a_temperature_message_asks_for_a_sample_at_that_temperature(client):
    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(json.dumps(body(task="charlm", length=12, steps=4000, eval_every=4000)))
        assert ws.receive_json()["type"] == "start"
        seen = []
        while not seen:  # the step-0 sample, at the request's temperature
            frame = ws.receive_json()
            if frame["type"] == "sample":
                seen.append(frame["temperature"])
        ws.send_text(json.dumps({"type": "temperature", "value": 1.5}))
        for _ in range(10_000):
            frame = ws.receive_json()
            if frame["type"] == "sample":
                seen.append(frame["temperature"])
                if frame["step"] > 0:
                    break
        ws.send_text(json.dumps({"type": "stop"}))
        frames_until_done(ws)
    assert seen[0] == 0.8  # the default, at step 0
    assert seen[-1] == 1.5


def test_charlm_learns_an_uploaded_text_in_its_own_alphabet(client):
    text = "abab cdcd " * 40
    with client.websocket_connect("/ws/train") as ws:
        req = body(task="charlm", length=8, steps=10, eval_every=10)
        req["task"]["text"] = text
        ws.send_text(json.dumps(req))
        frames = frames_until_done(ws)
    assert frames[0]["task"]["alphabet"] == " abcd"
    assert len(frames[-1]["model"]["weights"]["weight_ih_l0"][0]) == 5


@pytest.mark.parametrize(
    ("task", "text", "length", "words"),
    [
        ("adding", "some text " * 30, 10, "takes no text"),
        ("charlm", "too short", 10, "at least 200 are needed"),
        ("charlm", "x" * 250, 100, "longer than the text part"),
    ],
)
def test_a_text_that_cannot_be_learned_gets_an_error_frame(client, task, text, length, words):
    with client.websocket_connect("/ws/train") as ws:
        req = body(task=task, length=length, steps=10)
        req["task"]["text"] = text
        ws.send_text(json.dumps(req))
        frame = ws.receive_json()
        assert frame["type"] == "error"
        assert frame["detail"][0]["loc"] == ["task", "text"]
        assert words in frame["detail"][0]["msg"]
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_json()
        assert info.value.code == 1008
