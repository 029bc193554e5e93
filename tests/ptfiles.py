"""PyTorch .pt files made without torch, for tests: the zip layout torch.save writes
(`<name>/data.pkl`, `<name>/data/<key>`, `<name>/byteorder`, `<name>/version`) and pickles
written opcode by opcode, so a test can make any file, well-formed or hostile.

    state_dict_pickle({"w": Ref("0", (2, 3), (3, 1))})  ->  the data.pkl torch would write
    archive(pkl, {"0": array.tobytes()})                ->  the .pt file's bytes
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass

import numpy as np

PROTO2 = b"\x80\x02"
MARK, TUPLE, STOP, REDUCE, EMPTY_TUPLE = b"(", b"t", b".", b"R", b")"
SETITEMS, BINPERSID, NEWFALSE, EMPTY_DICT = b"u", b"Q", b"\x89", b"}"


def glob(module: str, name: str) -> bytes:
    """GLOBAL: push the object `module.name` (what find_class is asked for)."""
    return b"c" + f"{module}\n{name}\n".encode()


def text(value: str) -> bytes:
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def integer(value: int) -> bytes:
    """BININT, or LONG1 for what does not fit 4 bytes (a pickle's arbitrary-size int)."""
    if -(2**31) <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data


def ints(values: tuple[int, ...]) -> bytes:
    return MARK + b"".join(integer(v) for v in values) + TUPLE


def ordered_dict() -> bytes:
    return glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE


@dataclass
class Ref:
    """One tensor as torch pickles it: a view (offset, size, stride) of storage `key`."""

    key: str
    size: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int = 0
    numel: int | None = None  # the storage's element count; default: exactly the view's
    storage: str = "FloatStorage"
    storage_module: str = "torch"


def storage_numel(ref: Ref) -> int:
    if ref.numel is not None:
        return ref.numel
    return ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True)) + 1


def tensor(ref: Ref) -> bytes:
    """_rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())."""
    pid = (
        MARK + text("storage") + glob(ref.storage_module, ref.storage) + text(ref.key)
        + text("cpu") + integer(storage_numel(ref)) + TUPLE
    )  # fmt: skip
    args = (
        MARK + pid + BINPERSID + integer(ref.offset) + ints(ref.size) + ints(ref.stride)
        + NEWFALSE + ordered_dict() + TUPLE
    )  # fmt: skip
    return glob("torch._utils", "_rebuild_tensor_v2") + args + REDUCE


def state_dict_pickle(entries: dict[str, Ref | bytes]) -> bytes:
    """An OrderedDict of name -> tensor (a Ref) or any raw pickled value (bytes)."""
    items = b"".join(
        text(name) + (tensor(v) if isinstance(v, Ref) else v) for name, v in entries.items()
    )
    return PROTO2 + ordered_dict() + MARK + items + SETITEMS + STOP


def archive(
    pkl: bytes,
    storages: dict[str, bytes],
    name: str = "archive",
    extra: dict[str, bytes] | None = None,
    compress: int = zipfile.ZIP_STORED,
    byteorder: str = "little",
) -> bytes:
    """The zip torch.save writes around a data.pkl and its storages."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compress) as z:
        z.writestr(f"{name}/data.pkl", pkl)
        z.writestr(f"{name}/byteorder", byteorder)
        for key, data in storages.items():
            z.writestr(f"{name}/data/{key}", data)
        z.writestr(f"{name}/version", "3\n")
        for member, data in (extra or {}).items():
            z.writestr(member, data)
    return buffer.getvalue()


def pt_file(tensors: dict[str, np.ndarray], dtype: str = "float32") -> bytes:
    """A well-formed .pt of contiguous tensors, one storage each (as torch.save writes)."""
    storage = {"float32": "FloatStorage", "float64": "DoubleStorage", "float16": "HalfStorage"}
    refs, storages = {}, {}
    for i, (name, array) in enumerate(tensors.items()):
        a = np.ascontiguousarray(array, dtype=dtype)
        stride = tuple(s // a.itemsize for s in a.strides)
        refs[name] = Ref(str(i), a.shape, stride, storage=storage[dtype], numel=a.size)
        storages[str(i)] = a.tobytes()
    return archive(state_dict_pickle(refs), storages)
