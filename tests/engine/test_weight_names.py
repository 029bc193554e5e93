"""Weight files refused by their names and shapes: a recurrent matrix that is no whole number
of gate blocks, a wrong shape in an upper layer, a missing layer, a bad Keras bias, unknown
names, peepholes on a GRU; and an embedding given under flat Keras names."""

from __future__ import annotations

import numpy as np
import pytest
from weight_helpers import load, random_params, weights

from app.engine.formats.weights import WeightsError, save_weights
from app.engine.params import ModelSpec

# ---------------------------------------------------------------- refusals: names and shapes


def test_recurrent_matrix_that_is_not_a_whole_number_of_gate_blocks_is_refused() -> None:
    params = random_params(ModelSpec(cell="rnn", input_size=2, hidden_size=3))
    params["weight_hh_l0"] = np.ones((8, 3))
    with pytest.raises(
        WeightsError,
        match=r"tensor weight_hh_l0 has shape \(8, 3\), but a recurrent matrix is \(G·H, H\) "
        r"with G = 4",
    ):
        load(params, nonlinearity="tanh")


def test_wrong_shape_in_an_upper_layer_is_refused_naming_it() -> None:
    params = random_params(ModelSpec(cell="lstm", input_size=2, hidden_size=3, num_layers=2))
    params["weight_ih_l1"] = np.ones((12, 2))
    with pytest.raises(
        WeightsError, match=r"weight_ih_l1 has shape \(12, 2\); this lstm model needs \(12, 3\)"
    ):
        load(params)


def test_missing_middle_layer_is_refused() -> None:
    params = random_params(ModelSpec(cell="rnn", input_size=2, hidden_size=3, num_layers=3))
    del params["weight_ih_l1"], params["weight_hh_l1"]
    with pytest.raises(
        WeightsError,
        match=r"the file has no weight_hh_l1 \(found \['bias_hh_l1', 'bias_ih_l1'\] "
        r"for layer 1\): each layer, counted from 0, needs its weight_hh; save every layer",
    ):
        load(params, nonlinearity="tanh")


def test_bad_keras_bias_shape_is_refused_naming_the_layer() -> None:
    arrays = {
        "lstm/kernel": np.ones((1, 8)),
        "lstm/recurrent_kernel": np.ones((2, 8)),
        "lstm/bias": np.ones(7),
    }
    with pytest.raises(
        WeightsError,
        match=r"Keras layer 'lstm' has a bias of shape \(7,\), but its recurrent_kernel .* "
        r"needs \(8,\)",
    ):
        load(arrays)


def test_unrecognised_names_and_a_half_bidirectional_layer_are_refused() -> None:
    params = random_params(ModelSpec(cell="rnn", input_size=1, hidden_size=2))
    with pytest.raises(
        WeightsError,
        match=r"tensors whose names this importer does not recognise: \['bn.running_mean'\]\. "
        r"Save the recurrent layers under PyTorch's names .* and leave other layers out",
    ):
        load(params | {"bn.running_mean": np.ones(3)}, nonlinearity="tanh")
    with pytest.raises(
        WeightsError,
        match=r"the file has no weight_hh_l0_reverse, which this rnn model needs, of shape "
        r"\(2, 2\): save every tensor of the model",
    ):
        load(params | {"weight_ih_l0_reverse": np.ones((2, 1))}, nonlinearity="tanh")


def test_peephole_weights_on_a_gru_are_refused() -> None:
    params = random_params(ModelSpec(cell="gru", input_size=1, hidden_size=2))
    with pytest.raises(
        WeightsError,
        match=r"peephole weights \(weight_c\*\), which only a one-way LSTM without a projection "
        r"has, but its shapes say the cell is gru: leave the peephole weights out",
    ):
        load(params | {"weight_ci_l0": np.ones(2)})


def test_unknown_save_format_is_refused() -> None:
    with pytest.raises(WeightsError, match=r"unknown weight format 'pt'"):
        save_weights({"weight_ih_l0": np.ones((1, 1))}, "pt")


def test_keras_embedding_in_flat_keras_names_becomes_the_embedding() -> None:
    rng = np.random.default_rng(5)
    E, W, U = (
        rng.standard_normal((7, 2)),
        rng.standard_normal((2, 12)),
        rng.standard_normal((3, 12)),
    )
    arrays = {"embedding/embeddings": E, "lstm/kernel": W, "lstm/recurrent_kernel": U}
    model = load(arrays)
    assert model["embedding"] == {"num_embeddings": 7, "embedding_dim": 2}
    np.testing.assert_array_equal(weights(model)["embedding.weight"], E)
