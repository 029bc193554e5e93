"""Helpers of the package tests: a small model, and the check that a command's output holds
the engine's numbers."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from app.engine import Trace
from app.engine.params import init_params, spec_from_dict


def small_model(cell: str = "lstm", **extra: Any) -> dict[str, Any]:
    """A 2-layer model with a readout and explicit weights (lists), D = 3, H = 4, O = 2."""
    model = {"cell": cell, "input_size": 3, "hidden_size": 4, "num_layers": 2, "output_size": 2,
             "init": {"seed": 7}, **extra}  # fmt: skip
    params = init_params(spec_from_dict(model))
    return {**model, "weights": {k: v.tolist() for k, v in params.items()}}


LAYER_FIELDS = ("h", "c", "grad_h", "grad_c", "grad_h_norm", "grad_c_norm",
                "grad_h_log10_norm", "grad_c_log10_norm")  # fmt: skip


def assert_json_is_trace(answer: dict[str, Any], trace: Trace) -> None:
    """The JSON answer holds the trace's numbers exactly (float64 JSON round-trips)."""
    assert answer["cell"] == trace.cell and answer["steps"] == trace.steps
    assert answer["loss"] == trace.loss
    np.testing.assert_array_equal(np.array(answer["inputs"]), trace.inputs)
    if trace.outputs is not None:
        np.testing.assert_array_equal(np.array(answer["outputs"]), trace.outputs)
    assert len(answer["layers"]) == len(trace.layers)
    for got, want in zip(answer["layers"], trace.layers, strict=True):
        assert set(got["gates"]) == set(want.gates)
        for g, values in want.gates.items():
            np.testing.assert_array_equal(np.array(got["gates"][g]), values)
        for name in LAYER_FIELDS:
            value = getattr(want, name)
            if value is None:
                assert got[name] is None
            else:
                np.testing.assert_array_equal(np.array(got[name]), value, err_msg=name)


def assert_npz_is_trace(npz: Any, trace: Trace, dtype: str) -> None:
    """The .npz holds the trace's arrays bit for bit, in the run's dtype, under the contract's
    flattened names, with the scalars in meta.json."""
    meta = json.loads(npz["meta.json"])
    assert meta["cell"] == trace.cell and meta["steps"] == trace.steps
    assert meta["dtype"] == dtype
    assert meta["loss"] == trace.loss
    expected: dict[str, np.ndarray] = {"inputs": trace.inputs}
    if trace.outputs is not None:
        expected["outputs"] = trace.outputs
    for k, layer in enumerate(trace.layers):
        expected.update({f"layers/{k}/gates/{g}": v for g, v in layer.gates.items()})
        for name in LAYER_FIELDS:
            if getattr(layer, name) is not None:
                expected[f"layers/{k}/{name}"] = getattr(layer, name)
            else:
                assert meta[f"layers/{k}/{name}"] is None
    expected.update({f"param_grads/{n}": g for n, g in trace.param_grads.items()})
    assert set(npz.files) == {*expected, "meta.json"}
    for name, want in expected.items():
        got = npz[name]
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    if dtype == "float32":
        assert npz["layers/0/h"].dtype == np.float32
