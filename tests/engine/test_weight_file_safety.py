"""Weight files refused by their type or their bytes, before any tensor is read: pickles (a .pt
named so is read by the restricted unpickler, test_pt_import.py), unknown types, object and
integer arrays, crafted headers and shapes, the element and byte limits, NaN and infinity."""

from __future__ import annotations

import io
import pickle
import struct
import zipfile

import numpy as np
import pytest
import safetensors.numpy
from numpy.lib import format as npy_format
from weight_helpers import load, npz_bytes, random_params, st_raw

from app.engine.formats.weights import WeightsError, load_weights, save_weights
from app.engine.params import ModelSpec

# ---------------------------------------------------------------- refusals: file types and safety


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize("filename", ["model.pkl", "model.ckpt", "model.bin", "model.PKL"])
def test_pickle_based_file_types_are_refused_by_name(filename: str) -> None:
    with pytest.raises(
        WeightsError, match=r"pickle-based file; unpickling can run arbitrary code.*safetensors"
    ):
        load_weights(pickle.dumps(Evil()), filename)


def test_pickle_bytes_are_refused_whatever_the_name(capsys: pytest.CaptureFixture) -> None:
    data = pickle.dumps({"weight_ih_l0": Evil()})
    for name in ("weights.dat", "weights.npz", "weights.safetensors"):
        with pytest.raises(WeightsError, match="pickle-based file"):
            load_weights(data, name)
    assert "pwned" not in capsys.readouterr().out


@pytest.mark.parametrize("filename", ["model.pt", "model.pth", "model.PT"])
def test_a_bare_pickle_named_pt_is_refused_as_the_legacy_format_unread(
    filename: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(WeightsError, match=r"legacy format .* torch older than 1\.6.*state_dict"):
        load_weights(pickle.dumps(Evil()), filename)
    assert "pwned" not in capsys.readouterr().out


def test_unknown_extension_is_refused_with_what_to_upload() -> None:
    with pytest.raises(
        WeightsError, match=r"unsupported file type '\.onnx'.*\.safetensors, \.npz, \.pt"
    ):
        load_weights(b"\x08\x07", "model.onnx")


def test_renamed_pytorch_zip_checkpoint_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"a": 1}))
    with pytest.raises(WeightsError, match=r"member 'archive/data.pkl' is not a \.npy array"):
        load_weights(buffer.getvalue(), "model.npz")


def test_npz_object_array_is_refused() -> None:
    data = npz_bytes(weight_ih_l0=np.array([{"x": 1}], dtype=object))
    with pytest.raises(
        WeightsError, match=r"'weight_ih_l0' has dtype object \(object arrays need pickle"
    ):
        load_weights(data, "m.npz")


def test_npz_integer_array_is_refused() -> None:
    with pytest.raises(
        WeightsError,
        match=r"'weight_ih_l0' has dtype int64, but weights must be float16.*convert them to "
        r"float32",
    ):
        load_weights(npz_bytes(weight_ih_l0=np.ones((4, 1), dtype=np.int64)), "m.npz")


def crafted_npz(shape: tuple, payload: bytes = b"\0" * 16) -> bytes:
    member = io.BytesIO()
    npy_format.write_array_header_1_0(
        member, {"descr": "<f8", "fortran_order": False, "shape": shape}
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("weight_hh_l0.npy", member.getvalue() + payload)
    return buffer.getvalue()


def test_npz_declaring_a_huge_shape_is_refused_before_allocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_load(*args, **kwargs):
        raise AssertionError("np.load must not be reached")

    monkeypatch.setattr(np, "load", no_load)
    data = crafted_npz((100000, 100000))
    assert len(data) < 1000
    with pytest.raises(
        WeightsError,
        match=r"declares shape \(100000, 100000\) \(10000000000 numbers\), more than this "
        r"server takes \(20000000\): upload a smaller model",
    ):
        load_weights(data, "m.npz")
    with pytest.raises(
        WeightsError, match=r"\(80000000000 bytes\) but its archive member holds 16 data bytes"
    ):
        load_weights(data, "m.npz", max_elements=10**11)


def test_safetensors_with_oversize_header_length_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(safetensors.numpy, "load", lambda data: pytest.fail("must not be reached"))
    data = struct.pack("<Q", 2**20 + 1) + b" " * (2**20 + 100)
    with pytest.raises(
        WeightsError,
        match=r"header claims 1048577 bytes, .* capped at 1048576.*save the weights again",
    ):
        load_weights(data, "m.safetensors")
    with pytest.raises(WeightsError, match=r"header claims 1000 bytes.*holds 3 after"):
        load_weights(struct.pack("<Q", 1000) + b"{}x", "m.safetensors")
    with pytest.raises(
        WeightsError,
        match=r"the file is 3 bytes, too short for a .safetensors file.*save the weights again",
    ):
        load_weights(b"abc", "m.safetensors")


def test_safetensors_shape_that_does_not_match_its_data_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(safetensors.numpy, "load", lambda data: pytest.fail("must not be reached"))
    header = {"weight_hh_l0": {"dtype": "F64", "shape": [100000, 100000], "data_offsets": [0, 16]}}
    with pytest.raises(
        WeightsError, match=r"tensor 'weight_hh_l0': shape \[100000, 100000\] of F64 does not match"
    ):
        load_weights(st_raw(header, b"\0" * 16), "m.safetensors")


@pytest.mark.parametrize(
    ("dtype", "message"),
    [
        ("BF16", "bfloat16, which NumPy cannot hold"),
        ("I64", "dtype I64, but weights must be floats .* convert them to float32"),
    ],
)
def test_safetensors_non_float_dtypes_are_refused(dtype: str, message: str) -> None:
    header = {
        "weight_hh_l0": {
            "dtype": dtype,
            "shape": [1],
            "data_offsets": [0, 8 if dtype == "I64" else 2],
        }
    }
    with pytest.raises(WeightsError, match=message):
        load_weights(st_raw(header, b"\0" * 8), "m.safetensors")


def test_element_limit_counts_all_tensors() -> None:
    params = random_params(ModelSpec(cell="lstm", input_size=10, hidden_size=10))
    with pytest.raises(
        WeightsError,
        match=r"declares at least 880 numbers, more than this server takes \(500\): upload",
    ):
        load(params, "safetensors", max_elements=500)


def test_file_over_max_bytes_is_refused() -> None:
    data = save_weights(random_params(ModelSpec(cell="rnn", input_size=2, hidden_size=2)), "npz")
    with pytest.raises(
        WeightsError,
        match=rf"the file is {len(data)} bytes, more than this server takes \(100; .*upload a "
        rf"smaller",
    ):
        load_weights(data, "m.npz", max_bytes=100)


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_are_refused_naming_the_tensor(fmt: str, bad: float) -> None:
    params = random_params(ModelSpec(cell="gru", input_size=2, hidden_size=2))
    params["bias_hh_l0"][3] = bad
    with pytest.raises(WeightsError, match=r"tensor 'bias_hh_l0' contains NaN or infinity"):
        load(params, fmt)
