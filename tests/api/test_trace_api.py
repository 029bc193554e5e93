"""POST /api/trace, WS /ws/trace, POST /api/weights and the headers, through TestClient."""

import io
import json
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.engine import trace
from app.engine.params import init_params, spec_from_dict
from app.main import app

client = TestClient(app)
BODY = {"model": {"cell": "lstm", "hidden_size": 4, "num_layers": 2, "init": {"seed": 3}},
        "input": {"text": "hello world"}}  # fmt: skip


def strict_json(text: str):
    """Parse rejecting NaN/Infinity, as a browser's JSON.parse does."""

    def refuse(token):
        raise AssertionError(f"bare {token} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_healthz_answers_ok():
    assert client.get("/healthz").json() == {"status": "ok"}


def test_trace_answer_equals_the_engine_and_has_every_field():
    r = client.post("/api/trace", json=BODY)
    assert r.status_code == 200
    data = strict_json(r.text)
    alphabet = " dehlorw"
    assert data["alphabet"] == alphabet and data["input_size"] == len(alphabet)
    X = np.eye(len(alphabet))[[alphabet.index(ch) for ch in "hello world"]]
    model = {**BODY["model"], "input_size": len(alphabet)}
    tr = trace(model, X)
    assert data["steps"] == 11 and data["num_layers"] == 2 and data["cell"] == "lstm"
    assert data["loss"] == tr.loss
    for got, want in zip(data["layers"], tr.layers, strict=True):
        for g in "ifgo":
            assert np.array_equal(np.array(got["gates"][g]), want.gates[g])
        for key in ("c", "h", "grad_h", "grad_c", "grad_h_norm", "grad_c_log10_norm"):
            assert np.array_equal(np.array(got[key]), getattr(want, key)), key
    assert data["nonfinite"] is None


def test_a_long_answer_streams_in_parts_equal_to_the_whole_and_frees_its_slot():
    """The answer is sent part by part as it is written; together the parts are the JSON of
    the trace, and the run's slot is free again once the answer is written."""
    body = {"model": {"cell": "lstm", "hidden_size": 64},
            "input": {"task": {"name": "random", "length": 1000, "seed": 0}}}  # fmt: skip
    plain = {"Accept-Encoding": "identity"}
    with client.stream("POST", "/api/trace", json=body, headers=plain) as r:
        assert r.status_code == 200
        chunks = list(r.iter_raw())  # as sent (test_wire.py: the same, gzipped part by part)
    assert len(chunks) > 3  # ~10 MiB in parts of about 1 MiB
    data = strict_json(b"".join(chunks).decode())
    X = np.array(data["inputs"])
    tr = trace({**body["model"], "input_size": X.shape[1]}, X)
    assert np.array_equal(np.array(data["layers"][0]["grad_c"]), tr.layers[0].grad_c)
    assert app.state.slots.active == 0


def test_a_forward_failure_is_a_500_before_any_byte_and_frees_its_slot(monkeypatch):
    from app.engine import Run

    def broken(self):
        raise RuntimeError("engine failure")

    monkeypatch.setattr(Run, "forward", broken)
    quiet = TestClient(app, raise_server_exceptions=False)
    r = quiet.post("/api/trace", json=BODY)
    assert r.status_code == 500
    assert app.state.slots.active == 0


def test_a_backward_failure_cuts_the_streamed_answer_short_and_frees_its_slot(monkeypatch):
    """The forward pass's part of the answer is already out when the backward pass runs: a
    failure there can only break the body, never pass for a whole answer."""
    from app.engine import Run

    def broken(self):
        raise RuntimeError("engine failure")

    monkeypatch.setattr(Run, "backward", broken)
    quiet = TestClient(app, raise_server_exceptions=False)
    # (gzip: httpx's zstd decoder refuses a cut stream outright, test_wire.py checks that)
    r = quiet.post("/api/trace", json=BODY, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.content.startswith(b'{"cell":"lstm"')  # the forward part
    with pytest.raises(ValueError):
        json.loads(r.content)  # and no more
    assert app.state.slots.active == 0


def test_float32_values_are_sent_at_float32_precision():
    r = client.post("/api/trace", json={**BODY, "dtype": "float32"})
    h = r.json()["layers"][0]["h"][0][0]
    assert np.float32(h) == h  # round-trips exactly through float32
    assert len(repr(h)) <= 12  # shortest float32 repr, not a float64 expansion


def test_input_size_that_disagrees_with_the_text_is_a_422_naming_both():
    body = {**BODY, "model": {**BODY["model"], "input_size": 3}}
    r = client.post("/api/trace", json=body)
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", "model", "input_size"]
    assert "3" in detail["msg"] and "8" in detail["msg"]


@pytest.mark.parametrize(
    "patch,loc,words",
    [
        ({"model": {"hidden_size": 513}}, ["body", "model", "hidden_size"], "512"),
        ({"model": {"num_layers": 5}}, ["body", "model", "num_layers"], "4"),
        ({"input": {"task": {"name": "sine", "length": 10001}}}, ["body", "input"], "10000"),
        (
            {
                "model": {"hidden_size": 512, "num_layers": 4},
                "input": {"task": {"name": "sine", "length": 9000}},
            },
            ["body"],
            "budget",
        ),  # fmt: skip
    ],
)
def test_limits_answer_422_naming_the_field_and_the_limit(patch, loc, words):
    body = {"model": {"cell": "lstm", **patch.get("model", {})},
            "input": patch.get("input", {"text": "abc"})}  # fmt: skip
    r = client.post("/api/trace", json=body)
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["loc"] == loc and words in detail["msg"]


def test_schema_errors_name_the_field():
    r = client.post("/api/trace", json={"model": {"cell": "transformer"}, "input": {"text": "a"}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "model", "cell"]
    r = client.post("/api/trace", json={"input": {"text": "a", "sequence": [[1.0]]}})
    assert r.status_code == 422 and "exactly one" in r.json()["detail"][0]["msg"]


def test_bad_clamp_is_a_422_from_the_engine():
    body = {**BODY, "clamp": [{"t": 99, "gate": "f", "value": 1.0}]}
    r = client.post("/api/trace", json=body)
    assert r.status_code == 422 and "clamp[0].t" in r.json()["detail"][0]["msg"]


def test_clamp_holds_the_gate_in_the_answer():
    body = {**BODY, "clamp": [{"t": [2, 3], "gate": "f", "value": 1.0}]}
    f = np.array(client.post("/api/trace", json=body).json()["layers"][0]["gates"]["f"])
    assert np.all(f[2:4] == 1.0) and np.all(f[[0, 1, 4]] < 1.0)


def test_exploding_gradient_is_sent_as_null_with_a_note_and_exact_log10():
    w = init_params(spec_from_dict({"cell": "rnn", "input_size": 1, "hidden_size": 4,
                                    "init": {"recurrent_init": "orthogonal"}}))  # fmt: skip
    w["weight_hh_l0"] *= 3.0  # orthogonal, gain 3: ||dL/dh|| grows 3^k, passes 1e308 by k=646
    w["bias_ih_l0"][:] = 0
    w["bias_hh_l0"][:] = 0
    weights = {k: v.tolist() for k, v in w.items()}
    body = {"model": {"cell": "rnn", "hidden_size": 4, "weights": weights},
            "input": {"sequence": [[0.0]] * 800}}  # fmt: skip
    r = client.post("/api/trace", json=body)
    data = strict_json(r.text)
    layer = data["layers"][0]
    assert layer["grad_h_norm"][0] is None  # 3^799 overflows float64
    assert data["nonfinite"]["field"] == "grad_h" and data["nonfinite"]["t"] == 0
    log10 = np.array(layer["grad_h_log10_norm"])
    np.testing.assert_allclose(log10[0] - log10[-1], 799 * np.log10(3.0), rtol=1e-9)


def _frames(ws, n):
    return [strict_json(ws.receive_text()) for _ in range(n)]


def test_websocket_streams_start_steps_grads_end_equal_to_post():
    post = client.post("/api/trace", json=BODY).json()
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps(BODY))
        frames = _frames(ws, 1 + 11 + 11 + 1)
        with pytest.raises(WebSocketDisconnect):
            ws.receive_text()
    kinds = [f["type"] for f in frames]
    assert kinds == ["start"] + ["step"] * 11 + ["grad"] * 11 + ["end"]
    assert [f["t"] for f in frames[1:12]] == list(range(11))
    assert [f["t"] for f in frames[12:23]] == list(reversed(range(11)))
    assert frames[0]["gates"] == ["i", "f", "g", "o"] and frames[0]["inputs"] == post["inputs"]
    for f in frames[1:12]:
        for k, layer in enumerate(f["layers"]):
            assert layer["h"] == post["layers"][k]["h"][f["t"]]
            assert layer["gates"]["f"] == post["layers"][k]["gates"]["f"][f["t"]]
    for f in frames[12:23]:
        for k, layer in enumerate(f["layers"]):
            assert layer["grad_c"] == post["layers"][k]["grad_c"][f["t"]]
            assert layer["grad_h_log10_norm"] == post["layers"][k]["grad_h_log10_norm"][f["t"]]
    assert frames[-1]["loss"] == post["loss"]


def test_websocket_bad_input_sends_an_error_frame_and_closes_1008():
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps({"model": {"hidden_size": 9999}, "input": {"text": "ab"}}))
        frame = strict_json(ws.receive_text())
        assert frame["type"] == "error" and "512" in json.dumps(frame["detail"])
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1008
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text("{not json")
        assert strict_json(ws.receive_text())["type"] == "error"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1008


def test_a_client_that_leaves_mid_stream_costs_nothing_afterwards():
    body = {"model": {"hidden_size": 8}, "input": {"task": {"name": "sine", "length": 2000}}}
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps(body))
        assert strict_json(ws.receive_text())["type"] == "start"
        strict_json(ws.receive_text())
    # the server noticed and released its run slot (it may still be finishing the pass it was
    # in when the client left: the TestClient buffers every frame, so the server runs ahead);
    # it still answers others
    deadline = time.monotonic() + 5
    while app.state.slots.active and time.monotonic() < deadline:
        time.sleep(0.01)
    assert app.state.slots.active == 0
    assert client.get("/healthz").status_code == 200


