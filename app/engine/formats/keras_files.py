"""Reading Keras 3 files as data: a `.keras` zip and a `.weights.h5`, never by calling Keras.

A `.keras` file (keras.src.saving.saving_lib) is a zip of `config.json` (the layers and their
options), `metadata.json` and `model.weights.h5` (the arrays, under `layers/<key>/.../vars/<i>`).
Loading it with Keras would deserialise the config, which can run code (a Lambda's marshalled
bytecode, a custom layer's class); here the config is only JSON and the weights only arrays.

Bombs are refused before data is read: the zip's member count, each member's declared and
actual size and its compression ratio; the HDF5 file's object count, every dataset's dtype,
shape and byte size (summed), and any filter (compression), external storage, virtual dataset
or link that is not a plain hard link. Only `layers/` is walked: a trained model's
`optimizer/` (and any other group that holds no layer weights) is left unopened.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from typing import Any

import h5py
import numpy as np

from .weightfiles import WeightsError

MAX_ZIP_MEMBERS = 16  # a .keras holds three files (and an assets/ folder, unused here)
MAX_RATIO = 200  # uncompressed / compressed; a zip bomb's is in the thousands
MAX_CONFIG_BYTES = 4 * 2**20
MAX_H5_OBJECTS = 10_000
KERAS_MEMBERS = ("config.json", "model.weights.h5")


def read_keras(data: bytes, max_elements: int, max_bytes: int) -> tuple[dict, dict, set]:
    """A `.keras` zip -> (config.json as a dict, {h5 path: array}, the h5's group paths)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise WeightsError(
            "the .keras file is not a zip archive (Keras 3's model.save writes one; an older "
            "Keras wrote HDF5 .h5 files: save with Keras 3 or use model.save_weights)"
        ) from None
    with archive:
        members = _check_zip(archive, max_bytes)
        missing = [m for m in KERAS_MEMBERS if m not in members]
        if missing:
            found = list(members)[:8]
            raise WeightsError(
                f"the .keras archive has no {missing[0]} (members: {found}), which Keras 3's "
                "model.save('m.keras') always writes: save the model again"
            )
        raw_config = _read_member(archive, members["config.json"], MAX_CONFIG_BYTES)
        h5_bytes = _read_member(archive, members["model.weights.h5"], max_bytes)
    try:
        config = json.loads(raw_config)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise WeightsError(
            f"config.json in the .keras file is not valid JSON ({exc}): the file is damaged; "
            "save the model again"
        ) from None
    if not isinstance(config, dict):
        raise WeightsError(
            "config.json in the .keras file is not a JSON object: the file is damaged; save "
            "the model again"
        )
    return config, *read_h5(h5_bytes, max_elements, max_bytes)


def _check_zip(archive: zipfile.ZipFile, max_bytes: int) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_MEMBERS or len({i.filename for i in infos}) != len(infos):
        raise WeightsError(
            f"the .keras archive has {len(infos)} members, duplicated or over {MAX_ZIP_MEMBERS} "
            "(Keras writes three): the file was edited or is not Keras'; save the model again"
        )
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise WeightsError(
            f"the .keras archive declares {total} uncompressed bytes, more than the limit of "
            f"{max_bytes} (LSTMX_MAX_UPLOAD_BYTES): upload a smaller model"
        )
    for info in infos:
        if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > 2**16:
            raise WeightsError(
                f"archive member {info.filename!r} expands {info.compress_size} bytes to "
                f"{info.file_size} (over {MAX_RATIO} times): refused as a possible zip bomb; "
                "Keras' own files never expand so far, so save the model again with model.save"
            )
    return {i.filename: i for i in infos}


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """Read at most `limit` bytes; the declared size may lie, so the stream is bounded too."""
    if info.file_size > limit:
        raise WeightsError(
            f"{info.filename!r} is {info.file_size} bytes, more than this server takes "
            f"({limit}): upload a smaller model"
        )
    try:
        with archive.open(info) as stream:
            data = stream.read(limit + 1)
    except (
        ValueError,
        OSError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
        NotImplementedError,
        RuntimeError,
    ) as exc:
        raise WeightsError(
            f"archive member {info.filename!r} could not be read ({exc}): the file is damaged; "
            "save the model again"
        ) from None
    if len(data) > limit:
        raise WeightsError(
            f"{info.filename!r} holds more than {limit} bytes, more than it declares: the file "
            "is damaged or crafted; save the model again"
        )
    return data


