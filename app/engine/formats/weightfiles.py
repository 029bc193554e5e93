"""Reading weight files safely: .safetensors and .npz, bounded before any data is read.

Other pickle files (.pkl, .ckpt, .bin, ...) are never opened, since unpickling can run code;
a .pt / .pth state_dict is read by ptfile.py's restricted unpickler, not here.
Size, headers, dtypes (float16/32/64), shapes and the element count are checked before any
tensor data is read: a 1 MB file cannot make the server allocate a gigabyte. weights.py maps
the names (PyTorch or Keras) onto the model.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct
import zipfile
import zlib
from pathlib import PurePath
from typing import Any, TypeGuard

import numpy as np
import safetensors.numpy
from numpy.lib import format as npy_format
from safetensors import SafetensorError


class WeightsError(ValueError):
    """A weight file that cannot be imported; the message says why and what to do instead."""


EXPORT_HINT = (
    "export the weights with safetensors (safetensors.torch.save_file(model.state_dict(), "
    "'model.safetensors')) or numpy.savez('model.npz', **{name: array})"
)
SAVE_AGAIN = f"save the weights again: {EXPORT_HINT}"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".ckpt", ".bin", ".joblib", ".tar")
MAX_HEADER_BYTES = 2**20
MAX_MEMBERS = 1000
ST_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64}
# one-string members of an .npz that describe the model (read by weights.py), not weights
META_KEYS = ("cell", "recurrent_activation", "activation", "nonlinearity", "reset_after", "readout")
ZIP_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError)
MAX_RATIO = 200  # uncompressed / compressed; a zip bomb's is in the thousands


def check_archive_size(infos: list[zipfile.ZipInfo], max_bytes: int, what: str, fix: str) -> None:
    """Refuse a `what` archive (".keras", ".pt") whose declared uncompressed total is over
    max_bytes, or a member that expands over MAX_RATIO times, before anything is read; `fix` is
    the error's advice (the writer never compresses so far, so a clean save passes)."""
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise WeightsError(
            f"the {what} archive declares {total} uncompressed bytes, more than the limit of "
            f"{max_bytes} (LSTMX_MAX_UPLOAD_BYTES): upload a smaller model"
        )
    for info in infos:
        if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > 2**16:
            raise WeightsError(
                f"archive member {info.filename!r} expands {info.compress_size} bytes to "
                f"{info.file_size} (over {MAX_RATIO} times): refused as a possible zip bomb "
                f"(a {what} file as its library saves it never expands so far); {fix}"
            )


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, fix: str) -> bytes:
    """At most `limit` bytes, and exactly the declared size: a member may lie about its size,
    so the stream is bounded too. `fix` is the errors' advice (how to save the file again)."""
    if info.file_size > limit:
        raise WeightsError(
            f"archive member {info.filename!r} is {info.file_size} bytes, more than this server "
            f"reads ({limit}): upload a smaller model"
        )
    try:
        with archive.open(info) as stream:
            data = stream.read(limit + 1)
    except (*ZIP_ERRORS, RuntimeError) as exc:
        raise WeightsError(
            f"archive member {info.filename!r} could not be read ({exc}): the file is damaged; "
            f"{fix}"
        ) from None
    if len(data) != info.file_size:
        raise WeightsError(
            f"archive member {info.filename!r} holds {len(data)} bytes but declares "
            f"{info.file_size}: the file is damaged or crafted; {fix}"
        )
    return data


