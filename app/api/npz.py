"""The binary answer of POST /api/trace: an .npz of the JSON answer's arrays.

A client that asks for it (`Accept: application/x-npz`, or `"format": "npz"` in the body) gets
a zip of .npy files that `numpy.load(f)` reads with its default allow_pickle=False. Every array
of the JSON answer is a member named by its path in the answer, keys and list indices joined
by "/" (`inputs`, `layers/0/gates/f`, `layers/0/c`, `layers/1/grad_h_norm`, `outputs`, ...),
plus the parameters' gradients dL/dθ under `param_grads/<PyTorch name>` (`param_grads/
weight_hh_l0`: too large for the JSON answer, cheap here). Arrays keep the run's dtype (float32
is 4 bytes a number) and their non-finite values (NaN, ±inf; JSON sends them as null). The
member `meta.json` holds the rest of the answer as JSON bytes: the same object with every array
left out, and every object that held only arrays (`gates`); an array inside a list leaves null
in its place. So `json.loads(z["meta.json"])` has `cell`, `steps`, `loss`, `nonfinite`, each
layer's `layer` and `direction`, ... The flattening follows the answer's structure, whatever
fields it holds.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import serialize

MEDIA_TYPE = "application/x-npz"
_STAMP = (1980, 1, 1, 0, 0, 0)  # fixed member times: one request, one byte string
_SKIP = object()  # an array's place in meta.json, inside an object: left out


def _q(params: list[str]) -> float:
    for p in params:
        if p.strip().lower().startswith("q="):
            try:
                return float(p.strip()[2:])
            except ValueError:
                return 0.0
    return 1.0


def wanted(accept: str) -> bool:
    """The Accept header asks for the .npz: it names application/x-npz with a q above 0 and
    above application/json's (a client that names both at the same q gets JSON)."""
    q: dict[str, float] = {}
    for item in accept.split(","):
        name, *params = item.split(";")
        q[name.strip().lower()] = _q(params)
    npz = q.get(MEDIA_TYPE, 0.0)
    return npz > 0 and npz > q.get("application/json", 0.0)


def flatten(obj: Any, name: str, arrays: dict[str, np.ndarray]) -> Any:
    """`obj`'s arrays into `arrays` under their paths; returns the rest (for meta.json)."""
    if isinstance(obj, np.ndarray) and obj.ndim > 0:
        if obj.dtype.hasobject:
            raise TypeError(f"{name}: an array of Python objects cannot go in an .npz")
        arrays[name] = obj
        return _SKIP
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            rest = flatten(value, f"{name}/{key}" if name else str(key), arrays)
            if rest is not _SKIP:
                out[str(key)] = rest
        return _SKIP if obj and not out else out  # an object of arrays only: left out too
    if isinstance(obj, (list, tuple)) and any(isinstance(v, (dict, list, tuple, np.ndarray))
                                              for v in obj):  # fmt: skip
        rest = [flatten(v, f"{name}/{n}", arrays) for n, v in enumerate(obj)]
        return [None if v is _SKIP else v for v in rest]
    if isinstance(obj, np.generic | np.ndarray):  # a scalar
        return obj.item()
    return obj


def npz_bytes(answer: dict[str, Any]) -> bytes:
    """The .npz of an answer object: its arrays as .npy members, the rest as meta.json."""
    arrays: dict[str, np.ndarray] = {}
    meta = flatten(answer, "", arrays)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, a in arrays.items():
            with zf.open(zipfile.ZipInfo(f"{name}.npy", _STAMP), "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)
        zf.writestr(zipfile.ZipInfo("meta.json", _STAMP), serialize.dumps(meta))
    return out.getvalue()


def trace_npz(run: Any, extra: dict[str, Any]) -> Iterator[bytes]:
    """The .npz answer of POST /api/trace for a prepared run (one part, made when asked)."""
    trace = run.backward()
    answer = serialize.trace_answer(run, trace, extra)
    answer["param_grads"] = dict(trace.param_grads)
    yield npz_bytes(answer)
