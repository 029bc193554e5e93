"""Models from the wild: Keras 3 files and PyTorch state_dicts of several modules open as the
`model` object and give the libraries' own numbers; what cannot be represented is refused.

The fixtures (tests/fixtures/import/) were made once by make_keras_fixtures.py with Keras 3
(torch backend) and torch, which are not needed here. Each imported layer is run through the
engine on its own (one layer, one direction at a time: the reverse direction on the reversed
sequence), so the mapping of every array is checked against the library's output for that
layer, to float32 rounding (the libraries computed in float32, the engine in float64); and the
whole imported model is run through the engine at once (embedding, widths, directions).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from app.engine import trace as engine_trace
from app.engine.formats.model_object import NonlinearityNeededError
from app.engine.formats.weights import WeightsError, load_weights

FIXTURES = Path(__file__).parent.parent / "fixtures" / "import"
F32 = 2e-6  # float32 rounding over a few steps of O(1) values (eps 6e-8 per operation)


def open_file(name: str, **kwargs) -> dict:
    return load_weights((FIXTURES / name).read_bytes(), name, **kwargs)


def expected(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"{name}_expected.npz") as npz:
        return {k: npz[k].astype(np.float64) for k in npz.files}


def arrays(model: dict) -> dict[str, np.ndarray]:
    return {n: np.array(v) for n, v in model["weights"].items()}


def widths(model: dict) -> list[int]:
    H = model["hidden_size"]
    return H if isinstance(H, list) else [H] * model["num_layers"]


def run_layer(model: dict, k: int, X: np.ndarray, reverse: bool = False) -> np.ndarray:
    """Layer k of the imported model, alone (one direction), through the engine; rows in
    input order."""
    w, suffix = arrays(model), "_reverse" if reverse else ""
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    single = {
        "cell": model["cell"], "input_size": X.shape[1], "hidden_size": widths(model)[k],
        "nonlinearity": model.get("nonlinearity", "tanh"),
        "weights": {f"{n}_l0": w[f"{n}_l{k}{suffix}"] for n in names},
    }  # fmt: skip
    H = engine_trace(single, X[::-1] if reverse else X).layers[0].h
    return H[::-1] if reverse else H


def run_stack(model: dict, X: np.ndarray) -> list[np.ndarray]:
    """Every layer's output sequence ([forward | reverse] when bidirectional)."""
    outs = []
    for k in range(model["num_layers"]):
        H = run_layer(model, k, X)
        if model.get("bidirectional"):
            H = np.concatenate([H, run_layer(model, k, X, reverse=True)], axis=1)
        outs.append(H)
        X = H
    return outs


def readout(model: dict, H: np.ndarray) -> np.ndarray:
    w = arrays(model)
    return H @ w["readout.weight"].T + w["readout.bias"]


def whole_model(model: dict, inputs: np.ndarray) -> list[np.ndarray]:
    """Every layer's output through the engine running the whole imported model at once."""
    layers = engine_trace(model, inputs).layers
    if not model.get("bidirectional"):
        return [layer.h for layer in layers]
    pairs = zip(layers[::2], layers[1::2], strict=True)
    return [np.concatenate([f.h, r.h], axis=1) for f, r in pairs]


# ---------------------------------------------------------------- Keras files that open


