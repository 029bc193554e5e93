"""POST /api/compare and GET /compare on an app with only the lab's router (TestClient)."""

import math
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient

from app.api.cache import AnswerCache
from app.api.errors import RequestError, request_error_handler
from app.api.routes import compare
from app.api.slots import RunSlots

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client():
    app = FastAPI()
    app.state.slots = RunSlots(8)
    app.state.cache = AnswerCache(2**26)
    app.add_exception_handler(RequestError, request_error_handler)
    app.include_router(compare.router)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    return TestClient(app)


def post(client, **body):
    body.setdefault("input", {"task": {"name": "random", "length": 30, "seed": 0}})
    return client.post("/api/compare", json=body)


def ok(client, **body):
    r = post(client, **body)
    assert r.status_code == 200, r.text
    return r.json()


def arr(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def at_rest(T, gain):
    """A tanh RNN with orthogonal W_hh of this gain, no input, no biases: h stays 0."""
    return {
        "input": {"task": {"name": "sine", "length": T}},
        "cells": ["rnn"],
        "hidden_size": 8,
        "recurrent_init": "orthogonal",
        "recurrent_gain": gain,
        "zero_biases": True,
        "input_scale": 0,
    }


def test_answers_all_three_networks_on_the_same_input(client):
    a = ok(client, hidden_size=6)
    assert set(a["cells"]) == {"rnn", "lstm", "gru"}
    assert a["steps"] == 30 and a["hidden_size"] == 6 and a["input_size"] == 3
    for d in a["cells"].values():
        assert len(d["grad_h_log10"]) == 30
        assert d["grad_h_log10"][0] == 0.0  # normalised to k = 0
        # with the default loss dL/dh_{T-1} is all ones: norm sqrt(H) for every network
        assert d["grad_h_log10_end"] == pytest.approx(0.5 * math.log10(6))
    lstm = a["cells"]["lstm"]
    assert len(lstm["grad_c_log10"]) == len(lstm["belt_log10"]) == len(lstm["c_norm"]) == 30
    assert len(lstm["forget_half_life"]["per_unit"]) == 6
    assert "grad_c_log10" not in a["cells"]["rnn"]


@pytest.mark.parametrize("gain,T", [(0.9, 300), (0.5, 2000)])
def test_orthogonal_rnn_at_rest_decays_exactly_like_gain_to_the_k(client, gain, T):
    a = ok(client, **at_rest(T, gain))
    rnn = a["cells"]["rnn"]
    y = arr(rnn["grad_h_log10"])
    k = np.arange(T)
    np.testing.assert_allclose(y, k * math.log10(gain), rtol=0, atol=1e-9)
    assert rnn["fit_h"]["factor"] == pytest.approx(gain, rel=1e-12)
    assert rnn["fit_h"]["half_life"] == pytest.approx(math.log(2) / -math.log(gain), rel=1e-9)
    if gain == 0.5:  # 0.5^1999 ~ 1e-602: far below float64, still exact
        assert y[-1] < -600
        assert rnn["float_h"]["float64"]["underflow"] is not None


def test_orthogonal_rnn_with_gain_one_and_a_half_explodes_as_one_and_a_half_to_the_k(client):
    T = 2000
    a = ok(client, **at_rest(T, 1.5))
    rnn = a["cells"]["rnn"]
    np.testing.assert_allclose(
        arr(rnn["grad_h_log10"]), np.arange(T) * math.log10(1.5), rtol=0, atol=1e-9
    )
    assert rnn["fit_h"]["doubling"] == pytest.approx(math.log(2) / math.log(1.5), rel=1e-9)
    assert rnn["float_h"]["float64"]["overflow"] is not None  # 1.5^1999 ~ 1e352
    assert rnn["pascanu"]["sigma_max"] == pytest.approx(1.5)
    assert rnn["pascanu"]["verdict"] == "exploding possible"


def test_the_carousel_preset_keeps_the_cell_gradient_constant_over_1000_steps(client):
    a = ok(client, input={"task": {"name": "random", "length": 1000}}, hidden_size=16,
           forget_bias=30, input_bias=-30, cells=["lstm"])  # fmt: skip
    lstm = a["cells"]["lstm"]
    ratio = 10 ** arr(lstm["grad_c_log10"])  # ||dL/dc_t|| / ||dL/dc_{T-1}||
    np.testing.assert_allclose(ratio, 1.0, rtol=1e-9, atol=0)
    assert lstm["hochreiter"]["verdict"] == "constant"
    assert lstm["fit_c"]["half_life"] is None or lstm["fit_c"]["half_life"] > 1e9


def test_clamping_f_to_one_with_the_input_gate_shut_makes_the_carousel_exact(client):
    T = 200
    a = ok(client, input={"task": {"name": "random", "length": T}}, cells=["lstm"], hidden_size=4,
           clamp=[{"t": list(range(T)), "gate": "f", "value": 1.0},
                  {"t": list(range(T)), "gate": "i", "value": 0.0},
                  {"t": list(range(T)), "gate": "o", "value": 1.0}])  # fmt: skip
    lstm = a["cells"]["lstm"]
    assert arr(lstm["grad_c_log10"]) == pytest.approx(np.zeros(T), abs=1e-14)
    assert lstm["forget_half_life"]["infinite"] == 4


def test_without_a_forget_gate_the_cell_state_drifts(client):
    body = dict(input={"task": {"name": "adding", "length": 1000}}, cells=["lstm"], hidden_size=16)
    with_f = ok(client, **body)["cells"]["lstm"]
    without = ok(client, **body, lstm_variant="no_forget_gate")["cells"]["lstm"]
    assert without["c_norm"][-1] > 50 * with_f["c_norm"][-1]
    assert without["saturated"] > 0.5
    assert without["forget_half_life"]["infinite"] == 16


def test_input_scale_zero_means_no_input(client):
    body = dict(input={"task": {"name": "random", "length": 5}}, cells=["rnn"], hidden_size=5,
                zero_biases=True, input_scale=0)  # fmt: skip
    a = ok(client, **body)
    # h stays 0, so tanh' = 1 and the RNN's factor is exactly the recurrent diagonal
    model = compare.cell_model(compare.CompareRequest(**body), "rnn", 3)
    diag = np.abs(np.diag(model["weights"]["weight_hh_l0"]))
    assert a["cells"]["rnn"]["hochreiter"]["typical"] == pytest.approx(np.median(diag))
    assert a["cells"]["rnn"]["hochreiter"]["max"] == pytest.approx(diag.max())


def test_text_input_works_as_on_the_trace_api(client):
    a = ok(client, input={"text": "hello"}, cells=["gru"], hidden_size=3)
    assert a["input_size"] == 4 and a["steps"] == 5


@pytest.mark.parametrize(
    "body,loc",
    [
        ({"hidden_size": 0}, ["body", "hidden_size"]),
        ({"hidden_size": 513}, ["body", "hidden_size"]),
        ({"recurrent_gain": 11}, ["body", "recurrent_gain"]),
        ({"input_scale": -1}, ["body", "input_scale"]),
        ({"cells": ["lstm", "lstm"]}, ["body", "cells"]),
        ({"cells": []}, ["body", "cells"]),
        ({"cells": ["transformer"]}, ["body", "cells", 0]),
        ({"lstm_variant": "deep"}, ["body", "lstm_variant"]),
        ({"surprise": 1}, ["body", "surprise"]),
        ({"input": {"task": {"name": "sine", "length": 10001}}}, ["body", "input"]),
        ({"input": {"text": "ab", "task": {"name": "sine"}}}, ["body", "input"]),
        ({"input": {"sequence": []}}, ["body", "input"]),
        ({"clamp": [{"t": [99], "gate": "f", "value": 1.0}]}, ["body", "clamp"]),
        ({"clamp": [{"t": [0], "gate": "z", "value": 1.0}]}, ["body", "clamp", 0, "gate"]),
        ({"clamp": [{"t": [0], "gate": "f", "value": 1.0}], "cells": ["rnn"]}, ["body", "clamp"]),
    ],
)
def test_bad_input_is_a_422_naming_the_field(client, body, loc):
    r = post(client, **body)
    assert r.status_code == 422, r.text
    locs = [d["loc"][: len(loc)] for d in r.json()["detail"]]
    assert loc in locs, r.json()


def test_the_work_budget_is_checked_before_any_work(client):
    r = post(client, input={"task": {"name": "sine", "length": 10000}}, hidden_size=512)
    assert r.status_code == 422
    assert "budget" in r.json()["detail"][0]["msg"]


def test_the_page_is_served_with_its_modules(client):
    r = client.get("/compare")
    assert r.status_code == 200
    assert '<script type="module" src="/static/js/compare.js">' in r.text
    assert 'aria-current="page"' in r.text
    assert "onclick" not in r.text and "<script>" not in r.text  # CSP: no inline script
    for path in ("js/compare.js", "js/compare-state.js", "js/compare-chart.js",
                 "js/compare-cards.js", "css/compare.css"):  # fmt: skip
        assert client.get(f"/static/{path}").status_code == 200


def test_trained_weights_replace_one_network_and_are_used_as_they_are(client):
    from app.engine import trace
    from app.engine.params import init_params, spec_from_dict
    from app.engine.training.tasks import generate

    model = {"cell": "lstm", "input_size": 3, "hidden_size": 5, "output_size": 2,
             "init": {"seed": 42, "forget_bias": 2.0}}  # fmt: skip
    params = init_params(spec_from_dict(model))  # readout included: the lab ignores it
    weights = {k: v.tolist() for k, v in params.items()}
    a = ok(client, hidden_size=5, forget_bias=7.0, weights={"lstm": weights})
    X, _ = generate("random", 30, 1, 0)
    bare = {k: v for k, v in params.items() if not k.startswith("readout.")}
    want = trace({**model, "output_size": None, "weights": bare}, X[0])
    log10 = want.layers[0].grad_h_log10_norm[::-1]
    np.testing.assert_allclose(arr(a["cells"]["lstm"]["grad_h_log10"]), log10 - log10[0],
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    fresh = ok(client, hidden_size=5, forget_bias=7.0)  # the other networks are untouched
    assert a["cells"]["gru"]["grad_h_log10"] == fresh["cells"]["gru"]["grad_h_log10"]
    assert a["cells"]["lstm"]["grad_h_log10"] != fresh["cells"]["lstm"]["grad_h_log10"]


def test_trained_weights_that_do_not_fit_are_a_422_naming_the_cell(client):
    model = {"cell": "gru", "input_size": 2, "hidden_size": 5}  # input width 2, not 3
    from app.engine.params import init_params, spec_from_dict

    weights = {k: v.tolist() for k, v in init_params(spec_from_dict(model)).items()}
    r = post(client, hidden_size=5, weights={"gru": weights})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "weights", "gru"]
    r = post(client, hidden_size=5, cells=["rnn", "lstm"], weights={"gru": weights})
    assert r.status_code == 422 and "not among" in r.json()["detail"][0]["msg"]
