"""The gradient lab's readouts (app/engine/analysis/decay.py) on inputs with known answers."""

import math

import numpy as np
import pytest

from app.engine import trace
from app.engine.analysis import decay as analysis
from app.engine.params import init_params, spec_from_dict


def test_decay_factor_and_half_life_of_an_exact_geometric_series():
    k = np.arange(50)
    fit = analysis.fit_decay(k * math.log10(0.8))  # norms 0.8^k
    assert fit["factor"] == pytest.approx(0.8, rel=1e-12)
    assert fit["half_life"] == pytest.approx(math.log(2) / -math.log(0.8), rel=1e-12)
    assert fit["doubling"] is None


def test_a_growing_series_doubles_and_has_no_half_life():
    fit = analysis.fit_decay(np.arange(30) * math.log10(2.0))
    assert fit["factor"] == pytest.approx(2.0, rel=1e-12)
    assert fit["half_life"] is None
    assert fit["doubling"] == pytest.approx(1.0, rel=1e-12)


def test_fit_skips_exact_zeros():
    y = np.arange(10) * math.log10(0.5)
    y[7:] = -np.inf  # the gradient became exactly zero there
    assert analysis.fit_decay(y)["half_life"] == pytest.approx(1.0, rel=1e-12)


def test_forget_half_life_of_one_half_is_one_step_and_of_one_is_infinite():
    f = np.array([[0.5, 1.0, 0.25, 0.0]] * 5)
    hl = analysis.forget_half_life(f)
    assert hl[0] == pytest.approx(1.0, rel=1e-12)
    assert hl[1] == math.inf
    assert hl[2] == pytest.approx(0.5, rel=1e-12)
    assert hl[3] == 0.0
    summary = analysis.half_life_summary(hl)
    assert summary["infinite"] == 1
    assert summary["per_unit"][1] is None
    assert summary["min"] == 0.0 and summary["max"] == pytest.approx(1.0)


def test_belt_product_is_the_product_of_forget_gates_from_the_end():
    f = np.array([[0.5, 0.9], [0.5, 0.9], [0.5, 0.9], [0.5, 0.9]])  # (T=4, H=2)
    dc = np.array([3.0, 4.0])
    belt = analysis.belt_log10(f, dc)
    expected = [np.log10(np.hypot(3 * 0.5**k, 4 * 0.9**k)) for k in range(4)]
    np.testing.assert_allclose(belt, expected, rtol=1e-13)


def test_belt_product_stays_exact_far_below_float_range():
    T = 2000
    f = np.full((T, 1), 0.5)
    belt = analysis.belt_log10(f, np.array([1.0]))
    assert belt[-1] == pytest.approx((T - 1) * math.log10(0.5), rel=1e-12)  # ~ -602


def test_with_no_recurrent_path_the_belt_is_the_whole_cell_gradient():
    model = {"cell": "lstm", "input_size": 2, "hidden_size": 5, "init": {"seed": 4}}
    w = init_params(spec_from_dict(model))
    w["weight_hh_l0"][:] = 0.0  # then dL/dc_{t-1} = f_t * dL/dc_t exactly
    x = np.random.default_rng(1).standard_normal((40, 2))
    layer = trace({**model, "weights": w}, x).layers[0]
    belt = analysis.belt_log10(layer.gates["f"], layer.grad_c[-1])
    np.testing.assert_allclose(belt, layer.grad_c_log10_norm[::-1], rtol=0, atol=1e-12)


def test_hochreiter_factor_of_a_tanh_rnn_at_rest_is_the_recurrent_diagonal():
    H = 3
    W = np.diag([0.5, -2.0, 0.9])

    class Layer:
        h = np.zeros((7, H))  # tanh'(0) = 1

    factors = analysis.self_loop_factors("rnn", Layer, {"weight_hh_l0": W}, H)
    cond = analysis.hochreiter_condition(factors)
    assert cond["max"] == pytest.approx(2.0)
    assert cond["typical"] == pytest.approx(0.9)
    assert cond["verdict"] == "exploding"
    assert analysis.verdict(1.0) == "constant"
    assert analysis.verdict(0.3) == "vanishing"


def test_pascanu_uses_the_largest_singular_value_against_one_over_gamma():
    W = np.array([[0.0, 3.0], [0.1, 0.0]])  # spectral radius ~0.55, largest singular value 3
    out = analysis.pascanu_condition("rnn", {"weight_hh_l0": W}, 2)
    assert out["sigma_max"] == pytest.approx(3.0)
    assert out["verdict"] == "exploding possible"
    small = analysis.pascanu_condition("rnn", {"weight_hh_l0": 0.5 * np.eye(2)}, 2)
    assert small["verdict"] == "vanishing guaranteed"


def test_gru_self_loop_is_the_diagonal_of_the_step_jacobian():
    """Finite differences of one GRU step against the analytic diagonal."""
    H, D = 4, 2
    model = {"cell": "gru", "input_size": D, "hidden_size": H, "init": {"seed": 2}}
    w = init_params(spec_from_dict(model))
    x = np.random.default_rng(0).standard_normal((2, D))
    layer = trace({**model, "weights": w}, x).layers[0]
    diag = analysis.self_loop_factors("gru", layer, w, H)[1]  # step t = 1
    h0 = layer.h[0]
    eps = 1e-6

    def h_after_one_step(s, j):
        return trace({**model, "weights": w}, x[1:], initial_state={"h": s[None]}).layers[0].h[0, j]

    for j in range(H):
        hi, lo = h0.copy(), h0.copy()
        hi[j] += eps
        lo[j] -= eps
        slope = (h_after_one_step(hi, j) - h_after_one_step(lo, j)) / (2 * eps)
        assert slope == pytest.approx(diag[j], rel=1e-6, abs=1e-9)


def test_float_limits_name_the_first_step_beyond_each_limit():
    y = np.array([0.0, -40.0, -50.0, -310.0, -400.0])
    lim = analysis.float_limits(y)
    assert lim["float32"] == {"subnormal": 1, "underflow": 2, "overflow": None}
    assert lim["float64"] == {"subnormal": 3, "underflow": 4, "overflow": None}
    assert analysis.float_limits(np.array([0.0, 39.0, 400.0]))["float32"]["overflow"] == 1