@pytest.mark.parametrize("name", ["keras_lm.keras", "keras_lm.weights.h5"])
def test_keras_embedding_lstm12_lstm6_dense_gives_keras_outputs_for_every_layer(name: str) -> None:
    model = open_file(name)
    assert {k: model[k] for k in ("cell", "input_size", "hidden_size", "num_layers")} == {
        "cell": "lstm", "input_size": 5, "hidden_size": [12, 6], "num_layers": 2
    }  # fmt: skip
    assert model["embedding"] == {"num_embeddings": 12, "embedding_dim": 5}
    assert model["output_size"] == 1
    want = expected("keras_lm")
    ids = want["x"][0].astype(int)
    X = arrays(model)["embedding.weight"][ids]
    np.testing.assert_array_equal(X, want["embedding"][0])  # a lookup: exact
    h1, h2 = run_stack(model, X)
    np.testing.assert_allclose(h1, want["lstm"][0], rtol=0, atol=F32)
    np.testing.assert_allclose(h2, want["lstm_1_sequence"][0], rtol=0, atol=F32)
    np.testing.assert_allclose(h2[-1], want["lstm_1"][0], rtol=0, atol=F32)
    np.testing.assert_allclose(readout(model, h2[-1]), want["dense"][0], rtol=0, atol=F32)
    whole = whole_model(model, ids)  # token ids in, through the engine's embedding
    np.testing.assert_allclose(whole[0], want["lstm"][0], rtol=0, atol=F32)
    np.testing.assert_allclose(whole[1], want["lstm_1_sequence"][0], rtol=0, atol=F32)


def test_keras_file_and_its_weights_h5_give_the_same_model() -> None:
    assert open_file("keras_lm.keras") == open_file("keras_lm.weights.h5")


@pytest.mark.parametrize("name", ["keras_bidi.keras", "keras_bidi.weights.h5"])
def test_keras_bidirectional_lstms_give_both_directions_and_the_dense_per_step(name: str) -> None:
    model = open_file(name)
    assert (model["bidirectional"], model["hidden_size"], model["input_size"]) == (True, [4, 3], 3)
    w = arrays(model)
    assert w["weight_ih_l1"].shape == (12, 8)  # layer 1 reads [forward | backward] of layer 0
    assert not w["bias_ih_l1_reverse"].any()  # use_bias=False is a zero bias, exactly
    want = expected("keras_bidi")
    h1, h2 = run_stack(model, want["x"][0])
    np.testing.assert_allclose(h1, want["bidirectional"][0], rtol=0, atol=F32)
    np.testing.assert_allclose(h2, want["bidirectional_1"][0], rtol=0, atol=F32)
    np.testing.assert_allclose(readout(model, h2), want["dense"][0], rtol=0, atol=F32)
    whole = whole_model(model, want["x"][0])
    np.testing.assert_allclose(whole[0], want["bidirectional"][0], rtol=0, atol=F32)
    np.testing.assert_allclose(whole[1], want["bidirectional_1"][0], rtol=0, atol=F32)


@pytest.mark.parametrize("name", ["keras_gru.keras", "keras_gru.weights.h5"])
def test_keras_gru_stack_with_dropout_gives_keras_outputs(name: str) -> None:
    model = open_file(name)
    assert (model["cell"], model["hidden_size"], model["output_size"]) == ("gru", [5, 4], 1)
    want = expected("keras_gru")
    h1, h2 = run_stack(model, want["x"][0])
    np.testing.assert_allclose(h1, want["gru"][0], rtol=0, atol=F32)
    np.testing.assert_allclose(h2, want["gru_1"][0], rtol=0, atol=F32)
    np.testing.assert_allclose(readout(model, h2), want["dense"][0], rtol=0, atol=F32)
    np.testing.assert_allclose(whole_model(model, want["x"][0])[1], want["gru_1"][0], atol=F32)


def test_keras_relu_simple_rnn_says_relu_and_gives_keras_outputs() -> None:
    model = open_file("keras_relu_rnn.keras")
    assert (model["cell"], model["nonlinearity"]) == ("rnn", "relu")
    want = expected("keras_relu_rnn")
    (h,) = run_stack(model, want["x"][0])
    np.testing.assert_allclose(h, want["simple_rnn"][0], rtol=0, atol=F32)
    assert (h == 0).any()  # the fixture's ReLU does clip: tanh could not have given these


def test_bare_weights_h5_of_a_simple_rnn_asks_tanh_or_relu_and_opens_once_told() -> None:
    with pytest.raises(
        NonlinearityNeededError, match=r"cannot say whether it computes tanh or relu"
    ):
        open_file("keras_relu_rnn.weights.h5")
    model = open_file("keras_relu_rnn.weights.h5", nonlinearity="relu")
    assert model == open_file("keras_relu_rnn.keras")
    with pytest.raises(WeightsError, match=r"the file says the SimpleRNN uses relu, but tanh"):
        open_file("keras_relu_rnn.keras", nonlinearity="tanh")