def test_live_mode_adds_one_step_per_typed_character_and_matches_the_whole_run():
    body = {"model": {"hidden_size": 3, "init": {"seed": 1}},
            "input": {"text": "ab", "alphabet": "abc"}, "live": True}  # fmt: skip
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps(body))
        start, s0, s1, ready = _frames(ws, 4)
        assert start["live"] is True and ready == {"type": "ready", "t": 2}
        ws.send_json({"type": "input", "char": "c"})
        s2 = strict_json(ws.receive_text())
        assert s2["type"] == "step" and s2["t"] == 2
        ws.send_json({"type": "input", "char": "z"})
        err = strict_json(ws.receive_text())
        assert err["type"] == "error" and "alphabet" in err["detail"]
        ws.send_json({"type": "backward"})
        grads = _frames(ws, 4)
        assert [g["t"] for g in grads[:3]] == [2, 1, 0] and grads[3]["type"] == "end"
    whole_body = {"model": body["model"], "input": {"text": "abc", "alphabet": "abc"}}
    whole = client.post("/api/trace", json=whole_body).json()
    for f in (s0, s1, s2):
        np.testing.assert_allclose(f["layers"][0]["h"], whole["layers"][0]["h"][f["t"]], rtol=1e-15)
    assert grads[0]["layers"][0]["grad_c"] == whole["layers"][0]["grad_c"][2]


