"""A restricted unpickler for the data.pkl of a PyTorch state_dict: the contract of torch's
weights-only loader (torch/_weights_only_unpickler.py), with nothing of torch imported or called.

This is the one module of the app that imports pickle. Three guards, each enough alone:

1. Before any object is made, `scan` walks the opcodes (pickletools.genops parses, it never
   constructs) and refuses any opcode torch's own weights-only unpickler does not implement
   (INST, OBJ, STACK_GLOBAL, EXT*, NEWOBJ_EX, FRAME, PERSID, buffers, ...) and any GLOBAL not
   on the allow-list, by name. Memo indices must count up as a pickler writes them (the C
   unpickler sizes its memo by the largest index, so one huge index would cost gigabytes).
2. `find_class` answers only the allow-list, and answers it with stand-ins defined here, never
   the real objects: `collections.OrderedDict` (the one real class: a dict), the tensor rebuild
   functions (`torch._utils._rebuild_tensor_v2`, `_rebuild_parameter`) as `_Rebuild` callables
   that check their arguments and return a `TensorRef`, the storage types (`torch.FloatStorage`,
   ..., `torch.storage.UntypedStorage`, `TypedStorage`) and dtypes (`torch.float32`, ...) as
   inert markers. REDUCE can therefore call nothing else; NEWOBJ can only make an OrderedDict;
   BUILD on a stand-in raises (its __setstate__), on an OrderedDict sets an attribute
   (`_metadata`, as torch writes).
3. `persistent_load` accepts only ('storage', storage type, key, location, numel) with a key
   naming an existing member `<archive>/data/<key>` of the zip; it returns a `StorageRef`.
   No data is read here: ptfile.py checks each tensor's view against its storage's size and
   reads the bytes afterwards.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import pickletools
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from .weightfiles import WeightsError

MAX_TENSORS = 4096
# the opcodes torch's weights-only unpickler implements (torch.save writes protocol 2)
OPCODES = frozenset(
    "PROTO GLOBAL REDUCE NEWOBJ BUILD APPEND APPENDS SETITEM SETITEMS MARK TUPLE TUPLE1 TUPLE2 "
    "TUPLE3 NONE NEWFALSE NEWTRUE EMPTY_TUPLE EMPTY_LIST EMPTY_DICT EMPTY_SET BININT BININT1 "
    "BININT2 BINFLOAT BINUNICODE SHORT_BINSTRING BINPERSID BINGET LONG_BINGET BINPUT "
    "LONG_BINPUT LONG1 STOP".split()
)
# element dtype (NumPy's name) of each storage type torch pickles; None: no NumPy float
STORAGE_DTYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
}  # fmt: skip
DTYPES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8",
          "uint8", "bool")  # fmt: skip
# modules whose globals run code: the message says so (any global outside the list is refused)
DANGEROUS = ("os", "posix", "nt", "sys", "subprocess", "builtins", "shutil", "socket",
             "importlib", "runpy", "pty", "code", "ctypes", "webbrowser", "marshal", "types",
             "pickle", "_pickle", "functools", "operator", "codecs", "_codecs", "io")  # fmt: skip
KEY_RE = re.compile(r"\w{1,64}")
ALLOWED = ("collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
           "torch._utils._rebuild_parameter, torch.*Storage and dtypes")  # fmt: skip
STATE_DICT_FIX = "torch.save(model.state_dict(), path)"


@dataclass(frozen=True)
class StorageType:
    """A storage type or dtype named in the pickle; only its dtype is used."""

    name: str
    dtype: str | None

    def __setstate__(self, state: Any) -> NoReturn:
        _refuse_build(self.name)


@dataclass(frozen=True)
class StorageRef:
    """A persistent id: the storage held in zip member `member`, `numel` elements of dtype."""

    key: str
    member: str
    dtype: str | None
    type_name: str
    numel: int


class TensorRef:
    """A tensor as a view of a storage: element offset, size and stride, all unchecked here."""

    __slots__ = ("offset", "size", "storage", "stride")

    def __init__(self, storage: StorageRef, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __setstate__(self, state: Any) -> NoReturn:
        _refuse_build("a tensor")


class _Rebuild:
    """A stand-in for one of torch's tensor rebuild functions; REDUCE calls it."""

    __slots__ = ("count", "fn", "name")

    def __init__(self, name: str, fn: Callable[..., TensorRef], count: list[int]) -> None:
        self.name, self.fn, self.count = name, fn, count

    def __call__(self, *args: Any) -> TensorRef:
        self.count[0] += 1
        if self.count[0] > MAX_TENSORS:
            raise WeightsError(
                f"the .pt file holds more than {MAX_TENSORS} tensors, more than this server "
                "reads: save only the recurrent layers, their embedding and readout"
            )
        return self.fn(*args)

    def __setstate__(self, state: Any) -> NoReturn:
        _refuse_build(self.name)


