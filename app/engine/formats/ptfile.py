"""PyTorch .pt / .pth files (torch.save of a state_dict) read as data, without torch.

torch.save writes a zip (PyTorch >= 1.6): `<name>/data.pkl` (the pickled OrderedDict, tensors
as persistent ids of storages), `<name>/data/<key>` (each storage's raw bytes), `<name>/
byteorder` ("little" or "big"), `<name>/version`, and a few small records. The pickle is read by
ptunpickle.py's restricted unpickler (the contract of torch's weights-only loader); here the zip is
bounded before anything is read (member count, the pickle's size, total uncompressed size,
compression ratio), every tensor's view (offset, size, stride) is checked against its storage's
member size, and only then are the bytes read into NumPy arrays.

A training checkpoint that holds the state_dict under "state_dict", "model_state_dict" or
"model" (beside "optimizer_state_dict", "epoch", ...) is read from that entry. A legacy
(non-zip) file of torch < 1.6 is refused with how to re-save it.
"""

from __future__ import annotations

import io
import math
import zipfile
from typing import Any, TypeGuard

import numpy as np

from . import ptunpickle
from .keras_files import MAX_RATIO
from .ptunpickle import STATE_DICT_FIX, TensorRef
from .weightfiles import ZIP_ERRORS, WeightsError

MAX_PICKLE_BYTES = 2 * 2**20  # a state_dict's pickle takes ~150 bytes a tensor
MAX_MEMBERS = ptunpickle.MAX_TENSORS + 16
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")
FLOATS = ("float16", "float32", "float64")
LEGACY = (
    "this .pt file is in PyTorch's legacy format (a bare pickle, written by torch older than "
    "1.6 or with _use_new_zipfile_serialization=False), which is not opened here: open it with "
    "a current torch (weights_only=True) and save it again, " + STATE_DICT_FIX
)


def read_pt(data: bytes, max_elements: int, max_bytes: int) -> dict[str, np.ndarray]:
    """The state_dict's float tensors by name, as NumPy arrays (copies, in the file's dtype)."""
    if data[:1] == b"\x80":
        raise WeightsError(LEGACY)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise WeightsError(
            "the file is not a PyTorch .pt file (torch.save writes a zip archive; this is "
            f"neither that nor a legacy pickle): save the weights with {STATE_DICT_FIX}"
        ) from None
    with archive:
        infos = _check_zip(archive, max_bytes)
        prefix = _record(infos)
        big = _byteorder(archive, infos.get(f"{prefix}/byteorder"))
        pkl = _read(archive, infos[f"{prefix}/data.pkl"], MAX_PICKLE_BYTES)
        top = ptunpickle.load(pkl, set(infos), prefix)
        tensors = _state_dict(top)
        _check_views(tensors, infos, max_elements)
        members = {ref.storage.key: ref.storage.member for ref in tensors.values()}
        storages = {key: _read(archive, infos[m], max_bytes) for key, m in members.items()}
    return {name: _array(ref, storages[ref.storage.key], big) for name, ref in tensors.items()}


def _check_zip(archive: zipfile.ZipFile, max_bytes: int) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS or len({i.filename for i in infos}) != len(infos):
        raise WeightsError(
            f"the .pt archive has {len(infos)} members, duplicated or more than this server "
            f"reads ({MAX_MEMBERS} members: {ptunpickle.MAX_TENSORS} tensors): save only the "
            f"recurrent layers, their embedding and readout, with {STATE_DICT_FIX}"
        )
    by_name = {i.filename: i for i in infos}
    for info in infos:
        if info.filename.endswith("/data.pkl") and info.file_size > MAX_PICKLE_BYTES:
            raise WeightsError(
                f"{info.filename!r} is a pickle of {info.file_size} bytes, more than this server "
                f"reads ({MAX_PICKLE_BYTES}; a state_dict's takes ~150 bytes a tensor): save "
                f"only the model's weights, with {STATE_DICT_FIX}"
            )
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise WeightsError(
            f"the .pt archive declares {total} uncompressed bytes, more than the limit of "
            f"{max_bytes} (LSTMX_MAX_UPLOAD_BYTES): upload a smaller model"
        )
    for info in infos:
        if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > 2**16:
            raise WeightsError(
                f"archive member {info.filename!r} expands {info.compress_size} bytes to "
                f"{info.file_size} (over {MAX_RATIO} times): refused as a possible zip bomb; "
                f"torch.save stores its members uncompressed, so save the weights again with "
                f"{STATE_DICT_FIX}"
            )
    return by_name


