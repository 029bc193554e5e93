"""Readouts and losses through the API: POST /api/trace answers torch's logits, loss and
probabilities (tests/fixtures/readout_*.npz); live typing into a model with an embedding;
the upload asks which readout a bidirectional state_dict with a head has."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
from fastapi.testclient import TestClient

from app.engine import trace
from app.main import app

client = TestClient(app)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _fixture_model(name):
    with np.load(FIXTURES / f"{name}.npz", allow_pickle=False) as z:
        rec = {k: z[k] for k in z.files}
    weights = {k[6:]: v.tolist() for k, v in rec.items() if k.startswith("param.")}
    return {**json.loads(str(rec["meta_model"])), "weights": weights}, rec


def test_a_classifier_on_h_n_answers_torchs_logits_one_row_and_its_class_probabilities():
    model, rec = _fixture_model("readout_bilstm_classifier")
    body = {"model": model, "input": {"sequence": rec["x"].tolist()},
            "loss": {"kind": "cross_entropy", "target": 2}}  # fmt: skip
    r = client.post("/api/trace", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["readout"] == "final" and data["loss_kind"] == "cross_entropy"
    np.testing.assert_allclose(data["outputs"], rec["logits"], rtol=0, atol=1e-10)
    assert data["loss"] == pytest.approx(float(rec["loss"]), abs=1e-10)
    pred = data["predictions"]
    assert pred["kind"] == "classes" and pred["readout"] == "final"
    order = np.argsort(-rec["probs"][0])
    assert pred["ids"] == [order.tolist()]
    np.testing.assert_allclose(pred["p"][0], rec["probs"][0][order], rtol=0, atol=1e-10)


def test_a_language_model_defaults_to_next_token_with_torchs_loss_and_top_tokens():
    model, rec = _fixture_model("readout_charlm")
    r = client.post(
        "/api/trace", json={"model": model, "input": {"tokens": rec["tokens"].tolist()}}
    )
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["loss_kind"] == "next_token"
    assert data["loss"] == pytest.approx(float(rec["loss"]), abs=1e-10)
    np.testing.assert_allclose(data["loss_steps"], rec["loss_steps"], rtol=0, atol=1e-10)
    pred = data["predictions"]
    assert pred["kind"] == "next_token" and np.shape(pred["ids"]) == (len(rec["tokens"]), 5)
    top = np.argsort(-rec["probs"], axis=1)[:, :5]
    assert pred["ids"] == top.tolist()
    np.testing.assert_allclose(
        pred["p"], np.take_along_axis(rec["probs"], top, axis=1), rtol=0, atol=1e-10
    )


def test_the_loss_is_chosen_by_the_request():
    model, rec = _fixture_model("readout_charlm")
    tokens = rec["tokens"].tolist()
    for loss, kind in [({"kind": "sum_last"}, "sum_last"), ({"kind": "cross_entropy"},
                       "cross_entropy"), ({"kind": "cross_entropy", "at": "all",
                       "target": tokens}, "cross_entropy")]:  # fmt: skip
        r = client.post(
            "/api/trace", json={"model": model, "input": {"tokens": tokens}, "loss": loss}
        )
        assert r.status_code == 200, r.text
        data = r.json()
        assert data["loss_kind"] == kind
        assert data["loss"] == pytest.approx(
            trace(model, np.array(tokens), loss=loss).loss, rel=1e-12
        )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": {"readout": "final"}, "input": {"sequence": [[1.0]]}}, "output_size"),
        ({"model": {"output_size": 2}, "input": {"sequence": [[0.5]]},
          "loss": {"kind": "next_token"}}, "token inputs"),
        ({"model": {"output_size": 2}, "input": {"sequence": [[1.0]]},
          "loss": {"kind": "mean"}}, "loss"),
    ],
)  # fmt: skip
def test_losses_and_readouts_that_do_not_fit_are_422_naming_them(body, message):
    r = client.post("/api/trace", json=body)
    assert r.status_code == 422 and message in r.text, r.text


def test_live_typing_into_an_embedding_model_gives_one_step_and_its_predictions_per_token():
    model, rec = _fixture_model("readout_charlm")
    vocab = list("abcdefg")  # 7 tokens: the embedding's rows
    tokens = rec["tokens"].tolist()
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps({"model": model, "live": True,
                                 "input": {"text": "", "vocab": vocab}}))  # fmt: skip
        start = json.loads(ws.receive_text())
        assert start["type"] == "start" and start["steps"] == 0 and start["tokens"] == []
        assert json.loads(ws.receive_text())["type"] == "ready"
        for t, token in enumerate(tokens):
            ws.send_text(json.dumps({"type": "input", "token": token}))
            step = json.loads(ws.receive_text())
            assert step["type"] == "step" and step["t"] == t
            probs = rec["probs"][t]
            assert step["predictions"]["ids"][0] == int(np.argmax(probs))
            np.testing.assert_allclose(step["predictions"]["p"][0], probs.max(), atol=1e-10)
        ws.send_text(json.dumps({"type": "input", "token": 7}))
        assert "token id in [0, 6]" in ws.receive_text()
        ws.send_text(json.dumps({"type": "backward"}))
        frames = [json.loads(ws.receive_text()) for _ in range(len(tokens) + 1)]
    end = frames[-1]
    assert end["type"] == "end" and end["loss_kind"] == "next_token"
    assert end["loss"] == pytest.approx(float(rec["loss"]), abs=1e-10)
    np.testing.assert_allclose(end["loss_steps"], rec["loss_steps"], atol=1e-10)


def _bidirectional_with_head() -> bytes:
    model, _ = _fixture_model("readout_bilstm_classifier")
    arrays = {k: np.asarray(v) for k, v in model["weights"].items()}
    arrays = {k.replace("readout.", "fc."): v for k, v in arrays.items()}
    return safetensors.numpy.save(arrays)


def test_the_upload_asks_what_a_bidirectional_head_reads_and_takes_the_answer():
    data = _bidirectional_with_head()

    def upload(**form):
        files = {"file": ("clf.safetensors", io.BytesIO(data))}
        return client.post("/api/weights", files=files, data=form)

    asked = upload(readout="ask")
    assert asked.status_code == 200 and asked.json()["needs"] == "readout"
    assert asked.json()["choices"] == ["final", "every_step"]
    refused = upload()
    assert refused.status_code == 400 and refused.json()["detail"][0]["loc"] == ["body", "readout"]
    model = upload(readout="final").json()
    assert model["readout"] == "final" and model["bidirectional"]
    expected, rec = _fixture_model("readout_bilstm_classifier")
    body = {"model": model, "input": {"sequence": rec["x"].tolist()}}
    out = client.post("/api/trace", json=body).json()["outputs"]
    np.testing.assert_allclose(out, rec["logits"], rtol=0, atol=1e-10)


@pytest.mark.parametrize("fmt", ["safetensors", "npz"])
def test_an_exported_bidirectional_classifier_opens_again_reading_h_n_without_asking(fmt):
    model, rec = _fixture_model("readout_bilstm_classifier")
    assert model["readout"] == "final"
    r = client.post("/api/weights/export", json={"model": model, "format": fmt})
    assert r.status_code == 200, r.text
    files = {"file": (f"clf.{fmt}", io.BytesIO(r.content))}
    again = client.post("/api/weights", files=files)  # no readout stated: the file says it
    assert again.status_code == 200, again.text
    reopened = again.json()
    assert reopened["readout"] == "final" and reopened["bidirectional"]
    body = {"model": reopened, "input": {"sequence": rec["x"].tolist()}}
    out = client.post("/api/trace", json=body).json()["outputs"]
    np.testing.assert_allclose(out, rec["logits"], rtol=0, atol=1e-10)
    tagger = client.post(  # the other answer travels too
        "/api/weights/export", json={"model": {**model, "readout": "every_step"}, "format": fmt}
    )
    files = {"file": (f"tagger.{fmt}", io.BytesIO(tagger.content))}
    assert client.post("/api/weights", files=files).json()["readout"] == "every_step"


def test_a_readout_in_a_files_metadata_that_is_neither_answer_is_refused_naming_it():
    model, _ = _fixture_model("readout_bilstm_classifier")
    arrays = {k: np.asarray(v) for k, v in model["weights"].items()}
    data = safetensors.numpy.save(arrays, metadata={"readout": "mean"})
    files = {"file": ("clf.safetensors", io.BytesIO(data))}
    r = client.post("/api/weights", files=files)
    assert r.status_code == 400 and "metadata readout = 'mean'" in r.text


@pytest.mark.parametrize("name", ["keras_bidi_final", "keras_gru_final"])
def test_a_keras_dense_on_the_final_state_reads_h_n_and_gives_keras_predictions(name):
    """return_sequences=False: Keras' Dense reads [forward at T-1 | backward at 0] once."""
    data = (FIXTURES / "import" / f"{name}.keras").read_bytes()
    r = client.post("/api/weights", files={"file": (f"{name}.keras", io.BytesIO(data))})
    assert r.status_code == 200, r.text
    model = r.json()
    assert model["readout"] == "final"
    with np.load(FIXTURES / "import" / "keras_final_expected.npz") as z:
        x, want = z["x"], z[name]
    answer = client.post("/api/trace", json={"model": model, "input": {"sequence": x.tolist()}})
    assert answer.status_code == 200, answer.text
    # Keras' torch backend leaves some ops in float32 even with floatx float64 (seen: 2e-8)
    np.testing.assert_allclose(answer.json()["outputs"], want, rtol=0, atol=1e-6)
    if model.get("bidirectional"):  # read per step, the same weights answer otherwise (0.07)
        every = client.post("/api/trace", json={"model": {**model, "readout": "every_step"},
                                                "input": {"sequence": x.tolist()}})  # fmt: skip
        assert np.abs(np.asarray(every.json()["outputs"][-1]) - want[0]).max() > 1e-2