@pytest.mark.parametrize("name", ["keras_trained.keras", "keras_trained.weights.h5"])
def test_a_model_saved_after_compile_and_fit_opens_and_gives_keras_outputs(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    if name.endswith(".keras"):
        data = zipfile.ZipFile(io.BytesIO(data)).read("model.weights.h5")
    with h5py.File(io.BytesIO(data), "r") as h5:  # the fixture holds what training leaves
        assert h5["optimizer/vars/0"].dtype == np.int32 and len(h5["optimizer/vars"]) > 2
    model = open_file(name)
    assert model["embedding"] == {"num_embeddings": 10, "embedding_dim": 4}
    assert (model["cell"], model["hidden_size"], model["output_size"]) == ("lstm", 6, 10)
    want = expected("keras_trained")
    ids = want["x"][0].astype(int)
    tr = engine_trace(model, ids)
    np.testing.assert_array_equal(tr.inputs, want["embedding"][0])  # a lookup: exact
    np.testing.assert_allclose(tr.layers[0].h, want["lstm"][0], rtol=0, atol=F32)
    np.testing.assert_allclose(tr.outputs, want["dense"][0], rtol=0, atol=F32)


# ---------------------------------------------------------------- Keras files that are refused


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "keras_lambda.keras",
            r"layer 'lambda' is a Lambda: .*bytecode.*nothing in an uploaded file is ever executed",
        ),
        ("keras_custom.keras", r"layer 'scale' is a fixtures>Scale .*custom.*not in the file"),
        ("keras_reset_before.keras", r"GRU 'gru\w*'.*reset_after=False.*cannot represent"),
        ("keras_reset_before.weights.h5", r"GRU 'gru\w*'.*reset_after=False"),
        (
            "keras_hard_sigmoid.keras",
            r"LSTM 'lstm\w*' has recurrent_activation 'hard_sigmoid', not the logistic sigmoid",
        ),
        ("keras_go_backwards.keras", r"LSTM 'lstm\w*' has go_backwards=True: it reads .* end"),
        (
            "keras_mixed.keras",
            r"recurrent layers are of different kinds \('bidirectional\w*': bidirectional lstm, "
            r"'gru\w*': gru, 'simple_rnn\w*': rnn\)",
        ),
    ],
)
def test_keras_models_that_cannot_be_represented_are_refused_naming_layer_and_reason(
    name: str, message: str
) -> None:
    with pytest.raises(WeightsError, match=message):
        open_file(name)


# ---------------------------------------------------------------- PyTorch state_dicts


def test_torch_stack_of_two_lstm_modules_of_their_own_widths_and_fc_gives_torch_outputs() -> None:
    model = open_file("torch_stack.safetensors")
    assert (model["hidden_size"], model["num_layers"], model["output_size"]) == ([5, 4], 2, 2)
    want = expected("torch_stack")
    h1, h2 = run_stack(model, want["x"])
    np.testing.assert_allclose(h1, want["lstm1"], rtol=0, atol=F32)
    np.testing.assert_allclose(h2, want["lstm2"], rtol=0, atol=F32)
    np.testing.assert_allclose(readout(model, h2), want["fc"], rtol=0, atol=F32)
    np.testing.assert_allclose(whole_model(model, want["x"])[1], want["lstm2"], atol=F32)