def read_h5(data: bytes, max_elements: int, max_bytes: int) -> tuple[dict, set]:
    """Every dataset of a Keras weights HDF5 file as {path: float array}, checked before any is
    read, and the paths of its groups (a layer without weights, a Lambda say, is only a group)."""
    if not data.startswith(b"\x89HDF\r\n\x1a\n"):
        raise WeightsError(
            "the weights file is not HDF5 (Keras 3's model.save_weights('m.weights.h5') writes one)"
        )
    try:
        with h5py.File(io.BytesIO(data), "r") as h5:
            datasets, groups = _walk(h5, max_elements, max_bytes)
            return {path: _read_dataset(h5, path) for path in datasets}, groups
    except WeightsError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise WeightsError(
            f"the HDF5 weights could not be read ({exc}): the file is damaged; save the weights "
            "again with model.save_weights('m.weights.h5')"
        ) from None


def _walk(h5: h5py.File, max_elements: int, max_bytes: int) -> tuple[list[str], set[str]]:
    """Check every object under layers/ without reading data; return the dataset and group
    paths. Top-level groups other than layers/ (a trained model's optimizer/ with its int32
    iteration count and moments, metrics/, the model's own vars/) hold no layer weights: only
    their names are kept (a Keras 2 file is known by its model_weights/), nothing in them is
    opened."""
    datasets, groups, pending = [], set(), [""]
    seen = elements = size = 0
    while pending:
        path = pending.pop()
        group = h5[path] if path else h5
        for key in group:
            path = f"{group.name.strip('/')}/{key}".strip("/")  # noqa: PLW2901
            if group.name == "/" and key != "layers":  # optimizer/, metrics/, vars/: no weights
                groups.add(path)
                continue
            seen += 1
            if seen > MAX_H5_OBJECTS:
                raise WeightsError(
                    f"the HDF5 file holds over {MAX_H5_OBJECTS} objects, more than this server "
                    "reads: save only the recurrent layers, their embedding and readout"
                )
            link = group.get(key, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise WeightsError(
                    f"HDF5 object {path!r} is a {type(link).__name__}; only plain groups and "
                    "datasets are read (links can point outside the file): save the weights "
                    "with Keras' model.save_weights, which writes no links"
                )
            obj = group[key]
            if isinstance(obj, h5py.Group):
                pending.append(path)
                groups.add(path)
                continue
            if not isinstance(obj, h5py.Dataset):
                raise WeightsError(
                    f"HDF5 object {path!r} is not a group or a dataset, which Keras never writes: "
                    "save the weights again with model.save_weights"
                )
            count, nbytes = _check_dataset(path, obj)
            elements, size = elements + count, size + nbytes
            if elements > max_elements or size > max_bytes:
                raise WeightsError(
                    f"the HDF5 datasets declare {elements} elements ({size} bytes), more than "
                    f"the limit of {max_elements} elements or {max_bytes} bytes: upload a "
                    "smaller model"
                )
            datasets.append(path)
    return datasets, groups


def _check_dataset(path: str, ds: h5py.Dataset) -> tuple[int, int]:
    dtype, shape = ds.dtype, ds.shape
    if shape is None or dtype.kind != "f" or dtype.itemsize not in (2, 4, 8):
        raise WeightsError(
            f"HDF5 dataset {path!r} has dtype {dtype} and shape {shape}; weights must be "
            "float16, float32 or float64 arrays: convert them to float32 and save again"
        )
    plist = ds.id.get_create_plist()
    if plist.get_nfilters() or plist.get_external_count() or ds.is_virtual:
        raise WeightsError(
            f"HDF5 dataset {path!r} is compressed, external or virtual; Keras writes plain "
            "datasets, and these are refused since their size cannot be checked before reading; "
            "save the weights again with model.save_weights"
        )
    count = math.prod(shape)
    return count, count * dtype.itemsize


def _read_dataset(h5: h5py.File, path: str) -> np.ndarray:
    array = np.asarray(h5[path][()])
    if not np.all(np.isfinite(array)):
        raise WeightsError(
            f"HDF5 dataset {path!r} contains NaN or infinity, so the model cannot be run: the "
            "training that made it diverged; save an earlier checkpoint"
        )
    return array


def config_of(config: Any, where: str) -> dict[str, Any]:
    """A layer's `config` object, or a refusal naming where it should have been."""
    inner = config.get("config") if isinstance(config, dict) else None
    if not isinstance(inner, dict):
        raise WeightsError(
            f"config.json: {where} has no 'config' object, which Keras always writes: the file "
            "is damaged; save the model again"
        )
    return inner