def _refuse_build(what: str) -> NoReturn:
    raise WeightsError(
        f"the pickle in this .pt file applies BUILD to {what}, which torch.save never writes: "
        f"the file was crafted or damaged; it was refused and nothing in it was run. Save the "
        f"weights again with {STATE_DICT_FIX}"
    )


def _rebuild_tensor_v2(
    storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any, hooks: Any, *meta: Any
) -> TensorRef:
    if not isinstance(storage, StorageRef) or len(meta) > 1:
        raise _damaged("_rebuild_tensor_v2 is given no storage, or too many arguments")
    if type(offset) is not int or not _int_tuple(size) or not _int_tuple(stride):
        raise _damaged(f"_rebuild_tensor_v2 is given offset {offset!r}, size and stride {size!r}, "
                       f"{stride!r}, not integers")  # fmt: skip
    if len(size) != len(stride) or len(size) > 8:
        raise _damaged(f"a tensor has size {size} but stride {stride} (or over 8 dimensions)")
    return TensorRef(storage, offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: Any, hooks: Any) -> TensorRef:
    if not isinstance(data, TensorRef):
        raise _damaged("_rebuild_parameter is given something that is not a tensor")
    return data


def _int_tuple(value: Any) -> bool:
    return type(value) is tuple and all(type(v) is int for v in value)


def _damaged(why: str) -> WeightsError:
    return WeightsError(
        f"the .pt file's pickle is not a state_dict as torch.save writes one ({why}): it was "
        f"refused and nothing in it was run. Save the weights again with {STATE_DICT_FIX}"
    )


def _globals(count: list[int]) -> dict[str, Any]:
    found: dict[str, Any] = {"collections.OrderedDict": OrderedDict}
    found["torch._utils._rebuild_tensor_v2"] = _Rebuild("_rebuild_tensor_v2", _rebuild_tensor_v2,
                                                        count)  # fmt: skip
    found["torch._utils._rebuild_parameter"] = _Rebuild("_rebuild_parameter", _rebuild_parameter,
                                                        count)  # fmt: skip
    for name, dtype in STORAGE_DTYPES.items():
        found[f"torch.{name}"] = StorageType(name, dtype)
    for name in ("UntypedStorage", "TypedStorage"):  # bytes, or a dtype the pickle cannot say
        marker = StorageType(name, "uint8" if name == "UntypedStorage" else None)
        found[f"torch.{name}"] = found[f"torch.storage.{name}"] = marker
    for name in DTYPES:
        found[f"torch.{name}"] = StorageType(name, None)
    return found


def refuse_global(module: str, name: str) -> NoReturn:
    full = f"{module}.{name}"
    if module.split(".")[0] in DANGEROUS:
        raise WeightsError(
            f"the pickle in this .pt file calls for {full}, which can run code on this server: "
            f"refused, and nothing in the file was run. A state_dict needs only {ALLOWED}; "
            f"if you made this file, save the weights with {STATE_DICT_FIX}"
        )
    what = (
        "a TorchScript module (torch.jit.save)"
        if module.startswith("__torch__")
        else "a whole model or object saved with torch.save(model)"
    )
    raise WeightsError(
        f"the pickle in this .pt file calls for {full}, which a state_dict never holds (it "
        f"needs only {ALLOWED}): this looks like {what}, which only its own code can open; it "
        f"was refused and nothing in it was run. Save the weights instead: {STATE_DICT_FIX}"
    )


