"""The identities a teacher will show, and the engine's own consistency.

See SCIENCE.md: the constant error carousel, Pascanu et al.'s exact decay for an orthogonal
recurrent matrix, and dL/dc_{t-1} = f_t ⊙ dL/dc_t when nothing else carries the gradient.
"""

import math

import numpy as np
import pytest

from app.engine import prepare, trace
from app.engine.params import init_params, spec_from_dict


def _weights(model):
    return init_params(spec_from_dict(model))


def test_carousel_keeps_cell_state_and_its_gradient_constant_over_1000_steps():
    H, T = 4, 1000
    model = {"cell": "lstm", "input_size": 2, "hidden_size": H, "init": {"seed": 3}}
    w = _weights(model)
    w["bias_ih_l0"][:H] = -30.0  # input gate shut
    w["bias_ih_l0"][H : 2 * H] = 30.0  # forget gate open
    w["bias_hh_l0"][: 2 * H] = 0.0
    w["weight_ih_l0"][: 2 * H] = 0.0  # i and f ignore the input: they stay saturated
    w["weight_hh_l0"][:] = 0.0  # no recurrent path: the error travels on the belt alone
    c0 = np.array([[0.5, -1.0, 2.0, 0.1]])
    x = np.random.default_rng(0).standard_normal((T, 2))
    tr = trace({**model, "weights": w}, x, initial_state={"h": np.zeros((1, H)), "c": c0})
    layer = tr.layers[0]
    np.testing.assert_allclose(layer.c, np.broadcast_to(c0, (T, H)), rtol=1e-9)
    # dL/dc_t over the belt: f = σ(30) ≈ 1 - 9e-14 per step, so constant to 1e-9 over T
    norms = layer.grad_c_norm
    assert norms[0] > 0
    np.testing.assert_allclose(norms[:-1], norms[0], rtol=1e-9)


@pytest.mark.parametrize("gain,T", [(0.9, 200), (0.5, 2000), (1.5, 300)])
def test_tanh_rnn_with_orthogonal_weights_decays_exactly_like_gain_to_the_k(gain, T):
    model = {
        "cell": "rnn",
        "input_size": 1,
        "hidden_size": 8,
        "init": {"seed": 1, "recurrent_init": "orthogonal", "recurrent_gain": gain},
    }
    w = _weights(model)
    w["bias_ih_l0"][:] = 0.0
    w["bias_hh_l0"][:] = 0.0
    tr = trace({**model, "weights": w}, np.zeros((T, 1)))
    log10 = tr.layers[0].grad_h_log10_norm
    k = np.arange(T)[::-1]  # steps back from the end
    expected = log10[-1] + k * math.log10(gain)
    np.testing.assert_allclose(log10, expected, rtol=0, atol=1e-9 * max(1.0, abs(expected).max()))
    if gain == 0.5:  # 0.5^1999 = 1e-602: far below float64, still exact in log space
        assert log10[0] < -600
        assert tr.layers[0].grad_h_norm[0] == 0.0  # the plain value underflows, as documented
    if gain == 0.9:  # and within float range the plain norms agree too
        norms = tr.layers[0].grad_h_norm
        np.testing.assert_allclose(norms, norms[-1] * gain**k, rtol=1e-9)


def test_float32_log10_norms_are_exact_far_below_float32_range():
    model = {
        "cell": "rnn",
        "input_size": 1,
        "hidden_size": 8,
        "init": {"seed": 1, "recurrent_init": "orthogonal", "recurrent_gain": 0.5},
    }
    w = _weights(model)
    w["bias_ih_l0"][:] = 0.0
    w["bias_hh_l0"][:] = 0.0
    tr = trace({**model, "weights": w}, np.zeros((500, 1)), dtype="float32")
    log10 = tr.layers[0].grad_h_log10_norm
    expected = log10[-1] + np.arange(500)[::-1] * math.log10(0.5)
    np.testing.assert_allclose(log10, expected, atol=1e-4)  # float32 W: orthogonal to ~1e-7
    assert log10[0] < -140  # below float32's smallest subnormal (1.4e-45)


