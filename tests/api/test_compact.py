"""The step page's compact frames: the heatmaps' values rounded to what they print, the norms
exact, and the exact columns and reading counts of the view each client shows."""

import json
import time
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.api import binframes
from app.main import app

client = TestClient(app)
BODY = {"model": {"hidden_size": 5, "num_layers": 2},
        "input": {"task": {"name": "sine", "length": 30}}}  # fmt: skip
VIEW = {"layer": 1, "unit": 3, "lo": 0.3, "hi": 0.6}


def fixed4(v: float) -> int:
    """What Number.prototype.toFixed(4) prints of v, as an integer: the integer nearest to
    v·10^4 on v's exact binary value, ties away from zero (ECMA-262, Number.prototype.toFixed)."""
    return int(Decimal(v).scaleb(4).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def read_all(ws):
    """Frames up to and including "end": (kind, header, arrays) or (kind, json, None)."""
    out = []
    while True:
        msg = ws.receive()
        if "text" in msg:
            frame = json.loads(msg["text"])
            out.append((frame["type"], frame, None))
            if frame["type"] in ("end", "error"):
                return out
        else:
            head, arrays = binframes.read_frame(msg["bytes"])
            out.append((head["type"], head, arrays))


def next_frames(ws, n):
    frames = []
    for _ in range(n):
        msg = ws.receive()
        text = msg.get("text")
        frames.append(json.loads(text) if text else binframes.read_frame(msg["bytes"]))
    return frames


def stream(body, view=None):
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps({**body, "frames": "compact", **({"view": view} if view else {})}))
        return read_all(ws)


def test_rounding_is_the_one_to_fixed_prints_ties_and_negatives_included():
    ties = [0.03125, -0.03125, 0.00005, 1.00005, -2.71828, 0.99995, 1 / 3, -0.0, 5e-5, 4.9999e-5]
    rng = np.random.default_rng(0)
    values = np.concatenate([ties, rng.uniform(-3, 3, 20000), rng.integers(-30000, 30000, 500) / 1e4
                             + 5e-5, rng.standard_normal(100).astype(np.float32)])  # fmt: skip
    got = binframes.rounded(values)
    want = [fixed4(float(v)) for v in values]
    assert got.tolist() == want
    assert binframes.rounded(np.array([0.03125]))[0] == 313  # an exact tie goes up, as toFixed
    assert np.isnan(binframes.rounded(np.array([np.nan, np.inf]))).all()


def test_heat_takes_the_smallest_integer_type_and_marks_non_finite_values():
    small = binframes.heat(np.array([[0.5, -1.0], [np.nan, 3.2767]]))
    assert small.dtype == np.int16 and small.tolist() == [[5000, -10000], [-32768, 32767]]
    big = binframes.heat(np.array([3.2768, -100.0]))
    assert big.dtype == np.int32 and big.tolist() == [32768, -1000000]
    huge = binframes.heat(np.array([1e6, 2.0]))
    assert huge.dtype == np.float64 and huge.tolist() == [1e6, 2.0]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_compact_stream_holds_exact_columns_of_the_view_and_rounded_heatmaps(dtype):
    body = {**BODY, "dtype": dtype}
    post = client.post("/api/trace", json=body).json()
    frames = stream(body, VIEW)
    kinds = [k for k, _, _ in frames]
    assert kinds[0] == "start" and kinds[-1] == "end" and "error" not in kinds
    assert frames[-1][1]["loss"] == post["loss"]
    run = np.dtype(dtype).newbyteorder("<")
    steps = [(h, a) for k, h, a in frames if k == "steps"]
    for k, want in enumerate(post["layers"]):
        for name, rows in [("gates.f", want["gates"]["f"]), ("gates.g", want["gates"]["g"]),
                           ("c", want["c"]), ("h", want["h"])]:  # fmt: skip
            got = np.concatenate([a[name, k].reshape(h["n"], 5) for h, a in steps])
            assert got.dtype == np.dtype("int16").newbyteorder("<") and steps[0][0]["decimals"] == 4
            # the digits toFixed(4) prints of the exact value (float32: as a Float32Array reads)
            exact = np.array(rows, dtype=dtype).astype(np.float64)
            assert got.tolist() == [[fixed4(float(v)) for v in row] for row in exact], name
        norms = [a for kind, _, a in frames if kind == "grads"]
        for name in ("grad_h_log10_norm", "grad_c_norm"):
            got = np.concatenate([a[name, k] for a in norms])
            assert np.array_equal(got, np.array(want[name], dtype=got.dtype)), name
    # the view's unit, exact in the run's dtype, and no other unit
    columns = [(h, a) for k, h, a in frames if k == "columns"]
    assert {(h["layer"], h["unit"]) for h, _ in columns} == {(1, 3)}
    want = post["layers"][1]
    for name, rows in [("gates.i", want["gates"]["i"]), ("c", want["c"]), ("h", want["h"]),
                       ("grad_h", want["grad_h"]), ("grad_c", want["grad_c"])]:  # fmt: skip
        (got,) = [a[name, 1] for _, a in columns if (name, 1) in a]
        assert got.dtype == run
        assert np.array_equal(got, np.array(rows, dtype=dtype)[:, 3]), name
    # every column comes before the end; the gradients' after the norms
    assert kinds.index("columns") > max(i for i, k in enumerate(kinds) if k == "steps")
    assert kinds[-2] == "columns" and kinds.index("grads") < len(kinds) - 2


