"""Every refusal of the weight importer reads as a sentence a practitioner understands: what is
wrong with this file (naming the tensor, layer or number) and what to do instead."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from app.engine.formats.weights import WeightsError, load_weights

# A refusal says what to do: one of these verbs starts its advice.
ADVICE = ("save", "upload", "convert", "retrain", "leave", "correct", "export", "check")


def st(arrays: dict, meta: dict | None = None) -> bytes:
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    return safetensors.numpy.save(arrays, metadata=meta)


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def rnn(k: int = 0, H: int = 2, D: int = 1, G: int = 1, prefix: str = "") -> dict:
    return {f"{prefix}weight_ih_l{k}": np.ones((G * H, D)),
            f"{prefix}weight_hh_l{k}": np.ones((G * H, H))}  # fmt: skip


def keras_layer(name: str, G: int, D: int = 1, H: int = 2, gru: bool = False) -> dict:
    bias = np.zeros((2, G * H)) if gru else np.zeros(G * H)
    return {f"{name}/kernel:0": np.ones((D, G * H)), f"{name}/recurrent_kernel:0":
            np.ones((H, G * H)), f"{name}/bias:0": bias}  # fmt: skip


def refusal(data: bytes, name: str = "m.safetensors", **kw) -> str:
    with pytest.raises(WeightsError) as exc:
        load_weights(data, name, **kw)
    return str(exc.value)


def header_file(header: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header


def npz_with(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


CASES = {
    "keras mixes lstm and gru layers": (
        lambda: st(keras_layer("lstm", 4) | keras_layer("lstm_1", 3, D=2, gru=True)),
        ["layer 0 lstm", "layer 1 gru", "one cell", "all LSTM, all GRU"],
    ),
    "pytorch mixes cells": (
        lambda: st(rnn(0, G=4) | rnn(1, D=2, G=1)),
        ["different kinds", "layer 0 lstm, layer 1 rnn"],
    ),
    "half a bidirectional layer": (
        lambda: st(rnn(G=4) | {"weight_ih_l0_reverse": np.ones((8, 1))}),
        ["has no weight_hh_l0_reverse", "this lstm model needs", "(8, 2)", "_reverse copy"],
    ),
    "unknown names": (
        lambda: st(rnn() | {"attention.in_proj_weight": np.ones((3, 1))}),
        [
            "['attention.in_proj_weight']",
            "does not recognise",
            "weight_ih_l0",
            "weight_ih_l0_reverse",
            "leave other layers out",
        ],
    ),
    "pytorch and keras names": (
        lambda: st(rnn() | keras_layer("lstm", 4)),
        ["mixes PyTorch names", "Keras names", "one model per file"],
    ),
    "two readouts": (
        lambda: st(rnn() | {"fc.weight": np.ones((3, 2)), "readout.weight": np.ones((3, 2))}),
        ["more than one readout", "['fc.weight', 'readout.weight']", "at most one"],
    ),
    "stacked modules that do not fit": (
        lambda: st(rnn(prefix="enc.", G=4) | rnn(prefix="dec.", G=4)),
        ["weight_ih_l1 has shape (8, 1)", "needs (8, 2)", "different models or layers"],
    ),
    "bidirectional and one-way modules": (
        lambda: st(
            rnn(prefix="a.", G=4)
            | rnn(prefix="a.", G=4, k=0, D=1)
            | {"a.weight_ih_l0_reverse": np.ones((8, 1)), "a.weight_hh_l0_reverse": np.ones((8, 2))}
            | rnn(prefix="b.", G=4, D=4)
        ),  # fmt: skip
        ["['a', 'b']", "some are bidirectional", "all bidirectional or all one-way"],
    ),
    "no first layer": (
        lambda: st({"weight_hh_l1": np.ones((2, 2)), "weight_ih_l1": np.ones((2, 2))}),
        ["has no weight_hh_l0", "found nothing for layer 0", "counted from 0"],
    ),
    "keras without recurrent layers": (
        lambda: st({"dense/kernel:0": np.ones((2, 1)), "dense/bias:0": np.ones(1)}),
        ["no Keras recurrent layer", "'dense'", "LSTM, GRU or SimpleRNN"],
    ),
    "keras with two dense layers": (
        lambda: st(
            keras_layer("lstm", 4)
            | {"d1/kernel:0": np.ones((2, 2)), "d2/kernel:0": np.ones((2, 1))}
        ),  # fmt: skip
        ["2 layers that are not recurrent", "['d1', 'd2']", "at most one Dense readout"],
    ),
    "keras kernel from another layer": (
        lambda: st(keras_layer("lstm", 4) | {"lstm/kernel:0": np.ones((1, 12))}),
        ["'lstm'", "kernel of shape (1, 12)", "(input width, 8)", "different layers"],
    ),
    "keras recurrent kernel of no cell": (
        lambda: st(keras_layer("conv", 4) | {"conv/recurrent_kernel:0": np.ones((2, 5))}),
        ["'conv'", "(2, 5)", "no LSTM (H, 4H), GRU (H, 3H) or SimpleRNN (H, H)"],
    ),
    "nan": (
        lambda: st(rnn() | {"weight_hh_l0": np.full((2, 2), np.nan)}),
        ["'weight_hh_l0'", "NaN or infinity", "diverged", "earlier checkpoint"],
    ),
    "no tensors": (
        lambda: st({}, {"cell": "lstm"}),
        ["'m.safetensors' holds no weight tensors", "state_dict"],
    ),
    "cell hint of no cell": (
        lambda: st(rnn(), {"cell": "transformer"}),
        ["['transformer']", "must be one of ['lstm', 'gru', 'rnn']", "leave it out"],
    ),
    "hint disagrees with shapes": (
        lambda: st(rnn(G=3), {"cell": "lstm"}),
        ["the shapes say the cell is gru", "3·H rows", "names 'lstm'"],
    ),
    "an activation neither tanh nor relu": (
        lambda: st(rnn(), {"nonlinearity": "elu"}),
        ["nonlinearity = 'elu'", "tanh", "relu", "model using elu", "retrain it with tanh"],
    ),
    "relu named for an lstm": (
        lambda: st(rnn(G=4), {"nonlinearity": "relu", "cell": "lstm"}),
        ["says relu, which only a plain RNN computes", "['lstm']", "correct the metadata"],
    ),
    "a plain rnn that cannot say its nonlinearity": (
        lambda: st(rnn()),
        ["plain RNN", "cannot say whether it computes tanh or relu", "choose", "tanh or relu"],
    ),
    "a plain rnn whose file and request disagree": (
        lambda: st(rnn(), {"nonlinearity": "relu"}),
        ["the file says the SimpleRNN uses relu, but tanh was chosen", "choose relu"],
    ),
    "peephole on a gru": (
        lambda: st(rnn(G=3) | {"weight_ci_l0": np.ones(2)}),
        ["peephole weights", "only a one-way LSTM", "cell is gru"],
    ),
    "safetensors header not json": (
        lambda: header_file(b"{nope"),
        ["header is not valid JSON", "damaged or not safetensors", "save_file"],
    ),
    "safetensors metadata not an object": (
        lambda: header_file(b'{"__metadata__": [1]}'),
        ["__metadata__ is not a JSON object", "save the weights again"],
    ),
    "safetensors integer tensor": (
        lambda: (
            header_file(b'{"w": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]}}')
            + b"\0" * 4
        ),
        ["'w' has dtype I32", "must be floats", "convert them to float32"],
    ),
    "safetensors offsets not integers": (
        lambda: header_file(b'{"w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}}'),
        ["'w'", "not a list of integers", "damaged", "save the weights again"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_each_refusal_names_the_problem_and_what_to_do(case):
    make, phrases = CASES[case]
    asked = {"nonlinearity": "tanh"} if "disagree" in case else {}
    message = refusal(make(), **asked)
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in {message!r}"
    assert any(verb in message.lower() for verb in ADVICE), message


NPZ_CASES = {
    "not a zip": (lambda: b"PK not really", ["not a zip archive", "numpy.savez"]),
    "a member that is not an array": (
        lambda: npz_with({"data.pkl": b"x"}),
        ["'data.pkl' is not a .npy array", "renamed PyTorch checkpoint"],
    ),
    "a damaged npy header": (
        lambda: npz_with({"w.npy": b"\x93NUMPY garbage"}),
        ["'w' has no readable .npy header", "damaged", "save the weights again"],
    ),
    "too many members": (
        lambda: npz(**{f"w{k}": np.ones(1) for k in range(1001)}),
        ["1001 arrays", "(1000)", "only the recurrent layers"],
    ),
}


@pytest.mark.parametrize("case", NPZ_CASES)
def test_each_npz_refusal_names_the_problem_and_what_to_do(case):
    make, phrases = NPZ_CASES[case]
    message = refusal(make(), "m.npz")
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in {message!r}"
    assert any(verb in message.lower() for verb in ADVICE), message


def test_a_bidirectional_state_dict_opens_where_it_was_once_refused():
    both = rnn(G=4) | {"weight_ih_l0_reverse": np.ones((8, 1)), "weight_hh_l0_reverse":
                       np.ones((8, 2)), "fc.weight": np.ones((3, 4))}  # fmt: skip
    model = load_weights(st(both), "m.safetensors")
    assert (model["bidirectional"], model["hidden_size"], model["output_size"]) == (True, 2, 3)
    half = refusal(st(rnn(G=4) | {"weight_hh_l0_reverse": np.ones((8, 2))}))
    assert "not supported" not in half and "one direction only" not in half
    assert "has no weight_ih_l0_reverse" in half


def test_a_relu_rnn_opens_once_its_nonlinearity_is_stated():
    assert load_weights(st(rnn()), "m.safetensors", nonlinearity="relu")["nonlinearity"] == "relu"
    model = load_weights(st(rnn(), {"nonlinearity": "relu"}), "m.safetensors")
    assert (model["cell"], model["nonlinearity"]) == ("rnn", "relu")
    message = refusal(st(rnn()), nonlinearity="sigmoid")
    assert "'sigmoid'" in message and "tanh or relu" in message


KERAS_FILES = {
    "keras_lambda.keras": ["layer 'lambda' is a Lambda", "Replace it with built-in layers"],
    "keras_custom.keras": ["layer 'scale'", "custom", "Replace it with built-in layers"],
    "keras_reset_before.keras": ["GRU 'gru", "reset_after=False", "Retrain with reset_after"],
    "keras_reset_before.weights.h5": ["GRU 'gru", "Retrain with reset_after=True"],
    "keras_hard_sigmoid.keras": ["LSTM 'lstm", "hard_sigmoid", "retrain with"],
    "keras_go_backwards.keras": ["LSTM 'lstm", "go_backwards=True", "wrap the layer"],
    "keras_mixed.keras": ["'gru_1': gru", "'simple_rnn': rnn", "upload a model built so"],
}


@pytest.mark.parametrize("name", KERAS_FILES)
def test_each_keras_refusal_names_the_layer_and_what_to_do(name):
    data = (Path(__file__).parents[1] / "fixtures" / "import" / name).read_bytes()
    message = refusal(data, name)
    for phrase in KERAS_FILES[name]:
        assert phrase in message, f"{phrase!r} not in {message!r}"
    assert any(verb in message.lower() for verb in ADVICE), message


def test_the_old_garbled_refusals_are_gone():
    mixed = refusal(st(keras_layer("lstm", 4) | keras_layer("gru", 3, D=2, gru=True)))
    assert "hint says None" not in mixed and "the shapes say" not in mixed


def test_limits_are_named_with_the_setting_that_raises_them():
    message = refusal(st(rnn()), max_bytes=10)
    assert "more than this server takes (10; LSTMX_MAX_UPLOAD_BYTES)" in message
    message = refusal(st(rnn(H=8)), max_elements=20)
    assert "declares at least 64 numbers, more than this server takes (20)" in message
    assert "upload a smaller model" in message


def test_a_pickle_is_never_opened_and_the_refusal_says_how_to_export():
    message = refusal(b"\x80\x04anything", "model.pkl")
    assert "never opened" in message and "safetensors.torch.save_file" in message
    assert json.dumps(message)  # a plain string the API can send
