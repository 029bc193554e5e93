"""The API's own refusals (beyond the schema's) name the field, say what is wrong with this
request, and what to do instead."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import app

client = TestClient(app)
MODEL = {"cell": "lstm", "hidden_size": 4}

TRACE = [
    ("two inputs", {"input": {"text": "ab", "task": {"name": "sine"}}}, ["body", "input"],
     ["exactly one of sequence, text, task or tokens", "['text', 'task']"]),
    ("no input", {"input": {}}, ["body", "input"], ["this one has none"]),
    ("ragged rows", {"input": {"sequence": [[1, 2], [3, 4], [5]]}},
     ["body", "input", "sequence"], ["same width", "row 0 has 2 numbers, row 2 has 1"]),
    ("empty rows", {"input": {"sequence": [[], []]}}, ["body", "input", "sequence"],
     ["rows of sequence are empty", "D input numbers of one step"]),
    ("empty sequence", {"input": {"sequence": []}}, ["body", "input"],
     ["empty", "give at least one step"]),
    ("alphabet repeats", {"input": {"text": "ab", "alphabet": "abca"}},
     ["body", "input", "alphabet"], ["repeats ['a']", "list each character once"]),
    ("text outside alphabet", {"input": {"text": "abz", "alphabet": "ab"}},
     ["body", "input", "text"], ["['z']", "add them to alphabet, or leave alphabet out"]),
    ("input size disagrees", {"model": {**MODEL, "input_size": 3}, "input": {"text": "ab"}},
     ["body", "model", "input_size"], ["is 3", "width 2", "or set it to 2"]),
    ("hidden size above the limit", {"model": {**MODEL, "hidden_size": 513},
     "input": {"text": "ab"}}, ["body", "model", "hidden_size"],
     ["is 513", "limit of 512", "LSTMX_MAX_HIDDEN"]),
]  # fmt: skip


@pytest.mark.parametrize("name,body,loc,phrases", TRACE, ids=[c[0] for c in TRACE])
def test_trace_refusals_say_what_is_wrong_and_what_to_do(name, body, loc, phrases):
    r = client.post("/api/trace", json={"model": MODEL, **body})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == loc
    for phrase in phrases:
        assert phrase in detail["msg"], f"{phrase!r} not in {detail['msg']!r}"


COMPARE = [
    ("clamps without an lstm", {"cells": ["gru"], "clamp": [{"t": 0, "gate": "f", "value": 1}]},
     ["body", "clamp"], ["['gru'] has no LSTM", "add 'lstm' to cells or remove the clamps"]),
    ("a gate the lstm has not", {"clamp": [{"t": 0, "gate": "z", "value": 1}]},
     ["body", "clamp", 0, "gate"], ["'z' is not an LSTM gate", "i, f, g or o"]),
    ("weights for a cell not compared", {"cells": ["lstm"], "weights": {"gru": {}}},
     ["body", "weights", "gru"], ["not among the compared cells", "add 'gru' to cells"]),
    ("too long", {"input": {"task": {"name": "sine", "length": 10001}}}, ["body", "input"],
     ["10001", "limit of 10000", "LSTMX_MAX_STEPS"]),
]  # fmt: skip


@pytest.mark.parametrize("name,body,loc,phrases", COMPARE, ids=[c[0] for c in COMPARE])
def test_lab_refusals_say_what_is_wrong_and_what_to_do(name, body, loc, phrases):
    r = client.post("/api/compare", json={"input": {"text": "abc"}, "hidden_size": 2, **body})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == loc
    for phrase in phrases:
        assert phrase in detail["msg"], f"{phrase!r} not in {detail['msg']!r}"


def test_an_upload_refusal_reaches_the_client_as_the_importer_wrote_it():
    r = client.post("/api/weights", files={"file": ("m.pkl", b"\x80\x04x")})
    assert r.status_code == 400
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", "file"]
    assert "never opened" in detail["msg"] and "safetensors" in detail["msg"]
