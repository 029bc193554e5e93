"""The fast engine equals the reference implementation (app/engine/reference) to 1e-12 in
float64, for every cell, LSTM variant, loss, stack depth and gate hold; and the reference
itself agrees with central differences."""

import itertools

import numpy as np
import pytest

from app.engine import reference, trace
from app.engine.params import init_params, spec_from_dict

CELLS = [("lstm", v) for v in ("standard", "no_forget_gate", "peephole", "coupled")] + [
    ("gru", "standard"),
    ("rnn", "standard"),
]
LOSSES = [("sum_last", "last"), ("mse", "last"), ("mse", "all"), ("cross_entropy", "last"),
          ("cross_entropy", "all")]  # fmt: skip
T, D, H, O = 6, 3, 4, 3
TOL = 1e-12


def _model(cell, variant, layers, readout, seed=3):
    model = {"cell": cell, "variant": variant, "input_size": D, "hidden_size": H,
             "num_layers": layers, "output_size": O if readout else None,
             "init": {"seed": seed, "forget_bias": 0.5}}  # fmt: skip
    params = init_params(spec_from_dict(model))
    rng = np.random.default_rng(seed + 100)
    for name in params:  # off PyTorch's small uniform range, so every path matters
        params[name] = params[name] + 0.4 * rng.standard_normal(params[name].shape)
    return {**model, "weights": params}


def _loss(kind, at, readout):
    rng = np.random.default_rng(7)
    width = O if readout else H
    if kind == "sum_last":
        return None
    if kind == "mse":
        target = rng.standard_normal((width,) if at == "last" else (T, width))
        return {"kind": "mse", "at": at, "target": target}
    target = 1 if at == "last" else rng.integers(0, width, T).tolist()
    return {"kind": "cross_entropy", "at": at, "target": target}


def _holds(cell):
    if cell == "lstm":
        return [{"t": [1, 3], "gate": "f", "value": 1.0},
                {"t": 2, "gate": "i", "value": 0.0, "units": [0, 2]},
                {"t": [2, 4], "gate": "g", "value": -0.5, "units": [3], "layer": 0},
                {"t": 4, "gate": "o", "value": 0.5, "units": [1]}]  # fmt: skip
    if cell == "gru":
        return [{"t": [1, 2], "gate": "z", "value": 1.0},
                {"t": 3, "gate": "r", "value": 0.2, "units": [1]},
                {"t": 4, "gate": "n", "value": -0.3, "units": [0, 2], "layer": 0}]  # fmt: skip
    return None


def _inputs(seed=11):
    return np.random.default_rng(seed).standard_normal((T, D))


def _assert_close(fast, ref, what):
    fast, ref = np.asarray(fast), np.asarray(ref)
    assert fast.shape == ref.shape, what
    err = float(np.max(np.abs(fast - ref))) if fast.size else 0.0
    assert err <= TOL, f"{what}: engine and reference differ by {err:.3g}"


def _assert_engine_equals_reference(model, X, loss, clamp):
    fast = trace(model, X, loss=loss, dtype="float64", clamp=clamp)
    ref = reference.trace(model, X, loss=loss, clamp=clamp)
    _assert_close(fast.loss, ref["loss"], "loss")
    for k, (lf, lr) in enumerate(zip(fast.layers, ref["layers"], strict=True)):
        assert set(lf.gates) == set(lr["gates"])
        for gate in lf.gates:
            _assert_close(lf.gates[gate], lr["gates"][gate], f"layer {k} gate {gate}")
        for name in ("h", "c", "grad_h", "grad_c"):
            assert (getattr(lf, name) is None) == (lr[name] is None), name
            if lr[name] is not None:
                _assert_close(getattr(lf, name), lr[name], f"layer {k} {name}")
    assert set(fast.param_grads) == set(ref["param_grads"])
    for name, grad in fast.param_grads.items():
        _assert_close(grad, ref["param_grads"][name], f"dL/d{name}")
    _assert_close(fast.grad_inputs, ref["grad_inputs"], "dL/dx")
    _assert_close(fast.grad_h0, ref["grad_h0"], "dL/dh0")
    if fast.grad_c0 is not None:
        _assert_close(fast.grad_c0, ref["grad_c0"], "dL/dc0")


@pytest.mark.parametrize(("cell", "variant"), CELLS)
@pytest.mark.parametrize(("kind", "at"), LOSSES)
def test_engine_equals_reference_for_every_cell_and_loss(cell, variant, kind, at):
    readout = kind != "sum_last" or cell == "gru"  # sum_last also through a readout once
    model = _model(cell, variant, 1, readout)
    _assert_engine_equals_reference(model, _inputs(), _loss(kind, at, readout), None)


@pytest.mark.parametrize(("cell", "variant"), CELLS)
@pytest.mark.parametrize("layers", [1, 3])
def test_engine_equals_reference_with_held_gates_and_stacked_layers(cell, variant, layers):
    model = _model(cell, variant, layers, readout=layers == 3)
    loss = _loss("mse", "all", readout=layers == 3)
    _assert_engine_equals_reference(model, _inputs(), loss, _holds(cell))


@pytest.mark.parametrize("variant", ["standard", "coupled", "peephole", "no_forget_gate"])
def test_a_held_forget_gate_overrides_the_variant_in_both(variant):
    model = _model("lstm", variant, 2, readout=False)
    clamp = [{"t": [0, 1, 2, 3, 4, 5], "gate": "f", "value": 0.25, "units": [1]}]
    ref = reference.trace(model, _inputs(), clamp=clamp)
    assert np.all(ref["layers"][0]["gates"]["f"][:, 1] == 0.25)
    _assert_engine_equals_reference(model, _inputs(), None, clamp)


def test_the_comparison_notices_a_difference():
    """A hold present in one run and not the other must fail the comparison."""
    model = _model("lstm", "standard", 1, readout=False)
    fast = trace(model, _inputs(), clamp=[{"t": 2, "gate": "f", "value": 1.0}])
    ref = reference.trace(model, _inputs())
    with pytest.raises(AssertionError):
        _assert_close(fast.layers[0].c, ref["layers"][0]["c"], "c")


# --- the reference against central differences -------------------------------------------------

EPS = 1e-6


def _numeric(f, x):
    """Central differences of the scalar f at every entry of x (x is perturbed in place)."""
    grad = np.zeros_like(x)
    for idx in itertools.product(*map(range, x.shape)):
        keep = x[idx]
        x[idx] = keep + EPS
        up = f()
        x[idx] = keep - EPS
        down = f()
        x[idx] = keep
        grad[idx] = (up - down) / (2 * EPS)
    return grad


def _rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12))


@pytest.mark.parametrize(("cell", "variant"), CELLS)
@pytest.mark.parametrize(("kind", "at"), [("sum_last", "last"), ("cross_entropy", "all")])
def test_reference_gradients_match_central_differences(cell, variant, kind, at):
    readout = kind != "sum_last"
    model = _model(cell, variant, 2, readout)
    loss, clamp, X = _loss(kind, at, readout), _holds(cell), _inputs()
    ref = reference.trace(model, X, loss=loss, clamp=clamp)

    def loss_value():
        return reference.trace(model, X, loss=loss, clamp=clamp)["loss"]

    for name, w in model["weights"].items():
        assert _rel(ref["param_grads"][name], _numeric(loss_value, w)) < 1e-7, name
    assert _rel(ref["grad_inputs"], _numeric(loss_value, X)) < 1e-7, "dL/dx"