def _py3_name(module: str, name: str = "") -> tuple[str, str]:
    """The name find_class is given: protocol 2 pickles carry Python 2's module names
    (__builtin__, commands for subprocess), which the unpickler maps back (fix_imports)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def scan(pkl: bytes) -> None:
    """Refuse, by name, any opcode or GLOBAL outside the allow-list; nothing is constructed."""
    allowed, puts = _globals([0]), 0
    try:
        for op, arg, pos in pickletools.genops(pkl):
            if op.name not in OPCODES:
                raise WeightsError(
                    f"the pickle in this .pt file uses opcode {op.name} (at byte {pos}), which "
                    "torch.save never writes for a state_dict (it writes pickle protocol 2): "
                    f"refused, and nothing in the file was run. Save the weights with "
                    f"{STATE_DICT_FIX}"
                )
            if op.name in ("BINPUT", "LONG_BINPUT"):  # a pickler numbers its memo 0, 1, ...
                if not isinstance(arg, int) or arg > puts:
                    raise _damaged(f"memo index {arg} at byte {pos} skips ahead of {puts}")
                puts += 1
            if op.name == "GLOBAL":
                module, name = _py3_name(*str(arg).split(" ", 1))
                if f"{module}.{name}" not in allowed:
                    refuse_global(module, name)
    except WeightsError:
        raise
    except (ValueError, EOFError) as exc:  # genops' way of saying the bytes are no pickle
        raise _damaged(f"its opcodes cannot be read: {exc}") from None


class StateDictUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose globals are the allow-list's stand-ins and whose persistent ids
    are storages of this archive only."""

    def __init__(self, pkl: bytes, members: set[str], prefix: str) -> None:
        super().__init__(io.BytesIO(pkl))
        self.members, self.prefix = members, prefix
        self.allowed = _globals([0])
        self.storages: dict[str, StorageRef] = {}

    def find_class(self, module: str, name: str) -> Any:
        found = self.allowed.get(f"{module}.{name}")
        if found is None:
            refuse_global(module, name)
        return found

    def persistent_load(self, pid: Any) -> StorageRef:
        if not (type(pid) is tuple and len(pid) == 5 and pid[0] == "storage"):
            raise WeightsError(
                f"the pickle in this .pt file asks for persistent id {str(pid)[:80]}, but only "
                "('storage', type, key, location, size) tuples naming the archive's own "
                "storages are read: refused, and nothing in the file was run"
            )
        _, kind, key, location, numel = pid
        if not isinstance(kind, StorageType) or type(numel) is not int or numel < 0:
            raise _damaged(f"persistent id {str(pid)[:80]} names no storage type and size")
        if type(key) is not str or not KEY_RE.fullmatch(key):
            raise WeightsError(
                f"the pickle in this .pt file asks for storage {str(key)[:80]!r}, which is no "
                f"member name torch writes (data/0, data/1, ...): it points outside the "
                "archive's storages; refused, and nothing in the file was run"
            )
        member = f"{self.prefix}/data/{key}"
        if member not in self.members:
            raise WeightsError(
                f"the pickle in this .pt file asks for storage {member!r}, which is not in the "
                "archive: the file is truncated or damaged; save the weights again with "
                f"{STATE_DICT_FIX}"
            )
        ref = StorageRef(key, member, kind.dtype, kind.name, numel)
        if self.storages.setdefault(key, ref) != ref:
            raise _damaged(f"storage {key!r} is given two types or sizes")
        return ref


def load(pkl: bytes, members: set[str], prefix: str) -> Any:
    """The pickled object, with TensorRef in place of tensors; WeightsError if refused."""
    scan(pkl)
    try:
        return StateDictUnpickler(pkl, members, prefix).load()
    except WeightsError:
        raise
    except Exception as exc:  # noqa: BLE001 (any other failure of a hostile pickle is a refusal)
        raise _damaged(f"{type(exc).__name__}: {str(exc)[:200]}") from None
