"""Heads as people name them: one Linear beside the recurrent layers is the readout whatever its
name; a second Linear (a two-layer head) is refused saying so; a PyTorch file is never called
Keras because its head has a `.bias`."""

from __future__ import annotations

import numpy as np
import pytest
import safetensors.numpy

from app.engine.formats.weights import WeightsError, load_weights

RNG = np.random.default_rng(3)
H, D, O, V = 3, 2, 4, 5


def lstm(prefix: str = "lstm.", D: int = D) -> dict[str, np.ndarray]:
    return {f"{prefix}weight_ih_l0": RNG.standard_normal((4 * H, D)),
            f"{prefix}weight_hh_l0": RNG.standard_normal((4 * H, H)),
            f"{prefix}bias_ih_l0": RNG.standard_normal(4 * H),
            f"{prefix}bias_hh_l0": RNG.standard_normal(4 * H)}  # fmt: skip


def linear(name: str, rows: int = O, cols: int = H, bias: bool = True) -> dict[str, np.ndarray]:
    found = {f"{name}.weight": RNG.standard_normal((rows, cols))}
    return found | ({f"{name}.bias": RNG.standard_normal(rows)} if bias else {})


def open_st(arrays: dict[str, np.ndarray]) -> dict:
    return load_weights(safetensors.numpy.save(arrays), "m.safetensors")


def refusal(arrays: dict[str, np.ndarray]) -> str:
    with pytest.raises(WeightsError) as exc:
        open_st(arrays)
    assert "Keras" not in str(exc.value)  # the file is PyTorch's, whatever is wrong with it
    return str(exc.value)


@pytest.mark.parametrize(
    "head",
    ["fc", "head", "decoder", "hidden2tag", "classifier", "lm_head", "out", "linear",
     "model.output_layer", "proj_out"],
)  # fmt: skip
def test_one_linear_is_the_readout_whatever_its_name(head: str) -> None:
    arrays = lstm() | linear(head)
    model = open_st(arrays)
    assert model["output_size"] == O
    np.testing.assert_array_equal(model["weights"]["readout.weight"], arrays[f"{head}.weight"])
    np.testing.assert_array_equal(model["weights"]["readout.bias"], arrays[f"{head}.bias"])


def test_a_tagger_with_word_embeddings_and_hidden2tag_opens_with_both() -> None:
    model = open_st(lstm() | {"word_embeddings.weight": RNG.standard_normal((V, D))}
                    | linear("hidden2tag"))  # fmt: skip
    assert model["embedding"] == {"num_embeddings": V, "embedding_dim": D}
    assert model["output_size"] == O


def test_a_head_without_bias_reads_a_zero_bias() -> None:
    model = open_st(lstm() | linear("lm_head", bias=False))
    assert model["weights"]["readout.bias"] == [0.0] * O


@pytest.mark.parametrize(
    "heads", [("fc1", "fc2"), ("classifier", "pre_classifier"), ("head.0", "head.2")]
)
def test_a_two_layer_head_is_refused_as_such(heads: tuple[str, str]) -> None:
    first, second = heads
    message = refusal(lstm() | linear(first, rows=6) | linear(second, rows=O, cols=6))
    assert "more than one readout Linear" in message
    assert f"{first}.weight" in message and f"{second}.weight" in message
    assert "two layers (fc1 -> activation -> fc2) is not modelled" in message


def test_a_linear_before_the_recurrent_layers_is_refused_by_its_width() -> None:
    message = refusal(lstm(D=7) | linear("input_proj", rows=7, cols=9))
    assert "'input_proj' reads 9 numbers, but the top recurrent layer gives 3" in message


def test_a_norm_layer_is_an_unknown_tensor_not_a_head() -> None:
    message = refusal(lstm() | {"ln.weight": np.ones(H), "ln.bias": np.zeros(H)} | linear("fc"))
    assert "does not recognise: ['ln.bias', 'ln.weight']" in message


def test_real_mixes_of_pytorch_and_keras_names_are_still_named() -> None:
    keras = {"dense/kernel:0": np.ones((H, O)), "dense/bias:0": np.ones(O)}
    with pytest.raises(WeightsError, match="mixes PyTorch names"):
        open_st(lstm() | keras)