def test_word_language_model_encoder_rnn_decoder_opens_with_its_embedding() -> None:
    model = open_file("torch_wlm.safetensors")
    assert model["embedding"] == {"num_embeddings": 11, "embedding_dim": 6}
    assert (model["cell"], model["hidden_size"], model["num_layers"]) == ("lstm", 5, 2)
    assert model["output_size"] == 11
    want = expected("torch_wlm")
    X = arrays(model)["embedding.weight"][want["x"].astype(int)]
    np.testing.assert_array_equal(X, want["encoder"])
    h1, h2 = run_stack(model, X)
    np.testing.assert_allclose(h1, want["rnn_l0"], rtol=0, atol=F32)
    np.testing.assert_allclose(h2, want["rnn"], rtol=0, atol=F32)
    np.testing.assert_allclose(readout(model, h2), want["decoder"], rtol=0, atol=F32)
    whole = whole_model(model, want["x"].astype(int))
    np.testing.assert_allclose(whole[1], want["rnn"], rtol=0, atol=F32)


def test_torch_relu_rnn_is_refused_until_told_and_then_gives_torch_outputs() -> None:
    with pytest.raises(NonlinearityNeededError, match=r"choose the nonlinearity, tanh or relu"):
        open_file("torch_rnn_relu.safetensors")
    model = open_file("torch_rnn_relu.safetensors", nonlinearity="relu")
    assert model["nonlinearity"] == "relu"
    want = expected("torch_rnn_relu")
    (h,) = run_stack(model, want["x"])
    np.testing.assert_allclose(h, want["rnn"], rtol=0, atol=F32)
    as_tanh = open_file("torch_rnn_relu.safetensors", nonlinearity="tanh")
    assert "nonlinearity" not in as_tanh  # tanh is the default, as the user stated
    assert not np.allclose(run_stack(as_tanh, want["x"])[0], want["rnn"], atol=1e-3)


def st(arrays: dict[str, np.ndarray]) -> bytes:
    import safetensors.numpy

    return safetensors.numpy.save({k: v.astype(np.float32) for k, v in arrays.items()})


def test_bidirectional_two_layer_nn_lstm_names_open_as_a_bidirectional_model() -> None:
    rng, H, D = np.random.default_rng(0), 3, 2
    sd = {}
    for k, width_in in ((0, D), (1, 2 * H)):
        for suffix in ("", "_reverse"):
            sd |= {
                f"lstm.weight_ih_l{k}{suffix}": rng.standard_normal((4 * H, width_in)),
                f"lstm.weight_hh_l{k}{suffix}": rng.standard_normal((4 * H, H)),
                f"lstm.bias_ih_l{k}{suffix}": rng.standard_normal(4 * H),
                f"lstm.bias_hh_l{k}{suffix}": rng.standard_normal(4 * H),
            }
    model = load_weights(st(sd), "bi.safetensors")
    assert (model["bidirectional"], model["num_layers"], model["hidden_size"]) == (True, 2, 3)
    assert list(model["weights"])[:5] == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse"
    ]  # fmt: skip
    np.testing.assert_array_equal(
        arrays(model)["weight_ih_l1_reverse"], sd["lstm.weight_ih_l1_reverse"].astype(np.float32)
    )


def test_lstm_with_proj_size_opens_with_its_projection() -> None:
    rng, H, P, D = np.random.default_rng(1), 5, 2, 3
    sd = {}
    for k, width_in in ((0, D), (1, P)):
        sd |= {
            f"weight_ih_l{k}": rng.standard_normal((4 * H, width_in)),
            f"weight_hh_l{k}": rng.standard_normal((4 * H, P)),
            f"bias_ih_l{k}": rng.standard_normal(4 * H),
            f"bias_hh_l{k}": rng.standard_normal(4 * H),
            f"weight_hr_l{k}": rng.standard_normal((P, H)),
        }
    model = load_weights(st(sd | {"fc.weight": np.ones((1, P))}), "proj.safetensors")
    assert (model["cell"], model["proj_size"], model["hidden_size"]) == ("lstm", 2, 5)
    assert model["output_size"] == 1
    sd["weight_hr_l1"] = rng.standard_normal((P + 1, H))
    with pytest.raises(WeightsError, match=r"weight_hr_l1 has shape \(3, 5\); .* needs \(2, 5\)"):
        load_weights(st(sd), "proj.safetensors")
