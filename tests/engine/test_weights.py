"""Weight import/export: round trips, Keras conversion with known answers, and every refusal."""

from __future__ import annotations

import json

import numpy as np
import pytest
from weight_helpers import load, npz_bytes, random_params, st_bytes, weights

from app.engine.formats.weights import WeightsError, load_weights, save_weights
from app.engine.params import ModelSpec, param_shapes


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ---------------------------------------------------------------- round trips

SPECS = [
    ModelSpec(cell="lstm", input_size=3, hidden_size=4, num_layers=1),
    ModelSpec(cell="lstm", input_size=3, hidden_size=4, num_layers=2),
    ModelSpec(cell="gru", input_size=2, hidden_size=5, num_layers=1),
    ModelSpec(cell="gru", input_size=2, hidden_size=5, num_layers=2, output_size=3),
    ModelSpec(cell="rnn", input_size=1, hidden_size=3, num_layers=1),
    ModelSpec(cell="rnn", input_size=4, hidden_size=3, num_layers=2),
    ModelSpec(cell="lstm", input_size=2, hidden_size=3, num_layers=2, variant="peephole"),
    ModelSpec(cell="lstm", input_size=2, hidden_size=3, num_layers=1, output_size=2),
]


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
@pytest.mark.parametrize(
    "spec", SPECS, ids=lambda s: f"{s.cell}-L{s.num_layers}-{s.variant}-O{s.output_size}"
)
def test_save_then_load_gives_back_the_same_model_and_numbers(spec: ModelSpec, fmt: str) -> None:
    params = random_params(spec)
    meta = {"nonlinearity": "tanh"} if spec.cell == "rnn" else None  # names cannot say it
    model = load_weights(save_weights(params, fmt, meta), f"m.{fmt}")
    assert {k: model[k] for k in ("cell", "input_size", "hidden_size", "num_layers")} == {
        "cell": spec.cell,
        "input_size": spec.input_size,
        "hidden_size": spec.hidden_size,
        "num_layers": spec.num_layers,
    }
    assert model["variant"] == spec.variant
    assert model["output_size"] == spec.output_size
    assert list(model["weights"]) == list(param_shapes(spec))
    for name, value in weights(model).items():
        np.testing.assert_array_equal(value, params[name])
    json.dumps(model)  # JSON-ready: plain lists of floats


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_float32_weights_round_trip_exactly(fmt: str) -> None:
    spec = ModelSpec(cell="gru", input_size=2, hidden_size=3)
    params = random_params(spec, dtype=np.float32)
    model = load_weights(save_weights(params, fmt), f"m.{fmt}")
    for name, value in weights(model).items():
        np.testing.assert_array_equal(value, params[name].astype(np.float64))


def test_pytorch_module_prefix_and_fc_readout_are_stripped() -> None:
    spec = ModelSpec(cell="lstm", input_size=2, hidden_size=3, output_size=1)
    params = random_params(spec)
    named = {
        ("fc." + n[8:] if n.startswith("readout.") else "lstm." + n): a for n, a in params.items()
    }
    assert "lstm.weight_ih_l0" in named and "fc.weight" in named
    model = load(named, "safetensors")
    assert model["output_size"] == 1
    np.testing.assert_array_equal(weights(model)["readout.weight"], params["readout.weight"])
    np.testing.assert_array_equal(weights(model)["weight_hh_l0"], params["weight_hh_l0"])


def test_two_level_prefix_and_head_readout_are_accepted() -> None:
    spec = ModelSpec(cell="rnn", input_size=2, hidden_size=3, output_size=4)
    params = random_params(spec)
    named = {
        ("model.head." + n[8:] if n.startswith("readout.") else "model.rnn." + n): a
        for n, a in params.items()
    }
    model = load(named, nonlinearity="tanh")
    assert (model["cell"], model["output_size"]) == ("rnn", 4)


def test_two_recurrent_modules_whose_widths_do_not_chain_are_refused_naming_the_layer() -> None:
    spec = ModelSpec(cell="rnn", input_size=2, hidden_size=3)
    params = random_params(spec)
    named = {"enc." + n: a for n, a in params.items()} | {"dec." + n: a for n, a in params.items()}
    with pytest.raises(WeightsError, match=r"weight_ih_l1 has shape \(3, 2\); .* needs \(3, 3\)"):
        load(named, nonlinearity="tanh")


def test_missing_biases_are_filled_with_zeros() -> None:
    spec = ModelSpec(cell="lstm", input_size=2, hidden_size=3, output_size=2)
    params = {n: a for n, a in random_params(spec).items() if "bias" not in n}
    model = load(params)
    w = weights(model)
    np.testing.assert_array_equal(w["bias_ih_l0"], np.zeros(12))
    np.testing.assert_array_equal(w["bias_hh_l0"], np.zeros(12))
    np.testing.assert_array_equal(w["readout.bias"], np.zeros(2))


def test_cell_hint_that_disagrees_with_the_shapes_is_refused() -> None:
    params = random_params(ModelSpec(cell="gru", input_size=2, hidden_size=3))
    with pytest.raises(
        WeightsError,
        match=r"the shapes say the cell is gru .* names 'lstm': correct that hint or leave it out",
    ):
        load(params, cell="lstm")
    assert load(params, cell="gru")["cell"] == "gru"