def test_weights_upload_round_trips_into_a_trace():
    from app.engine.formats.weights import save_weights

    model = {"cell": "gru", "input_size": 2, "hidden_size": 3, "init": {"seed": 5}}
    params = init_params(spec_from_dict(model))
    data = save_weights(params, "safetensors")
    r = client.post("/api/weights", files={"file": ("m.safetensors", io.BytesIO(data))})
    assert r.status_code == 200
    got = r.json()
    assert got["cell"] == "gru" and got["hidden_size"] == 3 and got["input_size"] == 2
    seq = [[0.5, -1.0], [1.0, 0.0]]
    body = {"model": got, "input": {"sequence": seq}}  # the answer opens as it is
    answer = client.post("/api/trace", json=body).json()
    assert answer["loss"] == trace(model, np.array(seq)).loss


def test_weights_upload_refuses_a_pickle_with_400():
    r = client.post("/api/weights", files={"file": ("model.pt", io.BytesIO(b"\x80\x04K\x01."))})
    assert r.status_code == 400 and "pickle" in r.json()["detail"][0]["msg"]


def test_oversized_body_is_413():
    r = client.post("/api/trace", content=b"x" * (9 * 2**20),
                    headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 413


def test_security_headers_on_pages_and_api():
    for path in ("/healthz", "/api/trace"):
        r = client.get(path) if path == "/healthz" else client.post(path, json=BODY)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-eval" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_websocket_from_a_foreign_origin_is_refused():
    headers = {"origin": "http://evil.example"}
    with pytest.raises(WebSocketDisconnect) as closed:
        with client.websocket_connect("/ws/trace", headers=headers) as ws:
            ws.receive_text()
    assert closed.value.code == 1008
    with client.websocket_connect("/ws/trace", headers={"origin": "http://testserver"}) as ws:
        ws.send_text(json.dumps(BODY))
        assert strict_json(ws.receive_text())["type"] == "start"


def test_live_mode_survives_a_malformed_message():
    body = {"model": {"hidden_size": 3}, "input": {"text": "", "alphabet": "ab"}, "live": True}
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps(body))
        assert strict_json(ws.receive_text())["type"] == "start"
        assert strict_json(ws.receive_text()) == {"type": "ready", "t": 0}
        ws.send_text("{broken")
        assert strict_json(ws.receive_text())["type"] == "error"
        ws.send_json({"type": "input", "char": "a"})
        assert strict_json(ws.receive_text())["t"] == 0