def test_with_no_recurrent_weights_the_cell_gradient_is_the_forget_gate_times_the_next():
    H, T = 3, 12
    model = {"cell": "lstm", "input_size": 2, "hidden_size": H, "init": {"seed": 5}}
    w = _weights(model)
    w["weight_hh_l0"][:] = 0.0
    tr = trace({**model, "weights": w}, np.random.default_rng(1).standard_normal((T, 2)))
    layer = tr.layers[0]
    for t in range(1, T - 1):  # the loss sits at T-1 only, so dh_{t-1} only reaches through c
        expected = layer.gates["f"][t] * layer.grad_c[t]
        np.testing.assert_array_equal(layer.grad_h[t - 1], 0.0)  # W_hh = 0: h carries nothing
        np.testing.assert_allclose(layer.grad_c[t - 1], expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_step_by_step_equals_whole_sequence(cell, dtype):
    """Fed in pieces (single steps and longer runs, across the projection's 64-step blocks),
    a run gives bit for bit the numbers of the whole sequence at once. D = 16 in float32 is
    a shape where BLAS's answer for a row depends on the row's place in the product."""
    model = {"cell": cell, "input_size": 16, "hidden_size": 12, "num_layers": 2,
             "init": {"seed": 9}}  # fmt: skip
    T = 150
    x = np.random.default_rng(2).standard_normal((T, 16))
    whole = trace(model, x, dtype=dtype)
    cuts = [0, 1, 2, 9, 63, 64, 65, 100, 101, 149, 150]
    state = None
    for lo, hi in zip(cuts, cuts[1:], strict=False):
        part = prepare(model, x[lo:hi], dtype=dtype, initial_state=state, start=lo).backward()
        for k in range(2):
            np.testing.assert_array_equal(part.layers[k].h, whole.layers[k].h[lo:hi])
            for g, values in whole.layers[k].gates.items():
                np.testing.assert_array_equal(part.layers[k].gates[g], values[lo:hi])
        state = {"h": np.stack([layer.h[-1] for layer in part.layers])}
        if cell == "lstm":
            state["c"] = np.stack([layer.c[-1] for layer in part.layers])


def test_same_seed_same_trace_and_another_seed_another():
    model = {"cell": "lstm", "input_size": 2, "hidden_size": 6, "init": {"seed": 11}}
    x = np.ones((5, 2))
    a, b = trace(model, x), trace(model, x)
    np.testing.assert_array_equal(a.layers[0].h, b.layers[0].h)
    np.testing.assert_array_equal(a.layers[0].grad_c, b.layers[0].grad_c)
    c = trace({**model, "init": {"seed": 12}}, x)
    assert not np.allclose(a.layers[0].h, c.layers[0].h)


@pytest.mark.parametrize(
    "cell,variant",
    [
        ("lstm", "standard"),
        ("lstm", "peephole"),
        ("lstm", "coupled"),
        ("gru", "standard"),
        ("rnn", "standard"),
    ],
)
def test_float32_agrees_with_float64(cell, variant):
    model = {
        "cell": cell,
        "variant": variant,
        "input_size": 3,
        "hidden_size": 6,
        "num_layers": 2,
        "init": {"seed": 4},
    }
    x = np.random.default_rng(5).standard_normal((30, 3))
    a, b = trace(model, x), trace(model, x, dtype="float32")
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert lb.h.dtype == np.float32
        np.testing.assert_allclose(lb.h, la.h, rtol=1e-5, atol=1e-5 * np.abs(la.h).max())
        for g in la.gates:
            np.testing.assert_allclose(lb.gates[g], la.gates[g], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(lb.grad_h_log10_norm, la.grad_h_log10_norm, atol=1e-5 * 5)
    assert abs(a.loss - b.loss) <= 1e-5 * max(1.0, abs(a.loss))


def test_orthogonal_init_gives_every_singular_value_equal_to_the_gain():
    model = {
        "cell": "lstm",
        "input_size": 2,
        "hidden_size": 7,
        "init": {"seed": 0, "recurrent_init": "orthogonal", "recurrent_gain": 0.8},
    }
    W = _weights(model)["weight_hh_l0"]
    for k in range(4):
        s = np.linalg.svd(W[7 * k : 7 * (k + 1)], compute_uv=False)
        np.testing.assert_allclose(s, 0.8, rtol=1e-12)


def test_default_init_is_pytorch_uniform_and_forget_bias_lands_on_the_forget_block():
    H = 50
    model = {
        "cell": "lstm",
        "input_size": 3,
        "hidden_size": H,
        "init": {"seed": 0, "forget_bias": 2.0},
    }
    w = _weights(model)
    bound = 1 / math.sqrt(H)
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_hh_l0"):
        assert np.abs(w[name]).max() <= bound
        assert np.abs(w[name]).max() > 0.9 * bound  # actually spread over the range
    b = w["bias_ih_l0"]
    assert np.all(b[H : 2 * H] >= 2.0 - bound) and np.all(b[H : 2 * H] <= 2.0 + bound)
    assert np.abs(np.delete(b, np.s_[H : 2 * H])).max() <= bound


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scaled_gradients_come_back_exactly_as_ldexp_gives_them(dtype):
    from app.engine.cells.common import ScaledGrad

    rng = np.random.default_rng(0)
    T = 400
    spread = 2.0 ** rng.integers(-16, 16, (T, 1, 1))
    values = (rng.standard_normal((T, 2, 5)) * spread).astype(dtype)
    values[3] = 0.0
    # exponents across every regime: none, normal, subnormal results, underflow, overflow,
    # and beyond what a float64 power of two can hold
    exp = rng.integers(-1200, 1200, T)
    exp[:50] = 0
    exp[50:60] = [-1070, -1080, -1100, -150, -140, -130, 120, 130, 1010, -1010]
    got = ScaledGrad(values, exp).plain()
    with np.errstate(over="ignore", under="ignore"):
        want = np.ldexp(values, exp[:, None, None].astype(np.int32))
    assert got.dtype == values.dtype
    np.testing.assert_array_equal(got, want)