def _pickle_error(data: bytes, what: str, force: bool = False) -> WeightsError | None:
    if force or (data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")):
        return WeightsError(
            f"{what} is a pickle-based file; unpickling can run arbitrary code, so it is never "
            f"opened: {EXPORT_HINT}, or torch.save(model.state_dict(), 'model.pt')"
        )
    return None


def read_file(data: bytes, filename: str, max_elements: int) -> tuple[dict, dict]:
    suffix = PurePath(filename).suffix.lower()
    if error := _pickle_error(data, f"{filename!r} ({suffix})", suffix in PICKLE_SUFFIXES):
        raise error
    if suffix == ".safetensors":
        return _read_safetensors(data, max_elements)
    if suffix == ".npz":
        return _read_npz(data, max_elements)
    raise WeightsError(
        f"unsupported file type {suffix or '(none)'!r} for {filename!r}: upload a .safetensors, "
        f".npz, .pt / .pth (a state_dict), .keras or .weights.h5 file; {EXPORT_HINT}"
    )


def _read_safetensors(data: bytes, max_elements: int) -> tuple[dict, dict]:
    if len(data) < 8:
        raise WeightsError(
            f"the file is {len(data)} bytes, too short for a .safetensors file (its header "
            f"alone takes more): it is truncated or not safetensors; {SAVE_AGAIN}"
        )
    (size,) = struct.unpack("<Q", data[:8])
    if size > MAX_HEADER_BYTES or 8 + size > len(data):
        raise WeightsError(
            f"the safetensors header claims {size} bytes, but the file holds {len(data) - 8} "
            f"after the length field (and headers are capped at {MAX_HEADER_BYTES}): it is "
            f"truncated or not safetensors; {SAVE_AGAIN}"
        )
    try:
        header = json.loads(data[8 : 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise WeightsError(
            f"the safetensors header is not valid JSON ({exc}): the file is damaged or not "
            f"safetensors; {SAVE_AGAIN}"
        ) from None
    meta = (header.pop("__metadata__", None) or {}) if isinstance(header, dict) else None
    if not isinstance(meta, dict):
        raise WeightsError(
            "the safetensors header or its __metadata__ is not a JSON object, as the format "
            f"requires: the file is damaged or not safetensors; {SAVE_AGAIN}"
        )
    total = 0
    for name, info in header.items():
        total += _check_safetensors_entry(name, info, len(data) - 8 - size)
        _check_total(total, max_elements)
    try:
        arrays = safetensors.numpy.load(data)
    except SafetensorError as exc:
        raise WeightsError(
            f"the safetensors file could not be read ({exc}); {SAVE_AGAIN}"
        ) from None
    return arrays, {str(k): str(v) for k, v in meta.items()}


def _check_safetensors_entry(name: str, info: Any, body: int) -> int:
    entry: dict[str, Any] = info if isinstance(info, dict) else {}
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype == "BF16":
        raise WeightsError(
            f"tensor {name!r} is bfloat16, which NumPy cannot hold; convert to float32 "
            "before saving (e.g. {k: v.float() for k, v in state_dict.items()})"
        )
    if dtype not in ST_DTYPES:
        raise WeightsError(
            f"tensor {name!r} has dtype {dtype}, but weights must be floats (F16, F32 or F64): "
            "convert them to float32 before saving"
        )
    if not (_naturals(shape) and _naturals(offsets) and len(offsets) == 2):
        raise WeightsError(
            f"tensor {name!r}: its shape or data_offsets is not a list of integers, as the "
            f"safetensors format requires: the file is damaged; {SAVE_AGAIN}"
        )
    begin, end, count = offsets[0], offsets[1], math.prod(shape)
    if not begin <= end <= body or count * np.dtype(ST_DTYPES[dtype]).itemsize != end - begin:
        raise WeightsError(
            f"tensor {name!r}: shape {shape} of {dtype} does not match its data_offsets "
            f"{offsets} (data section of {body} bytes): the file is truncated or damaged; "
            f"{SAVE_AGAIN}"
        )
    return count


def _naturals(value: Any) -> TypeGuard[list[int]]:
    return isinstance(value, list) and all(type(v) is int and v >= 0 for v in value)


def _check_total(total: int, max_elements: int) -> None:
    if total > max_elements:
        raise WeightsError(
            f"the file declares at least {total} numbers, more than this server takes "
            f"({max_elements}): upload a smaller model (fewer layers or units), or only its "
            "recurrent layers"
        )


def _read_npz(data: bytes, max_elements: int) -> tuple[dict, dict]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise _pickle_error(data, "this .npz") or WeightsError(
            "the .npz file is not a zip archive, as numpy.savez writes one: it is damaged or "
            f"not an .npz; {SAVE_AGAIN}"
        ) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise WeightsError(
                f"the .npz holds {len(infos)} arrays, more than this server reads "
                f"({MAX_MEMBERS}): save only the recurrent layers and their readout"
            )
        if len({i.filename for i in infos}) != len(infos):
            raise WeightsError(
                "the .npz holds two arrays under one name, which numpy.savez never writes: "
                f"the archive was edited or is damaged; {SAVE_AGAIN}"
            )
        total = 0
        for info in infos:
            total += _check_npy_member(archive, info, max_elements)
            _check_total(total, max_elements)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except ZIP_ERRORS as exc:
        raise WeightsError(f"the .npz file could not be read ({exc}); {SAVE_AGAIN}") from None
    strings = [key for key, array in arrays.items() if array.dtype.kind == "U"]
    return arrays, {key: str(arrays.pop(key).reshape(-1)[0]) for key in strings}


def _check_npy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_elements: int) -> int:
    """Check one member's .npy header against its stored size; return its element count."""
    key = info.filename.removesuffix(".npy")
    if key == info.filename:
        raise WeightsError(
            f"archive member {key!r} is not a .npy array; an .npz must hold only arrays "
            "written by numpy.savez (is this a renamed PyTorch checkpoint?)"
        )
    readers = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
    try:
        with archive.open(info) as stream:
            version = npy_format.read_magic(stream)
            if version not in readers:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, _, dtype = readers[version](stream)
            header_bytes = stream.tell()
    except ZIP_ERRORS as exc:
        raise WeightsError(
            f"array {key!r} has no readable .npy header ({exc}): the archive is damaged; "
            f"{SAVE_AGAIN}"
        ) from None
    count, is_meta = math.prod(shape), re.split(r"[/.]", key)[-1] in META_KEYS
    if dtype.kind == "U" and is_meta and count == 1 and dtype.itemsize <= 1024:
        return 0
    if dtype.kind != "f" or dtype.itemsize not in (2, 4, 8):
        why = " (object arrays need pickle, which is never used)" if dtype.hasobject else ""
        raise WeightsError(
            f"array {key!r} has dtype {dtype}{why}, but weights must be float16, float32 or "
            "float64: convert them to float32 before saving"
        )
    if count > max_elements:
        raise WeightsError(
            f"array {key!r} declares shape {shape} ({count} numbers), more than this server "
            f"takes ({max_elements}): upload a smaller model"
        )
    if info.file_size != header_bytes + count * dtype.itemsize:
        raise WeightsError(
            f"array {key!r} declares shape {shape} of {dtype} ({count * dtype.itemsize} bytes) "
            f"but its archive member holds {info.file_size - header_bytes} data bytes: the "
            f"archive is truncated or damaged; {SAVE_AGAIN}"
        )
    return count
