"""POST /api/trace's binary answer: an .npz of the JSON answer's arrays (app/api/npz.py)."""

import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.api import npz
from app.engine import prepare
from app.main import app

client = TestClient(app)
NPZ = {"Accept": "application/x-npz"}
TEXT = {"model": {"cell": "lstm", "hidden_size": 3, "num_layers": 2},
        "input": {"text": "hello world"}}  # fmt: skip
LM = {"model": {"cell": "lstm", "hidden_size": 4, "embedding": {"num_embeddings": 6,
                "embedding_dim": 3}, "output_size": 6},
      "input": {"tokens": [0, 3, 5, 1, 2]}}  # fmt: skip


def load(content: bytes):
    return np.load(io.BytesIO(content))  # allow_pickle=False: numpy's default


def json_arrays(obj, name=""):
    """path -> list for every array of a JSON answer (a list of numbers, nested or not)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out |= json_arrays(v, f"{name}/{k}" if name else k)
        return out
    if isinstance(obj, list) and obj and all(isinstance(v, dict) for v in obj):
        out = {}
        for n, v in enumerate(obj):
            out |= json_arrays(v, f"{name}/{n}")
        return out
    return {name: obj} if isinstance(obj, list) else {}


def without_arrays(obj):
    """The answer without its arrays, and without the objects that held only arrays."""
    if isinstance(obj, dict):
        out = {k: without_arrays(v) for k, v in obj.items() if not is_array(v)}
        return {k: v for k, v in out.items() if v != {} or obj[k] == {}}
    if isinstance(obj, list) and obj and all(isinstance(v, dict) for v in obj):
        return [without_arrays(v) for v in obj]
    return obj


def is_array(value):
    return isinstance(value, list) and not (value and all(isinstance(v, dict) for v in value))


@pytest.mark.parametrize("body", [TEXT, LM], ids=["two-layer text", "embedding LM"])
def test_every_array_of_the_json_answer_is_in_the_npz_under_its_path_and_equal(body):
    answer = client.post("/api/trace", json=body).json()
    r = client.post("/api/trace", json=body, headers=NPZ)
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-npz"
    z = load(r.content)
    arrays = json_arrays(answer)
    assert "layers/0/gates/f" in arrays and "layers/0/c" in arrays  # the contract's names
    grads = {n for n in z.files if n.startswith("param_grads/")}
    assert set(z.files) - grads == set(arrays) | {"meta.json"}
    for name, values in arrays.items():
        got = z[name]
        assert got.dtype != object
        if got.dtype.kind != "f":
            assert np.array_equal(got, np.array(values, dtype=got.dtype)), name
            continue
        # JSON sends every non-finite number as null (a next-token loss has no gradient at the
        # last step: its log10 norm is -inf); the npz keeps the number itself
        flat = np.ravel(np.array(values, dtype=object))
        nulls = np.array([v is None for v in flat]).reshape(got.shape)
        want = np.array([np.nan if v is None else v for v in flat], dtype=got.dtype)
        want = want.reshape(got.shape)
        assert np.array_equal(~np.isfinite(got), nulls), name
        assert np.array_equal(got[~nulls], want[~nulls]), name
    meta = json.loads(z["meta.json"])
    assert meta == without_arrays(answer)  # the scalars: cell, steps, loss, nonfinite, ...
    assert meta["layers"][-1] == {"layer": len(meta["layers"]) - 1, "direction": "forward"}


def test_param_grads_are_the_engines_under_their_pytorch_names():
    z = load(client.post("/api/trace", json={**LM, "format": "npz"}).content)
    run = prepare({**LM["model"], "input_size": 3}, np.array(LM["input"]["tokens"]))
    want = run.backward().param_grads
    assert {f"param_grads/{k}" for k in want} == {n for n in z.files if "param_grads" in n}
    assert "param_grads/weight_hh_l0" in z.files
    for k, v in want.items():
        assert np.array_equal(z[f"param_grads/{k}"], v), k


def test_float32_arrays_are_float32_on_the_wire_four_bytes_a_number():
    body = {"model": {"hidden_size": 32}, "input": {"task": {"name": "random", "length": 200}},
            "dtype": "float32"}  # fmt: skip
    r = client.post("/api/trace", json=body, headers=NPZ)
    z = load(r.content)
    h = z["layers/0/h"]
    assert h.dtype == np.float32 and h.shape == (200, 32)
    stored = z.zip.getinfo("layers/0/h.npy").file_size
    assert h.nbytes == 4 * h.size and stored - h.nbytes <= 128  # the .npy header, no more
    json_bytes = len(client.post("/api/trace", json=body).content)
    assert len(r.content) < json_bytes / 2
    as_json = client.post("/api/trace", json=body).json()["layers"][0]["h"]
    assert np.array_equal(h, np.array(as_json, dtype=np.float32))


def test_a_non_finite_value_survives_where_json_sends_null():
    """A one-unit tanh RNN with w_hh = 10 at h = 0: dL/dh grows 10x a step back and passes
    float32's 3.4e38 within 40 steps."""
    weights = {"weight_ih_l0": [[1.0]], "weight_hh_l0": [[10.0]],
               "bias_ih_l0": [0.0], "bias_hh_l0": [0.0]}  # fmt: skip
    body = {"model": {"cell": "rnn", "hidden_size": 1, "weights": weights},
            "input": {"sequence": [[0.0]] * 60}, "dtype": "float32"}  # fmt: skip
    data = client.post("/api/trace", json=body).json()
    z = load(client.post("/api/trace", json=body, headers=NPZ).content)
    grad = z["layers/0/grad_h"]
    assert grad.dtype == np.float32 and np.isinf(grad[0, 0]) and np.isfinite(grad[-1, 0])
    nulls = [row[0] is None for row in data["layers"][0]["grad_h"]]
    assert nulls == list(~np.isfinite(grad[:, 0]))
    assert json.loads(z["meta.json"])["nonfinite"] == data["nonfinite"]