def test_the_reading_counts_are_counted_on_the_exact_values_of_the_layer_shown():
    post = client.post("/api/trace", json=BODY).json()
    frames = stream(BODY, VIEW)
    ((head, arrays),) = [(h, a) for k, h, a in frames if k == "reading"]
    assert (head["layer"], head["lo"], head["hi"], head["n"]) == (1, 0.3, 0.6, 30)
    for g in "ifo":
        f = np.array(post["layers"][1]["gates"][g])
        closed, opened = (f < 0.3).sum(axis=1), (f > 0.6).sum(axis=1)
        assert arrays[f"closed.{g}", 1].tolist() == closed.tolist()
        assert arrays[f"open.{g}", 1].tolist() == opened.tolist()
        assert arrays[f"partly.{g}", 1].tolist() == (5 - closed - opened).tolist()
    assert ("closed.g", 1) not in arrays  # g is a tanh: no reading


def test_a_view_message_brings_another_units_columns_and_counts_and_the_socket_stays_open():
    post = client.post("/api/trace", json=BODY).json()
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps({**BODY, "frames": "compact", "view": VIEW}))
        read_all(ws)
        ws.send_text(json.dumps({"type": "view", "layer": 0, "unit": 2, "lo": 0.5, "hi": 0.9}))
        (h1, fwd), (h2, back), (h3, reading) = next_frames(ws, 3)
        kinds = (h1["type"], h1["unit"], h2["type"], h3["type"])
        assert kinds == ("columns", 2, "columns", "reading")
        want = post["layers"][0]
        assert fwd["gates.o", 0].tolist() == [row[2] for row in want["gates"]["o"]]
        assert back["grad_c", 0].tolist() == [row[2] for row in want["grad_c"]]
        f = np.array(want["gates"]["f"])
        assert reading["open.f", 0].tolist() == (f > 0.9).sum(axis=1).tolist()
        # the mean: every unit of the layer, each sent once (unit 2 came already)
        ws.send_text(json.dumps({"type": "view", "layer": 0, "unit": "mean", "lo": 0.5, "hi": 0.9}))
        sent = next_frames(ws, 8)
        assert sorted(h["unit"] for h, _ in sent) == [0, 0, 1, 1, 3, 3, 4, 4]
        # a bad view: a clear error, and the socket stays open
        ws.send_text(json.dumps({"type": "view", "layer": 0, "unit": 7, "lo": 0.5, "hi": 0.9}))
        error = ws.receive_json()
        assert error["type"] == "error" and error["view"] is True
        assert error["detail"] == 'view.unit must be "mean" or a unit of layer 0, 0 to 4'
        ws.send_text(json.dumps({"type": "view", "layer": 2, "unit": 0, "lo": 0.5, "hi": 0.9}))
        assert ws.receive_json()["detail"] == "view.layer must be a trace entry, 0 to 1"
        ws.send_text(json.dumps({"type": "view", "layer": 0, "unit": 0, "lo": 2, "hi": 0.9}))
        assert ws.receive_json()["detail"] == "view.lo: Input should be less than or equal to 1"
        ws.send_text(json.dumps({"type": "view", "layer": 0, "unit": 0, "lo": 0, "hi": 1,
                                 "also": [1, 5]}))  # fmt: skip
        assert ws.receive_json()["detail"] == "view.also must be a list of units of layer 0, 0 to 4"
        ws.send_text("nonsense")
        assert ws.receive_json()["detail"].startswith('expected {"type": "view"')
        ws.send_text(json.dumps({"type": "view", "layer": 1, "unit": 0, "lo": 0.5, "hi": 0.9}))
        (h, _), (h2, _) = next_frames(ws, 2)[:2]
        assert (h["layer"], h["unit"], h2["layer"]) == (1, 0, 1)


def test_without_a_view_a_client_gets_the_shared_frames_only_and_views_share_one_computation():
    app.state.cache.clear()
    plain = stream(BODY)
    while app.state.cache.stats()["computing"]:  # "end" is read before the answer is kept
        time.sleep(0.01)
    assert {k for k, _, _ in plain} == {"start", "steps", "grads", "end"}
    other = stream(BODY, {**VIEW, "unit": "mean"})
    assert {(h["layer"], h["unit"]) for k, h, _ in other if k == "columns"} == {
        (1, u) for u in range(5)}  # fmt: skip
    stats = app.state.cache.stats()
    assert stats["misses"] == 1 and stats["hits"] == 1


def test_a_compact_stream_is_far_smaller_than_the_exact_numbers():
    body = {"model": {"hidden_size": 64}, "input": {"task": {"name": "random", "length": 1000}}}
    sent = 0
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps({**body, "frames": "compact", "view": {"unit": 5}}))
        while True:
            msg = ws.receive()
            sent += len(msg.get("bytes") or msg.get("text", "").encode())
            if msg.get("text", "").startswith('{"type":"end"'):
                break
    exact = 1000 * 64 * 8 * 8  # gates, c, h, dL/dh, dL/dc of every unit in float64
    assert sent < 0.25 * exact
    assert sent < 1 * 2**20


def test_a_view_can_ask_for_more_units_columns_as_a_lesson_reads_them():
    frames = stream(BODY, {**VIEW, "also": [0, 3]})
    assert [(h["layer"], h["unit"]) for k, h, _ in frames if k == "columns"] == [
        (1, 0), (1, 3), (1, 0), (1, 3)]  # fmt: skip
