"""PyTorch .pt state_dicts as practitioners save them (tests/fixtures/make_pt_fixtures.py):
they open without torch and give torch's h, c, gates and logits to 1e-10 in float64, whatever
the head is called; what cannot be represented is refused saying why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ptfiles import Ref, archive, pt_file, state_dict_pickle

from app.engine import trace
from app.engine.formats.ptfile import read_pt
from app.engine.formats.weights import WeightsError, load_weights

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"
RTOL, ATOL = 1e-10, 1e-12
HEADS = {"torch_char_lm": "fc", "torch_tagger": "hidden2tag", "torch_classifier": "classifier",
         "torch_lm_head": "lm_head"}  # fmt: skip


def open_pt(name: str) -> dict:
    return load_weights((FIXTURES / f"{name}.pt").read_bytes(), f"{name}.pt")


@pytest.mark.parametrize("name", sorted(HEADS))
def test_a_state_dict_gives_torchs_states_gates_and_logits(name: str) -> None:
    model = open_pt(name)
    with np.load(FIXTURES / f"{name}_expected.npz", allow_pickle=False) as z:
        fx = {k: z[k] for k in z.files}
    assert model["embedding"] == {"num_embeddings": 11, "embedding_dim": 5}
    assert model["output_size"] == 11
    tr = trace(model, fx["tokens"])
    assert len(tr.layers) == model["num_layers"] == (2 if "l1_h" in fx else 1)
    for k, layer in enumerate(tr.layers):
        for gate in "ifgo":
            np.testing.assert_allclose(layer.gates[gate], fx[f"l{k}_{gate}"], RTOL, ATOL)
        np.testing.assert_allclose(layer.c, fx[f"l{k}_c"], RTOL, ATOL)
        np.testing.assert_allclose(layer.h, fx[f"l{k}_h"], RTOL, ATOL)
    np.testing.assert_allclose(tr.outputs, fx["logits"], RTOL, ATOL)


def test_a_head_without_bias_gets_a_zero_bias() -> None:
    model = open_pt("torch_lm_head")  # a checkpoint dict: its model_state_dict is read
    assert np.array_equal(model["weights"]["readout.bias"], np.zeros(11))


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("torch_two_layer_head", ["fc1.weight", "fc2.weight", "two layers (fc1 -> activation"]),
        ("torch_whole_model", ["__main__.CharLM", "torch.save(model.state_dict(), path)"]),
        ("torch_legacy", ["legacy format", "torch older than 1.6", "save it again"]),
    ],
)
def test_what_cannot_be_represented_is_refused_saying_why(name: str, fragments: list) -> None:
    with pytest.raises(WeightsError) as exc:
        open_pt(name)
    for fragment in fragments:
        assert fragment in str(exc.value)
    assert "Keras" not in str(exc.value)


def test_views_big_endian_and_half_storages_are_read_as_torch_lays_them_out() -> None:
    base = np.arange(12, dtype=np.float64)
    refs = {
        "t": Ref("0", (3, 2), (1, 3), numel=12, storage="DoubleStorage"),  # a transpose
        "s": Ref("0", (2,), (5,), offset=1, numel=12, storage="DoubleStorage"),  # a strided view
        "e": Ref("0", (0, 4), (4, 1), numel=12, storage="DoubleStorage"),
    }
    arrays = read_pt(archive(state_dict_pickle(refs), {"0": base.tobytes()}), 100, 2**20)
    np.testing.assert_array_equal(arrays["t"], base[:6].reshape(2, 3).T)
    np.testing.assert_array_equal(arrays["s"], [1.0, 6.0])
    assert arrays["e"].shape == (0, 4)
    pkl = state_dict_pickle({"w": Ref("0", (2,), (1,))})
    big = archive(pkl, {"0": np.array([1.0, -2.0], ">f4").tobytes()}, byteorder="big")
    np.testing.assert_array_equal(read_pt(big, 100, 2**20)["w"], [1.0, -2.0])
    with pytest.raises(WeightsError, match=r"byteorder record says b'middle'"):
        read_pt(archive(pkl, {"0": bytes(8)}, byteorder="middle"), 100, 2**20)
    half = pt_file({"w": np.array([0.5, -2.0])}, dtype="float16")
    assert read_pt(half, 100, 2**20)["w"].dtype == np.float16


def test_integer_and_bfloat16_tensors_are_refused_naming_the_tensor() -> None:
    refs = {"weight_ih_l0": Ref("0", (2,), (1,), storage="LongStorage")}
    with pytest.raises(WeightsError, match=r"'weight_ih_l0' has dtype int64, but weights must be"):
        read_pt(archive(state_dict_pickle(refs), {"0": bytes(16)}), 100, 2**20)
    refs = {"w": Ref("0", (2,), (1,), storage="BFloat16Storage")}
    with pytest.raises(WeightsError, match=r"'w' has dtype bfloat16.*v\.float\(\)"):
        read_pt(archive(state_dict_pickle(refs), {"0": bytes(4)}), 100, 2**20)


def test_the_element_budget_is_checked_before_any_storage_is_read() -> None:
    data = pt_file({"a": np.ones((10, 10)), "b": np.ones(5)})
    with pytest.raises(WeightsError, match=r"at least 100 numbers, more than this server takes"):
        read_pt(data, 99, 2**20)
    assert sorted(read_pt(data, 105, 2**20)) == ["a", "b"]


def test_a_checkpoint_without_a_state_dict_is_refused_listing_its_entries() -> None:
    pkl = state_dict_pickle({"epoch": b"K\x03", "w": Ref("0", (1,), (1,))})
    with pytest.raises(WeightsError, match=r"entries \['epoch'\] are not tensors.*state_dict"):
        read_pt(archive(pkl, {"0": bytes(4)}), 100, 2**20)


def test_an_empty_tensor_with_a_huge_dimension_is_refused_not_allocated() -> None:
    refs = {"w": Ref("0", (0, 10**30), (1, 1), numel=1)}  # NumPy cannot even index it
    with pytest.raises(WeightsError, match=r"'w' declares size \(0, 10{30}\)"):
        read_pt(archive(state_dict_pickle(refs), {"0": bytes(4)}), 100, 2**20)


def test_a_deeply_nested_key_is_refused_without_printing_it() -> None:
    key = b"N" + b"\x85" * 100_000  # None in 100,000 nested 1-tuples: a valid dict key
    pkl = b"\x80\x02}" + key + b"K\x01s."
    with pytest.raises(WeightsError, match="dict with keys not strings"):
        read_pt(archive(pkl, {}), 100, 2**20)
