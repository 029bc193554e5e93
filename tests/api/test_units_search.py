"""POST /api/units/search: targets of every kind, the answer's shape, and clear errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.engine import prepare
from app.engine.analysis import units
from app.main import app
from tests.engine.test_units import planted_lstm

client = TestClient(app)
TEXT = 'x = f("ab", [1, (2)])\nprint("q")\n'


def search(**body):
    base = {"model": {"cell": "lstm", "hidden_size": 6, "init": {"seed": 1}},
            "input": {"text": TEXT}}  # fmt: skip
    return client.post("/api/units/search", json={**base, **body})


def test_planted_unit_ranks_first_for_its_steps_and_its_values():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 3))
    on = rng.random(50) < 0.5
    X[:, 1] = on
    ranges = [[t, t + 1] for t in np.flatnonzero(on).tolist()]
    body = {"model": planted_lstm(channel=1, unit=2), "input": {"sequence": X.tolist()}}
    r = client.post("/api/units/search", json={**body, "field": "c", "target": {"steps": ranges}})
    assert r.status_code == 200, r.text
    best = r.json()["units"][0]
    assert (best["layer"], best["unit"], best["field"]) == (0, 2, "c")
    assert best["score"] >= 0.99 and best["direction"] == "high"
    assert r.json()["marked"] == int(on.sum())
    r = client.post(
        "/api/units/search", json={**body, "field": "c", "target": {"values": X[:, 1].tolist()}}
    )
    best = r.json()["units"][0]
    assert (best["unit"], r.json()["kind"]) == (2, "values")
    assert best["r"] >= 0.99


def test_answer_is_ranked_and_equals_the_engine_on_the_same_trace():
    r = search(field="h", target={"pattern": r'"[^"]*"'}, top=4)
    assert r.status_code == 200, r.text
    got = r.json()
    scores = [u["score"] for u in got["units"]]
    assert len(scores) == 4 and scores == sorted(scores, reverse=True)
    alphabet = "".join(sorted(set(TEXT)))
    X = np.eye(len(alphabet))[[alphabet.index(ch) for ch in TEXT]]
    model = {"cell": "lstm", "input_size": len(alphabet), "hidden_size": 6, "init": {"seed": 1}}
    h = prepare(model, X).forward()[0]["h"]
    mask = np.zeros(len(TEXT), dtype=bool)
    for a in (TEXT.index('"ab"'), TEXT.index('"q"')):
        mask[a : TEXT.index('"', a + 1) + 1] = True
    assert got["marked"] == int(mask.sum())
    want = units.score_steps(h, mask)
    for u in got["units"]:
        assert u["auc"] == pytest.approx(want.auc[u["unit"]], abs=1e-12)


def test_builtin_targets_and_a_gate_field_on_two_layers():
    body = {"model": {"cell": "lstm", "hidden_size": 5, "num_layers": 2}, "input": {"text": TEXT}}
    for name, kind in (("inside_quotes", "steps"), ("bracket_depth", "values"),
                       ("line_position", "values")):  # fmt: skip
        want = {**body, "field": "f", "target": {"builtin": name}, "top": 100}
        r = client.post("/api/units/search", json=want)
        assert r.status_code == 200, r.text
        assert r.json()["kind"] == kind
        assert {(u["layer"], u["field"]) for u in r.json()["units"]} == {(0, "f"), (1, "f")}
        assert len(r.json()["units"]) == 10


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"target": {}}, "target", "exactly one"),
        ({"target": {"steps": [[0, 2]], "values": [1.0]}}, "target", "exactly one"),
        ({"target": {"pattern": "("}}, "pattern", "not a valid RE2 pattern"),
        ({"target": {"pattern": r"(a)\1"}}, "pattern", "not a valid RE2 pattern"),
        ({"target": {"pattern": "zzz"}}, "target", "must mark some steps"),
        ({"target": {"steps": [[0, 999]]}}, "steps", "not inside [0, 33)"),
        ({"target": {"values": [1.0, 2.0]}}, "values", "2 values for 33 steps"),
        ({"target": {"builtin": "inside_quotes"}, "field": "r"}, "field", "no gate 'r'"),
        ({"target": {"builtin": "inside_quotes"}, "layer": 3}, "layer", "has 1 layers"),
        ({"target": {"pattern": "a" * 201}}, "pattern", "at most 200"),
    ],
)
def test_bad_requests_name_the_field(body, loc, words):
    r = search(**body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert any(loc in map(str, d["loc"]) and words in d["msg"] for d in detail), detail


def test_pattern_and_builtin_need_a_text_input():
    r = client.post(
        "/api/units/search",
        json={"input": {"sequence": [[0.0], [1.0]]}, "target": {"pattern": "a"}},
    )
    assert r.status_code == 422
    assert "needs a text input" in r.json()["detail"][0]["msg"]


def test_a_pattern_that_backtracks_exponentially_elsewhere_answers_at_once():
    # (a+)+$ against a run of a's then a mismatch takes Python's re exponential time; RE2 is
    # linear. A regression to `re` would hold this test for minutes, and pytest-timeout fails it.
    text = "a" * 60 + "!"
    t0 = time.perf_counter()
    r = client.post(
        "/api/units/search",
        json={
            "model": {"hidden_size": 3},
            "input": {"text": text},
            "target": {"pattern": "(a+)+$"},
        },  # fmt: skip
    )
    assert r.status_code == 422  # it matches nothing: nothing to separate
    assert "must mark some steps" in r.json()["detail"][0]["msg"]
    assert time.perf_counter() - t0 < 60