TRAVERSALS = ["/static/..%2f..%2fapp%2fmain.py", "/static/%2e%2e/README.md",
              "/static/..\\app\\main.py", "/static/js/main.js%00.png"]  # fmt: skip


@pytest.mark.parametrize("path", TRAVERSALS)
def test_static_traversal_attempts_are_404(path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("fmt", ["safetensors", "npz"])
def test_a_model_exports_to_a_weight_file_that_opens_again(fmt):
    model = {"cell": "lstm", "input_size": 2, "hidden_size": 3, "output_size": 1,
             "init": {"seed": 2}}  # fmt: skip
    weights = {k: v.tolist() for k, v in init_params(spec_from_dict(model)).items()}
    r = client.post("/api/weights/export", json={"model": {**model, "weights": weights},
                                                 "format": fmt})  # fmt: skip
    assert r.status_code == 200 and fmt in r.headers["content-disposition"]
    back = client.post("/api/weights", files={"file": (f"m.{fmt}", io.BytesIO(r.content))}).json()
    assert back["weights"] == weights and back["output_size"] == 1


def test_export_without_weights_or_with_bad_shapes_is_a_422():
    r = client.post("/api/weights/export", json={"model": {"cell": "lstm"}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "model", "weights"]
    bad = {"cell": "rnn", "input_size": 1, "hidden_size": 2,
           "weights": {"weight_ih_l0": [[1.0]], "weight_hh_l0": [[1.0]], "bias_ih_l0": [0.0],
                       "bias_hh_l0": [0.0]}}  # fmt: skip
    r = client.post("/api/weights/export", json={"model": bad})
    assert r.status_code == 422 and "weight_ih_l0" in r.json()["detail"][0]["msg"]