def test_the_format_field_and_the_accept_header_choose_and_are_cached_apart():
    as_json = client.post("/api/trace", json={**TEXT, "format": "json"}, headers=NPZ)
    assert as_json.headers["content-type"] == "application/json"
    as_npz = client.post("/api/trace", json={**TEXT, "format": "npz"})
    assert as_npz.headers["content-type"] == "application/x-npz"
    again = client.post("/api/trace", json=TEXT, headers=NPZ)
    assert again.content == as_npz.content  # the same answer, kept
    assert "content-encoding" not in again.headers  # binary: never gzipped (see test_wire)
    assert again.headers["content-length"] == str(len(again.content))
    stats = app.state.cache.stats()
    assert stats["misses"] == 2 and stats["hits"] == 1 and stats["entries"] == 2


def test_accept_is_read_with_its_q_values():
    assert npz.wanted("application/x-npz") and npz.wanted("application/x-npz, */*;q=0.1")
    assert npz.wanted("application/json;q=0.5, application/x-npz")
    assert not npz.wanted("application/json, application/x-npz")  # a tie: JSON
    assert not npz.wanted("application/x-npz;q=0") and not npz.wanted("*/*")
    assert not npz.wanted("")


def test_an_array_of_python_objects_is_refused_not_pickled():
    with pytest.raises(TypeError, match="a/b"):
        npz.npz_bytes({"a": {"b": np.array([{}, 1], dtype=object)}})


def test_the_openapi_docs_describe_the_npz_answer_and_the_format_field():
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/api/trace"]["post"]
    ok = post["responses"]["200"]
    assert set(ok["content"]) == {"application/json", "application/x-npz"}
    assert "layers/0/gates/f" in ok["description"] and "np.load" in ok["description"]
    fmt = spec["components"]["schemas"]["TraceRequest"]["properties"]["format"]
    assert "npz" in json.dumps(fmt) and "Accept" in fmt["description"]


@pytest.mark.parametrize("body", [TEXT, LM], ids=["two-layer text", "embedding LM"])
def test_the_streamed_json_answer_is_the_answer_object_the_npz_flattens(body):
    """serialize.trace_parts writes the answer as it is computed; trace_answer is the same
    answer as one object: a field added to one and not the other fails here."""
    from app.api import serialize
    from app.api.runs import build_run
    from app.api.schemas import TraceRequest
    from app.settings import get_settings

    req = TraceRequest.model_validate(body)
    run, extra = build_run(req, get_settings())
    streamed = b"".join(serialize.trace_parts(run, extra))
    run, extra = build_run(req, get_settings())
    assert streamed == serialize.dumps(serialize.trace_answer(run, run.backward(), extra))