def _record(infos: dict[str, zipfile.ZipInfo]) -> str:
    """The archive's folder name: the one `<name>/data.pkl` (torch names it after the file)."""
    records = [name for name in infos if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(records) != 1:
        found = sorted(infos)[:8]
        raise WeightsError(
            f"the .pt archive holds {len(records)} '<name>/data.pkl' records (members: {found}); "
            f"torch.save writes exactly one: save the weights again with {STATE_DICT_FIX}"
        )
    return records[0].removesuffix("/data.pkl")


def _byteorder(archive: zipfile.ZipFile, info: zipfile.ZipInfo | None) -> bool:
    """True for big-endian storages; a file without the record is little-endian (torch < 1.10)."""
    if info is None:
        return False
    order = _read(archive, info, 16)
    if order not in (b"little", b"big"):
        raise WeightsError(
            f"the .pt archive's byteorder record says {order[:16]!r}, not 'little' or 'big': "
            f"the file is damaged; save the weights again with {STATE_DICT_FIX}"
        )
    return order == b"big"


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """At most `limit` bytes, and exactly the declared size (a member may lie about it)."""
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
            f"save the weights again with {STATE_DICT_FIX}"
        ) from None
    if len(data) != info.file_size:
        raise WeightsError(
            f"archive member {info.filename!r} holds {len(data)} bytes but declares "
            f"{info.file_size}: the file is damaged or crafted; save the weights again"
        )
    return data


def _state_dict(top: Any) -> dict[str, TensorRef]:
    """The tensors by name: the pickled dict itself, or a checkpoint's state_dict entry."""
    if not isinstance(top, dict) or not all(type(k) is str for k in top):
        what = type(top).__name__ if not isinstance(top, dict) else "dict with keys not strings"
        raise WeightsError(
            f"the .pt file holds a {what}, not a state_dict (a dict of tensors by name): "
            f"save the weights with {STATE_DICT_FIX}"
        )
    for candidate in (top, *(top.get(key) for key in CHECKPOINT_KEYS)):
        if _is_state_dict(candidate):
            return dict(candidate)
    if not top:
        raise WeightsError(
            f"the .pt file holds an empty dict, no weight tensors: save the weights with "
            f"{STATE_DICT_FIX}"
        )
    others = sorted(k for k, v in top.items() if not isinstance(v, TensorRef))
    raise WeightsError(
        f"the .pt file holds a dict whose entries {[k[:40] for k in others[:8]]} are not "
        f"tensors, and none of {list(CHECKPOINT_KEYS)} is a state_dict (a training "
        f"checkpoint?): save the model's weights alone, {STATE_DICT_FIX}"
    )


def _is_state_dict(value: Any) -> TypeGuard[dict[str, TensorRef]]:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(type(k) is str and isinstance(v, TensorRef) for k, v in value.items())
    )


def _check_views(
    tensors: dict[str, TensorRef], infos: dict[str, zipfile.ZipInfo], max_elements: int
) -> None:
    """Each tensor's dtype, and its view inside its storage; each storage's member size."""
    total = 0
    for name, ref in tensors.items():
        storage = ref.storage
        if storage.dtype not in FLOATS:
            what = storage.dtype or f"unknown ({storage.type_name})"
            raise WeightsError(
                f"tensor {name!r} has dtype {what}, but weights must be float16, float32 or "
                "float64: convert them before saving ({k: v.float() for k, v in "
                "model.state_dict().items()})"
            )
        if min(ref.size, default=0) < 0 or min(ref.stride, default=0) < 0 or ref.offset < 0:
            raise WeightsError(
                f"tensor {name!r} has offset {ref.offset}, size {ref.size} or stride "
                f"{ref.stride} below zero, which torch never writes: the file is damaged or "
                "crafted; save the weights again"
            )
        if max(ref.size, default=0) > max_elements:
            raise WeightsError(
                f"tensor {name!r} declares size {ref.size}, more numbers than this server takes "
                f"({max_elements}): upload a smaller model"
            )
        count = math.prod(ref.size)
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True))
        if count and last >= storage.numel:
            raise WeightsError(
                f"tensor {name!r} (offset {ref.offset}, size {ref.size}, stride {ref.stride}) "
                f"reaches element {last}, past the end of its storage of {storage.numel} "
                "elements: the file is damaged or crafted; save the weights again"
            )
        itemsize = np.dtype(storage.dtype).itemsize
        if infos[storage.member].file_size != storage.numel * itemsize:
            raise WeightsError(
                f"archive member {storage.member!r} holds {infos[storage.member].file_size} "
                f"bytes, but the pickle says it is {storage.numel} {storage.dtype} elements "
                f"({storage.numel * itemsize} bytes): the file is damaged; save it again"
            )
        total += count
        if total > max_elements:
            raise WeightsError(
                f"the file declares at least {total} numbers, more than this server takes "
                f"({max_elements}): upload a smaller model (fewer layers or units), or only its "
                "recurrent layers"
            )


def _array(ref: TensorRef, raw: bytes, big: bool) -> np.ndarray:
    """The view, copied out of its storage's bytes (bounds checked in _check_views)."""
    dtype = np.dtype(str(ref.storage.dtype)).newbyteorder(">" if big else "<")
    storage = np.frombuffer(raw, dtype=dtype)
    if math.prod(ref.size) == 0:
        return np.zeros(ref.size, dtype=dtype.newbyteorder("="))
    view = np.lib.stride_tricks.as_strided(
        storage[ref.offset :],
        shape=ref.size,
        strides=tuple(s * dtype.itemsize for s in ref.stride),
        writeable=False,
    )
    return np.array(view, dtype=dtype.newbyteorder("="))