# ---------------------------------------------------------------- Keras conversion


def test_keras_lstm_blocks_land_in_pytorch_rows_unchanged_in_order() -> None:
    # D = 1, H = 1: kernel columns [i|f|c|o] = [1, 2, 3, 4]
    model = load(
        {
            "lstm/lstm_cell/kernel": np.array([[1.0, 2.0, 3.0, 4.0]]),
            "lstm/lstm_cell/recurrent_kernel": np.array([[5.0, 6.0, 7.0, 8.0]]),
            "lstm/lstm_cell/bias": np.array([9.0, 10.0, 11.0, 12.0]),
        }
    )
    assert (model["cell"], model["input_size"], model["hidden_size"]) == ("lstm", 1, 1)
    assert model["weights"] == {
        "weight_ih_l0": [[1.0], [2.0], [3.0], [4.0]],
        "weight_hh_l0": [[5.0], [6.0], [7.0], [8.0]],
        "bias_ih_l0": [9.0, 10.0, 11.0, 12.0],
        "bias_hh_l0": [0.0, 0.0, 0.0, 0.0],
    }


def test_keras_gru_blocks_are_permuted_from_zrh_to_rzn() -> None:
    model = load(
        {
            "gru/kernel": np.array([[1.0, 2.0, 3.0]]),  # [z|r|h]
            "gru/recurrent_kernel": np.array([[4.0, 5.0, 6.0]]),
            "gru/bias": np.array([[11.0, 12.0, 13.0], [21.0, 22.0, 23.0]]),  # (input, recurrent)
        },
        "safetensors",
    )
    assert model["cell"] == "gru"
    assert model["weights"] == {
        "weight_ih_l0": [[2.0], [1.0], [3.0]],
        "weight_hh_l0": [[5.0], [4.0], [6.0]],
        "bias_ih_l0": [12.0, 11.0, 13.0],
        "bias_hh_l0": [22.0, 21.0, 23.0],
    }


def keras_lstm_step(x, h, c, W, U, b):
    H = h.shape[0]
    z = x @ W + h @ U + b
    i, f, g, o = (
        sigmoid(z[:H]),
        sigmoid(z[H : 2 * H]),
        np.tanh(z[2 * H : 3 * H]),
        sigmoid(z[3 * H :]),
    )
    c = f * c + i * g
    return o * np.tanh(c), c


def torch_lstm_step(x, h, c, w, k=0):
    H = h.shape[0]
    a = (
        w[f"weight_ih_l{k}"] @ x
        + w[f"bias_ih_l{k}"]
        + w[f"weight_hh_l{k}"] @ h
        + w[f"bias_hh_l{k}"]
    )
    i, f, g, o = (
        sigmoid(a[:H]),
        sigmoid(a[H : 2 * H]),
        np.tanh(a[2 * H : 3 * H]),
        sigmoid(a[3 * H :]),
    )
    c = f * c + i * g
    return o * np.tanh(c), c


def keras_gru_step(x, h, W, U, b):  # reset_after=True, columns [z|r|h]
    H = h.shape[0]
    mx, mh = x @ W + b[0], h @ U + b[1]
    z = sigmoid(mx[:H] + mh[:H])
    r = sigmoid(mx[H : 2 * H] + mh[H : 2 * H])
    hh = np.tanh(mx[2 * H :] + r * mh[2 * H :])
    return z * h + (1 - z) * hh


def torch_gru_step(x, h, w):
    H = h.shape[0]
    gi = w["weight_ih_l0"] @ x + w["bias_ih_l0"]
    gh = w["weight_hh_l0"] @ h + w["bias_hh_l0"]
    r = sigmoid(gi[:H] + gh[:H])
    z = sigmoid(gi[H : 2 * H] + gh[H : 2 * H])
    n = np.tanh(gi[2 * H :] + r * gh[2 * H :])
    return (1 - z) * n + z * h


def test_keras_lstm_converted_weights_give_the_same_steps() -> None:
    rng = np.random.default_rng(1)
    D, H = 3, 5
    W, U, b = (
        rng.standard_normal((D, 4 * H)),
        rng.standard_normal((H, 4 * H)),
        rng.standard_normal(4 * H),
    )
    w = weights(load({"lstm/kernel:0": W, "lstm/recurrent_kernel:0": U, "lstm/bias:0": b}))
    hk = ck = ht = ct = np.zeros(H)
    for x in rng.standard_normal((6, D)):
        hk, ck = keras_lstm_step(x, hk, ck, W, U, b)
        ht, ct = torch_lstm_step(x, ht, ct, w)
    assert np.abs(hk).max() > 0.05
    np.testing.assert_allclose(ht, hk, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ct, ck, rtol=0, atol=1e-12)


