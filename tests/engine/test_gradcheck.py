"""Central-difference checks of every gradient the engine computes (float64).

Small sizes (T=5, D=3, H=3) keep this fast; every parameter entry is perturbed.
"""

import itertools

import numpy as np
import pytest

from app.engine import trace
from app.engine.params import init_params, spec_from_dict

EPS = 1e-6
TOL = 1e-6  # relative error, norm-wise per tensor (seen: ~1e-9)

CELLS = [("lstm", v) for v in ("standard", "no_forget_gate", "peephole", "coupled")] + [
    ("gru", "standard"),
    ("rnn", "standard"),
]
T, D, H, O = 5, 3, 3, 2


def _model(cell, variant, layers, readout, seed=1):
    model = {"cell": cell, "variant": variant, "input_size": D, "hidden_size": H,
             "num_layers": layers, "output_size": O if readout else None,
             "init": {"seed": seed, "forget_bias": 0.5}}  # fmt: skip
    params = init_params(spec_from_dict(model))
    rng = np.random.default_rng(seed + 100)
    for name in params:  # move biases and peepholes off PyTorch's small uniform range
        params[name] = params[name] + 0.3 * rng.standard_normal(params[name].shape)
    return {**model, "weights": params}


def _loss(kind, at):
    rng = np.random.default_rng(7)
    if kind == "sum_last":
        return None
    if kind == "mse":
        return {
            "kind": "mse",
            "at": at,
            "target": rng.standard_normal((O,) if at == "last" else (T, O)),
        }
    return {"kind": "cross_entropy", "at": at, "target": 1 if at == "last" else [0, 1, 1, 0, 1]}


def _clamps(cell):
    if cell == "lstm":
        return [{"t": [1, 3], "gate": "f", "value": 1.0},
                {"t": 2, "gate": "i", "value": 0.0, "units": [0, 2]},
                {"t": 4, "gate": "o", "value": 0.5, "units": [1], "layer": 0}]  # fmt: skip
    if cell == "gru":
        return [
            {"t": [1, 2], "gate": "z", "value": 1.0},
            {"t": 3, "gate": "r", "value": 0.2, "units": [1]},
        ]
    return None


def _rel(a, b):
    scale = max(np.linalg.norm(a), np.linalg.norm(b), 1e-12)
    return np.linalg.norm(a - b) / scale


def _numeric_param_grads(model, x, loss, clamp):
    grads = {}
    for name, w in model["weights"].items():
        g = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            vals = []
            for sign in (1, -1):
                w2 = w.copy()
                w2[idx] += sign * EPS
                m2 = {**model, "weights": {**model["weights"], name: w2}}
                vals.append(trace(m2, x, loss=loss, clamp=clamp).loss)
            g[idx] = (vals[0] - vals[1]) / (2 * EPS)
        grads[name] = g
    return grads


CASES = [
    (cell, variant, layers, kind, at, clamped)
    for (cell, variant), layers, (kind, at), clamped in itertools.product(
        CELLS,
        (1, 2),
        [
            ("sum_last", "last"),
            ("mse", "last"),
            ("mse", "all"),
            ("cross_entropy", "last"),
            ("cross_entropy", "all"),
        ],
        (False, True),
    )  # fmt: skip
    if not (clamped and cell == "rnn") and not (layers == 2 and kind not in ("sum_last", "mse"))
]


@pytest.mark.parametrize("cell,variant,layers,kind,at,clamped", CASES)
def test_parameter_and_input_gradients_match_central_differences(
    cell, variant, layers, kind, at, clamped
):
    readout = kind != "sum_last"
    model = _model(cell, variant, layers, readout)
    x = np.random.default_rng(3).standard_normal((T, D))
    loss = _loss(kind, at)
    clamp = _clamps(cell) if clamped else None
    tr = trace(model, x, loss=loss, clamp=clamp)
    numeric = _numeric_param_grads(model, x, loss, clamp)
    assert set(tr.param_grads) == set(numeric)
    for name, g in numeric.items():
        assert _rel(tr.param_grads[name], g) < TOL, name
    gx = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += EPS
        xm[idx] -= EPS
        gx[idx] = (trace(model, xp, loss=loss, clamp=clamp).loss
                   - trace(model, xm, loss=loss, clamp=clamp).loss) / (2 * EPS)  # fmt: skip
    assert _rel(tr.grad_inputs, gx) < TOL


@pytest.mark.parametrize("cell,variant", CELLS)
def test_per_step_grad_h_and_grad_c_are_total_derivatives(cell, variant):
    """dL/dh_t (and dL/dc_t) equal the gradient of the rest of the run w.r.t. its start state."""
    model = _model(cell, variant, 1, False)
    x = np.random.default_rng(4).standard_normal((T, D))
    tr = trace(model, x)
    layer = tr.layers[0]
    for t in range(T - 1):
        state = {"h": layer.h[t][None], "c": layer.c[t][None] if cell == "lstm" else None}
        for key, recorded in (("h", layer.grad_h), ("c", layer.grad_c)):
            if recorded is None:
                continue
            g = np.zeros(H)
            for j in range(H):
                vals = []
                for sign in (1, -1):
                    s2 = {k: (None if v is None else v.copy()) for k, v in state.items()}
                    s2[key][0, j] += sign * EPS
                    if key == "c":  # c_t also makes h_t = o_t tanh(c_t): move it along
                        o = layer.gates["o"][t]
                        if variant == "peephole":  # and o_t itself looks at c_t
                            w_co = model["weights"]["weight_co_l0"]
                            z_o = np.log(o / (1 - o)) + w_co * (s2["c"][0] - state["c"][0])
                            o = 1 / (1 + np.exp(-z_o))
                        s2["h"] = o[None] * np.tanh(s2["c"])
                    vals.append(trace(model, x[t + 1 :], initial_state=s2).loss)
                g[j] = (vals[0] - vals[1]) / (2 * EPS)
            assert _rel(recorded[t], g) < TOL, (key, t)
        sub = trace(model, x[t + 1 :], initial_state=state)  # dL/dh_0 of the rest of the run
        np.testing.assert_allclose(sub.grad_h0[0], layer.grad_h[t], rtol=1e-12, atol=1e-15)
