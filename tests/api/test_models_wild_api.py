"""The API for models from the wild: the model fields, token input, one answer entry per layer
and direction, limits that count widths and directions, and the WebSocket frames."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.engine import trace
from app.engine.analysis import units
from app.main import app
from app.settings import get_settings

client = TestClient(app)
SEQ = [[0.5, -1.0], [0.25, 0.75], [-0.5, 0.1], [1.0, 0.0]]
LM = {"cell": "lstm", "hidden_size": 3, "num_layers": 2, "output_size": 5,
      "embedding": {"num_embeddings": 5, "embedding_dim": 2}, "init": {"seed": 4}}  # fmt: skip


def post(body):
    r = client.post("/api/trace", json=body)
    return r.status_code, r.json()


def test_a_bidirectional_answer_has_one_entry_per_layer_and_direction_equal_to_the_engine():
    model = {"cell": "lstm", "hidden_size": [4, 3], "bidirectional": True, "init": {"seed": 1}}
    status, data = post({"model": model, "input": {"sequence": SEQ}})
    assert status == 200
    assert data["hidden_size"] == [4, 3] and data["num_layers"] == 2 and data["bidirectional"]
    tr = trace({**model, "input_size": 2}, np.array(SEQ))
    assert [(e["layer"], e["direction"]) for e in data["layers"]] == [
        (0, "forward"), (0, "reverse"), (1, "forward"), (1, "reverse"),
    ]  # fmt: skip
    for got, want in zip(data["layers"], tr.layers, strict=True):
        assert np.array(got["h"]).shape == (4, [4, 4, 3, 3][data["layers"].index(got)])
        for key in ("c", "h", "grad_h", "grad_c"):
            assert np.array_equal(np.array(got[key]), getattr(want, key)), key
        # log10 of an exact 0 is -inf, sent as null: under sum_last the top reverse direction
        # has read only x_{T-1} when the loss looks, so its gradient is 0 before position T-1
        logs = np.array([-np.inf if v is None else v for v in got["grad_h_log10_norm"]])
        assert np.array_equal(logs, want.grad_h_log10_norm)
    assert data["layers"][3]["grad_h_log10_norm"][:3] == [None, None, None]
    assert data["loss"] == tr.loss and data["nonfinite"] is None


def test_a_plain_answer_gains_only_layer_and_direction():
    status, data = post({"model": {"cell": "gru", "hidden_size": 3}, "input": {"sequence": SEQ}})
    assert status == 200
    assert not {"bidirectional", "proj_size", "nonlinearity", "embedding", "tokens",
                "grad_embedding"} & set(data)  # fmt: skip
    assert data["hidden_size"] == 3
    assert list(data["layers"][0])[:3] == ["layer", "direction", "gates"]
    assert (data["layers"][0]["layer"], data["layers"][0]["direction"]) == (0, "forward")


def test_tokens_through_an_embedding_give_the_rows_and_their_gradients():
    loss = {"kind": "cross_entropy", "at": "all", "target": [4, 4, 1]}
    status, data = post({"model": LM, "input": {"tokens": [2, 4, 4]}, "loss": loss})
    assert status == 200
    tr = trace(LM, np.array([2, 4, 4]), loss=loss)
    assert data["tokens"] == [2, 4, 4] and data["input_size"] == 2
    assert data["embedding"] == LM["embedding"]
    assert np.array_equal(np.array(data["inputs"]), tr.inputs)  # the embedding rows read
    assert np.array_equal(np.array(data["grad_embedding"]), tr.grad_inputs)
    assert data["loss"] == tr.loss


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        ({"model": LM, "input": {"tokens": [1, 5, 9]}}, ["body", "input", "tokens", 1],
         "token id 5 is not in the embedding: ids lie in [0, 4]"),
        ({"model": LM, "input": {"sequence": SEQ}}, ["body", "input", "tokens"],
         "give input.tokens"),
        ({"model": {"hidden_size": 3}, "input": {"tokens": [1]}}, ["body", "input", "tokens"],
         "needs a model with an embedding"),
        ({"model": {"hidden_size": [3, 600]}, "input": {"sequence": SEQ}},
         ["body", "model", "hidden_size"], "hidden size H is 600, above the limit of 512"),
        ({"model": {"hidden_size": [3, 4], "num_layers": 3}, "input": {"sequence": SEQ}},
         ["body", "model"], "hidden_size lists 2 widths but num_layers is 3"),
        ({"model": {"cell": "gru", "nonlinearity": "relu"}, "input": {"sequence": SEQ}},
         ["body", "model"], "nonlinearity 'relu' applies to cell 'rnn' only"),
        ({"model": {"hidden_size": [5, 3], "proj_size": 3}, "input": {"sequence": SEQ}},
         ["body", "model"], "proj_size (3) must be below every hidden size (smallest: 3)"),
        ({"model": {**LM, "embedding": {"num_embeddings": 10**7, "embedding_dim": 2}},
          "input": {"tokens": [1]}}, ["body", "model", "embedding", "num_embeddings"],
         str(get_settings().max_vocab)),
    ],
)  # fmt: skip
def test_bad_wild_requests_are_422_naming_the_field(body, loc, message):
    status, data = post(body)
    assert status == 422
    problem = data["detail"][0]
    assert problem["loc"] == loc and message in problem["msg"]


def test_the_work_budget_counts_both_directions(monkeypatch):
    """T·Σ H_k·(R_k + D_k) over layers and directions: 2·T·H·(H + D) for one bidirectional
    layer, twice what the same layer costs in one direction."""
    T, H, D = 50, 8, 2
    one_way = T * H * (H + D)
    monkeypatch.setenv("LSTMX_MAX_WORK", str(one_way))
    get_settings.cache_clear()
    try:
        body = {"model": {"hidden_size": H}, "input": {"sequence": [[0.0] * D] * T}}
        assert post(body)[0] == 200
        body["model"]["bidirectional"] = True
        status, data = post(body)
        assert status == 422 and f"{2 * one_way:,}" in data["detail"][0]["msg"]
    finally:
        get_settings.cache_clear()


def test_ws_frames_carry_layer_direction_and_the_embedding_gradient():
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps({"model": {**LM, "bidirectional": True},
                                 "input": {"tokens": [0, 3]}}))  # fmt: skip
        start = json.loads(ws.receive_text())
        assert start["type"] == "start" and start["bidirectional"] and start["tokens"] == [0, 3]
        frames = [json.loads(ws.receive_text()) for _ in range(2 + 2 + 1)]
    steps, grads, end = frames[:2], frames[2:4], frames[4]
    tr = trace({**LM, "bidirectional": True}, np.array([0, 3]))
    assert [(e["layer"], e["direction"]) for e in steps[0]["layers"]] == [
        (0, "forward"), (0, "reverse"), (1, "forward"), (1, "reverse"),
    ]  # fmt: skip
    assert steps[1]["layers"][1]["h"] == tr.layers[1].h[1].tolist()
    assert [g["t"] for g in grads] == [1, 0]
    assert grads[1]["grad_embedding"] == tr.grad_inputs[0].tolist()
    assert grads[0]["layers"][3]["grad_h"] == tr.layers[3].grad_h[1].tolist()
    assert end["type"] == "end" and end["loss"] == tr.loss


def test_live_mode_refuses_a_bidirectional_model():
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps({"model": {"bidirectional": True},
                                 "input": {"sequence": [[1.0]]}, "live": True}))  # fmt: skip
        frame = json.loads(ws.receive_text())
    assert frame["type"] == "error" and "bidirectional model" in json.dumps(frame["detail"])


def test_units_search_scores_both_directions_of_a_bidirectional_layer():
    model = {"cell": "gru", "hidden_size": 3, "bidirectional": True, "init": {"seed": 2}}
    body = {"model": model, "input": {"text": "ab(c)d"},
            "target": {"builtin": "bracket_depth"}, "top": 100}  # fmt: skip
    r = client.post("/api/units/search", json=body)
    assert r.status_code == 200, r.text
    rows = r.json()["units"]
    assert sorted((u["layer_direction"], u["unit"]) for u in rows) == [
        (d, n) for d in ("forward", "reverse") for n in range(3)
    ]
    text, alphabet = body["input"]["text"], "()abcd"  # the alphabet follows from the text
    tr = trace({**body["model"], "input_size": 6}, np.eye(6)[[alphabet.index(c) for c in text]])
    r_reverse = units.score_values(tr.layers[1].h, units.bracket_depth(text))
    for u in rows:
        if u["layer_direction"] == "reverse":
            assert u["r"] == pytest.approx(r_reverse[u["unit"]], rel=1e-12)