def test_keras_gru_reset_after_converted_weights_give_the_same_steps() -> None:
    rng = np.random.default_rng(2)
    D, H = 2, 4
    W, U, b = (
        rng.standard_normal((D, 3 * H)),
        rng.standard_normal((H, 3 * H)),
        rng.standard_normal((2, 3 * H)),
    )
    w = weights(
        load(
            {
                "layers/gru/cell/kernel": W,
                "layers/gru/cell/recurrent_kernel": U,
                "layers/gru/cell/bias": b,
            }
        )
    )
    hk = ht = rng.standard_normal(H)
    for x in rng.standard_normal((6, D)):
        hk, ht = keras_gru_step(x, hk, W, U, b), torch_gru_step(x, ht, w)
    np.testing.assert_allclose(ht, hk, rtol=0, atol=1e-12)


def test_keras_simple_rnn_and_dense_readout_are_transposed() -> None:
    rng = np.random.default_rng(3)
    W, U, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 3)), rng.standard_normal(3)
    V, c = rng.standard_normal((3, 4)), rng.standard_normal(4)
    arrays = {"simple_rnn/kernel": W, "simple_rnn/recurrent_kernel": U, "simple_rnn/bias": b}
    model = load(arrays | {"dense/kernel": V, "dense/bias": c}, nonlinearity="tanh")
    assert (model["cell"], model["input_size"], model["hidden_size"], model["output_size"]) == (
        "rnn",
        2,
        3,
        4,
    )
    w = weights(model)
    np.testing.assert_array_equal(w["weight_ih_l0"], W.T)
    np.testing.assert_array_equal(w["weight_hh_l0"], U.T)
    np.testing.assert_array_equal(w["bias_ih_l0"], b)
    np.testing.assert_array_equal(w["readout.weight"], V.T)
    np.testing.assert_array_equal(w["readout.bias"], c)


def test_keras_layers_are_ordered_by_layer_index_not_file_order() -> None:
    rng = np.random.default_rng(4)
    H = 2
    top = {
        "lstm_1/lstm_cell/kernel": rng.standard_normal((H, 4 * H)),
        "lstm_1/lstm_cell/recurrent_kernel": rng.standard_normal((H, 4 * H)),
    }
    bottom = {
        "lstm/lstm_cell/kernel": rng.standard_normal((5, 4 * H)),
        "lstm/lstm_cell/recurrent_kernel": rng.standard_normal((H, 4 * H)),
    }
    model = load(top | bottom)
    assert (model["num_layers"], model["input_size"]) == (2, 5)
    np.testing.assert_array_equal(weights(model)["weight_ih_l1"], top["lstm_1/lstm_cell/kernel"].T)


def test_keras_gru_reset_after_false_is_refused() -> None:
    H = 2
    arrays = {
        "gru/kernel": np.ones((1, 3 * H)),
        "gru/recurrent_kernel": np.ones((H, 3 * H)),
        "gru/bias": np.ones(3 * H),
    }
    with pytest.raises(
        WeightsError, match=r"reset_after=False.*Cho et al\. 2014.*cannot represent it exactly"
    ):
        load(arrays)


def test_bias_free_keras_gru_needs_reset_after_metadata() -> None:
    H = 2
    arrays = {"gru/kernel": np.ones((1, 3 * H)), "gru/recurrent_kernel": np.ones((H, 3 * H))}
    with pytest.raises(WeightsError, match="reset_after=False"):
        load(arrays, "safetensors")
    data = st_bytes(arrays, metadata={"reset_after": "True"})
    assert load_weights(data, "m.safetensors")["cell"] == "gru"
    with pytest.raises(WeightsError, match="reset_after=False"):
        load_weights(st_bytes(arrays, metadata={"gru/reset_after": "False"}), "m.safetensors")


def test_hard_sigmoid_recurrent_activation_is_refused_from_either_format() -> None:
    arrays = {"lstm/kernel": np.ones((1, 4)), "lstm/recurrent_kernel": np.ones((1, 4))}
    data = st_bytes(arrays, metadata={"recurrent_activation": "hard_sigmoid"})
    with pytest.raises(
        WeightsError, match=r"recurrent_activation = 'hard_sigmoid'.*not the logistic sigmoid"
    ):
        load_weights(data, "m.safetensors")
    data = npz_bytes(**arrays, **{"lstm/recurrent_activation": np.array("hard_sigmoid")})
    with pytest.raises(WeightsError, match="hard_sigmoid"):
        load_weights(data, "m.npz")
    ok = npz_bytes(**arrays, recurrent_activation=np.array("sigmoid"), cell=np.array("lstm"))
    assert load_weights(ok, "m.npz")["cell"] == "lstm"


def test_relu_stated_in_metadata_opens_as_a_relu_rnn_and_other_activations_are_refused() -> None:
    params = random_params(ModelSpec(cell="rnn", input_size=1, hidden_size=2))
    model = load_weights(st_bytes(params, {"nonlinearity": "relu"}), "m.safetensors")
    assert (model["cell"], model["nonlinearity"]) == ("rnn", "relu")
    with pytest.raises(
        WeightsError,
        match=r"nonlinearity = 'elu': .*tanh.* relu, so a model using elu cannot be reproduced; "
        r"retrain it with tanh",
    ):
        load_weights(st_bytes(params, {"nonlinearity": "elu"}), "m.safetensors")
