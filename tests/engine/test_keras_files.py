"""Keras files refused by their structure, before any weight is read: a bare .weights.h5 with
a layer of unknown kind, mixed kinds or Keras 2's layout; zip bombs, oversized or compressed,
linked, virtual and non-float HDF5 datasets. And what is never read at all: a trained model's
optimizer/ (its int32 iteration count and moments), whatever it holds."""

from __future__ import annotations

import io
import zipfile

import h5py
import numpy as np
import pytest

from app.engine.formats import keras_files
from app.engine.formats.weights import WeightsError, load_weights


def h5_bytes(build) -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        build(h5)
    return buffer.getvalue()


def test_bare_weights_h5_with_a_layer_of_unknown_kind_is_refused_even_without_weights() -> None:
    def build(h5: h5py.File) -> None:
        h5["layers/lstm/cell/vars/0"] = np.ones((2, 8), "f4")
        h5["layers/lstm/cell/vars/1"] = np.ones((2, 8), "f4")
        h5.create_group("layers/lambda/vars")

    with pytest.raises(WeightsError, match=r"a layer 'lambda', not one of Keras' .*Lambda"):
        load_weights(h5_bytes(build), "m.weights.h5")


def test_bare_weights_h5_mixing_kinds_of_layer_is_refused_naming_them() -> None:
    def build(h5: h5py.File) -> None:
        for key, H, G in (("lstm", 2, 4), ("gru", 3, 3)):
            h5[f"layers/{key}/cell/vars/0"] = np.ones((2, G * H), "f4")
            h5[f"layers/{key}/cell/vars/1"] = np.ones((H, G * H), "f4")
            h5[f"layers/{key}/cell/vars/2"] = np.ones((2, G * H) if G == 3 else G * H, "f4")

    with pytest.raises(WeightsError, match=r"different kinds \('gru': gru, 'lstm': lstm\)"):
        load_weights(h5_bytes(build), "m.weights.h5")


def test_keras2_hdf5_file_is_refused_saying_what_is_read() -> None:
    data = h5_bytes(lambda h5: h5.create_group("model_weights/lstm"))
    with pytest.raises(WeightsError, match=r"no layers/ group \(this looks like a Keras 2"):
        load_weights(data, "old.h5")


# ---------------------------------------------------------------- bombs, refused before reading


@pytest.fixture
def no_data_read(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("a dataset was read")

    monkeypatch.setattr(keras_files, "_read_dataset", refuse)


def keras_zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_bomb_member_is_refused_by_its_compression_ratio() -> None:
    data = keras_zip({"config.json": b"{}", "model.weights.h5": bytes(20 * 2**20)})
    assert len(data) < 100_000
    with pytest.raises(
        WeightsError, match=r"'model.weights.h5' expands \d+ bytes to 20971520 .*zip bomb"
    ):
        load_weights(data, "m.keras")


def test_keras_zip_over_the_uncompressed_size_limit_is_refused() -> None:
    noise = np.random.default_rng(0).bytes(100_000)  # incompressible: no zip bomb, just big
    data = keras_zip({"config.json": b"{}", "model.weights.h5": noise + bytes(100_000)})
    assert len(data) < 150_000
    with pytest.raises(
        WeightsError, match=r"declares 200002 uncompressed bytes, more than .*150000"
    ):
        load_weights(data, "m.keras", max_bytes=150_000)


def test_keras_zip_with_too_many_members_or_no_config_is_refused() -> None:
    many = keras_zip({f"assets/{i}": b"" for i in range(40)})
    with pytest.raises(WeightsError, match=r"40 members, duplicated or over 16"):
        load_weights(many, "m.keras")
    with pytest.raises(WeightsError, match=r"the .keras archive has no config.json"):
        load_weights(keras_zip({"model.weights.h5": b""}), "m.keras")
    with pytest.raises(WeightsError, match=r"is not a zip archive"):
        load_weights(b"\x89HDF\r\n\x1a\n", "m.keras")


def test_hdf5_dataset_declaring_a_huge_shape_is_refused_before_any_data_is_read(
    no_data_read: None,
) -> None:
    def build(h5: h5py.File) -> None:  # chunked and never written: a few kB on disk
        h5.create_dataset("layers/lstm/cell/vars/0", shape=(100_000, 40_000), dtype="f4",
                          chunks=(100, 100))  # fmt: skip

    data = h5_bytes(build)
    assert len(data) < 10_000
    with pytest.raises(WeightsError, match=r"declare 4000000000 elements .* more than the limit"):
        load_weights(data, "m.weights.h5")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("gzip", r"'layers/lstm/cell/vars/0' is compressed, external or virtual"),
        ("int", r"'layers/lstm/cell/vars/0' has dtype int64 .*must be float16, float32"),
        ("external_link", r"'layers/lstm/cell/vars/0' is a ExternalLink; only plain groups"),
        ("soft_link", r"'layers/lstm/cell/vars/0' is a SoftLink"),
        ("virtual", r"'layers/lstm/cell/vars/0' is compressed, external or virtual"),
    ],
)
def test_hdf5_compression_links_virtual_and_non_float_data_are_refused_unread(
    kind: str, message: str, no_data_read: None
) -> None:
    path = "layers/lstm/cell/vars/0"

    def build(h5: h5py.File) -> None:
        h5["other/x"] = np.ones(3, "f4")
        if kind == "gzip":
            h5.create_dataset(path, data=np.zeros((64, 64), "f4"), compression="gzip")
        elif kind == "int":
            h5[path] = np.ones((2, 8), "i8")
        elif kind == "external_link":
            h5[path] = h5py.ExternalLink("/etc/passwd", "/x")
        elif kind == "soft_link":
            h5[path] = h5py.SoftLink("/other/x")
        else:
            layout = h5py.VirtualLayout(shape=(3,), dtype="f4")
            layout[:] = h5py.VirtualSource(".", "other/x", shape=(3,))
            h5.create_virtual_dataset(path, layout)

    with pytest.raises(WeightsError, match=message):
        load_weights(h5_bytes(build), "m.weights.h5")


def test_groups_beside_layers_are_never_opened_whatever_they_hold() -> None:
    """optimizer/ of a trained model, metrics/, vars/: int32 counters, strings, a huge
    dataset (4 TB if read) and a link to another file would each be refused under layers/."""

    def build(h5: h5py.File) -> None:
        h5["layers/simple_rnn/cell/vars/0"] = np.ones((1, 2), "f4")
        h5["layers/simple_rnn/cell/vars/1"] = np.ones((2, 2), "f4")
        h5["optimizer/vars/0"] = np.int32(7)
        h5.create_dataset("optimizer/vars/1", shape=(10**6, 10**6), dtype="f4")
        h5["metrics/names"] = "accuracy"
        h5["vars/elsewhere"] = h5py.ExternalLink("/etc/passwd", "/x")

    with pytest.raises(WeightsError, match="cannot say whether it computes tanh or relu"):
        load_weights(h5_bytes(build), "m.weights.h5")  # reached the layers: only they count
