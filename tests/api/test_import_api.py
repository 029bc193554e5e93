"""POST /api/weights with Keras files and plain RNNs, POST /api/vocab, and text through a
vocabulary into POST /api/trace: the upload's answer opens as it is."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.engine import trace
from app.main import app

client = TestClient(app)
FIXTURES = Path(__file__).parent.parent / "fixtures" / "import"
VOCAB = ["<pad>", "a", "b", "c", "d", "e", "h", "l", "o", "r", "w", " "]  # 12 rows: keras_lm


def upload(name: str, **form: str):
    files = {"file": (name, io.BytesIO((FIXTURES / name).read_bytes()))}
    return client.post("/api/weights", files=files, data=form)


def test_keras_file_upload_answers_a_model_that_traces_from_text_and_a_vocabulary() -> None:
    r = upload("keras_lm.keras")
    assert r.status_code == 200, r.text
    model = r.json()
    assert model["embedding"] == {"num_embeddings": 12, "embedding_dim": 5}
    body = {"model": model, "input": {"text": "hello", "vocab": VOCAB, "level": "char"}}
    answer = client.post("/api/trace", json=body)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    ids = [VOCAB.index(ch) for ch in "hello"]
    engine = trace(model, np.array(ids))
    assert len(data["layers"]) == 2
    for got, want in zip(data["layers"], engine.layers, strict=True):
        np.testing.assert_allclose(got["gates"]["f"], want.gates["f"], rtol=1e-12)
        np.testing.assert_allclose(got["h"], want.h, rtol=1e-12)
    assert [len(row) for row in data["layers"][1]["h"]] == [6] * 5  # the second layer's width


def test_word_level_text_maps_unknown_words_to_unk_or_names_them() -> None:
    model = upload("torch_wlm.safetensors").json()  # 11 rows
    words = ["<unk>", "<eos>", "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far"]
    body = {"model": model, "input": {"text": "the cat sat on a rug", "vocab": words,
                                      "level": "word"}}  # fmt: skip
    r = client.post("/api/trace", json=body)
    assert r.status_code == 200, r.text
    ids = [2, 3, 4, 5, 7, 0]  # "rug" -> <unk>
    assert r.json()["loss"] == pytest.approx(trace(model, np.array(ids)).loss, rel=1e-12)
    body["input"]["vocab"] = words[1:] + ["hat"]  # no <unk>
    r = client.post("/api/trace", json=body)
    assert r.status_code == 422
    assert "word 'rug' (token 5) is not in the vocabulary, which has no <unk>" in r.text


def test_a_vocabulary_larger_than_the_embedding_is_refused_naming_both() -> None:
    model = upload("keras_lm.keras").json()
    body = {"model": model, "input": {"text": "ab", "vocab": VOCAB + ["x", "y"]}}
    r = client.post("/api/trace", json=body)
    assert r.status_code == 422 and "14 tokens, the embedding only 12 rows" in r.text


def test_an_alphabet_is_a_character_vocabulary_for_a_model_with_an_embedding() -> None:
    model = upload("keras_lm.keras").json()
    alphabet = "".join(VOCAB[1:])
    r = client.post(
        "/api/trace", json={"model": model, "input": {"text": "hob", "alphabet": alphabet}}
    )
    assert r.status_code == 200, r.text
    ids = [alphabet.index(ch) for ch in "hob"]
    assert r.json()["loss"] == pytest.approx(trace(model, np.array(ids)).loss, rel=1e-12)


def test_plain_rnn_upload_asks_for_the_nonlinearity_then_opens_as_told() -> None:
    r = upload("torch_rnn_relu.safetensors")
    assert r.status_code == 400
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", "nonlinearity"]
    assert "cannot say whether it computes tanh or relu" in detail["msg"]
    relu = upload("torch_rnn_relu.safetensors", nonlinearity="relu").json()
    assert relu["nonlinearity"] == "relu"
    r = client.post("/api/trace", json={"model": relu, "input": {"sequence": [[1.0, 2.0, 3.0]]}})
    assert r.status_code == 200
    assert upload("torch_rnn_relu.safetensors", nonlinearity="sigmoid").status_code == 422
    asked = upload("torch_rnn_relu.safetensors", nonlinearity="ask")
    assert asked.status_code == 200
    assert asked.json()["needs"] == "nonlinearity" and asked.json()["choices"] == ["tanh", "relu"]
    assert upload("keras_lm.keras", nonlinearity="ask").json()["cell"] == "lstm"  # no question


def test_a_relu_rnn_exports_with_its_nonlinearity_and_opens_again_without_asking() -> None:
    relu = upload("torch_rnn_relu.safetensors", nonlinearity="relu").json()
    r = client.post("/api/weights/export", json={"model": relu, "format": "safetensors"})
    assert r.status_code == 200
    files = {"file": ("again.safetensors", io.BytesIO(r.content))}
    again = client.post("/api/weights", files=files)
    assert again.status_code == 200 and again.json() == relu


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("keras_lambda.keras", "is a Lambda"),
        ("keras_reset_before.keras", "reset_after=False"),
        ("keras_go_backwards.keras", "go_backwards=True"),
    ],
)
def test_keras_refusals_are_400_naming_the_file_field(name: str, message: str) -> None:
    r = upload(name)
    assert r.status_code == 400
    assert r.json()["detail"][0]["loc"] == ["body", "file"] and message in r.text


@pytest.mark.parametrize(
    ("filename", "content", "tokens"),
    [
        ("chars.txt", "a\nb\n \n", ["a", "b", " "]),
        ("vocab.json", json.dumps(["<unk>", "the", "cat"]), ["<unk>", "the", "cat"]),
        ("vocab.json", json.dumps({"cat": 2, "the": 1, "<unk>": 0}), ["<unk>", "the", "cat"]),
        ("crlf.txt", "x\r\ny\r\n", ["x", "y"]),
    ],
)
def test_vocabulary_files_answer_their_tokens_in_id_order(
    filename: str, content: str, tokens: list[str]
) -> None:
    r = client.post("/api/vocab", files={"file": (filename, io.BytesIO(content.encode()))})
    assert r.status_code == 200 and r.json() == {"vocab": tokens}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a\nb\na\n", "token 'a' appears twice (ids 0, 2)"),
        ("a\n\nb\n", "token 1 is empty"),
        (json.dumps({"a": 0, "b": 5}), "the ids 0..V-1 once each"),
        (json.dumps([1, 2]), "a list of strings"),
        ("", "the vocabulary is empty"),
    ],
)
def test_bad_vocabulary_files_are_400_saying_why(content: str, message: str) -> None:
    name = "v.json" if content[:1] in "[{" and content else "v.txt"  # the suffix says the format
    r = client.post("/api/vocab", files={"file": (name, io.BytesIO(content.encode()))})
    assert r.status_code == 400 and message in r.json()["detail"][0]["msg"]


def test_vocabulary_file_of_another_type_is_refused_naming_the_types() -> None:
    r = client.post("/api/vocab", files={"file": ("model.pt", io.BytesIO(b"a\nb\n"))})
    assert r.status_code == 400
    assert "unsupported vocabulary file 'model.pt': upload a .txt, .json, .vocab" in r.text


def test_vocabulary_file_over_the_size_cap_is_413() -> None:
    from app.api.routes.weights import MAX_VOCAB_BYTES

    data = b"a\n" * (MAX_VOCAB_BYTES // 2 + 1)
    r = client.post("/api/vocab", files={"file": ("v.txt", io.BytesIO(data))})
    assert r.status_code == 413 and f"larger than {MAX_VOCAB_BYTES} bytes" in r.text
