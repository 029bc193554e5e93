"""One model object for every endpoint: what /api/weights and the training `done` frame answer,
/api/trace, /api/weights/export and /ws/train take as it is."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app.main import create_app


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


def train_request(model, steps=10):
    return {"task": {"name": "latch", "length": 8, "seed": 0}, "model": model,
            "train": {"steps": steps, "batch_size": 4, "eval_every": steps}}  # fmt: skip


def train(client, model, steps=10):
    with client.websocket_connect("/ws/train") as ws:
        ws.send_text(json.dumps(train_request(model, steps)))
        frames = []
        while not frames or frames[-1]["type"] not in ("done", "error"):
            frames.append(ws.receive_json())
    return frames


def first_error(client, model):
    frames = train(client, model)
    assert frames[-1]["type"] == "error", [f["type"] for f in frames]
    return frames[-1]["detail"][0]


def trace(client, model):
    return client.post("/api/trace", json={"model": model, "input": {"task": {
        "name": "latch", "length": 8, "seed": 1}}})  # fmt: skip


@pytest.fixture(scope="module")
def trained(client):
    frames = train(client, {"cell": "gru", "hidden_size": 4, "init": {"seed": 3}})
    return frames


@pytest.fixture(scope="module")
def uploaded(client, trained):
    """The trained model written to a .safetensors file and read back by /api/weights."""
    r = client.post("/api/weights/export", json={"model": trained[-1]["model"]})
    assert r.status_code == 200, r.text
    r = client.post("/api/weights", files={"file": ("m.safetensors", r.content)})
    assert r.status_code == 200, r.text
    return r.json()


def test_the_done_frame_and_the_upload_answer_describe_the_same_model(trained, uploaded):
    done = trained[-1]["model"]
    assert done["input_size"] == uploaded["input_size"] == 1
    assert done["output_size"] == uploaded["output_size"] == 2
    assert done["weights"] == uploaded["weights"]


@pytest.mark.parametrize("source", ["done", "upload"])
def test_each_endpoint_takes_the_model_object_as_it_is(client, trained, uploaded, source):
    model = trained[-1]["model"] if source == "done" else uploaded
    r = trace(client, model)
    assert r.status_code == 200, r.text
    assert len(r.json()["outputs"][0]) == 2  # the readout came along
    r = client.post("/api/weights/export", json={"model": model, "format": "npz"})
    assert r.status_code == 200, r.text
    frames = train(client, model)
    assert frames[0]["type"] == "start" and frames[-1]["type"] == "done", frames[-1]
    assert frames[0]["model"]["input_size"] == 1 and "weights" not in frames[0]["model"]


def test_training_given_weights_continues_from_them(client, trained):
    """The held-out set depends only on the task seed: a run starting from the weights a first
    run ended with scores, at its step 0, exactly what the first run scored at its end."""
    ended = [f for f in trained if f["type"] == "eval"][-1]["metric"]
    again = train(client, trained[-1]["model"])
    started = [f for f in again if f["type"] == "eval"][0]
    assert started["step"] == 0 and started["metric"] == ended
    fresh = train(client, {**trained[-1]["model"], "weights": None})
    assert [f for f in fresh if f["type"] == "eval"][0]["metric"] != ended


@pytest.mark.parametrize(
    "name,value,words",
    [("input_size", 3, ["input_size is 3", "'latch'", "input_size 1"]),
     ("output_size", 5, ["output_size is 5", "output_size 2"])],
)  # fmt: skip
def test_sizes_disagreeing_with_the_task_are_refused_naming_both(client, name, value, words):
    detail = first_error(client, {"cell": "lstm", "hidden_size": 4, name: value})
    assert detail["loc"] == ["model", name]
    for word in words:
        assert word in detail["msg"]


def test_starting_weights_that_do_not_fit_are_refused_saying_what_to_do(client, trained):
    model = trained[-1]["model"]
    wrong = {**model["weights"], "readout.weight": [[0.0] * 4]}  # 1 output; latch has 2
    detail = first_error(client, {**model, "weights": wrong})
    assert detail["loc"] == ["model", "weights"]
    assert "readout.weight" in detail["msg"] and "(2, 4)" in detail["msg"]
    assert "leave model.weights out" in detail["msg"]


def test_a_model_too_large_for_training_names_the_field_and_the_limit(client):
    detail = first_error(client, {"cell": "rnn", "num_layers": 5, "hidden_size": 4})
    assert detail["loc"] == ["model", "num_layers"] and "at most 4" in detail["msg"]
