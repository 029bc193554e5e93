"""The .npz form of a trace answer (DESIGN.md, "Binary answers"): every array of the JSON
answer as a member named by its path (`inputs`, `layers/0/gates/f`, `layers/0/c`, `outputs`,
...), the parameters' gradients under `param_grads/<PyTorch name>`, arrays in the run's dtype;
`meta.json` holds the rest of the answer (the same object with its arrays left out, and every
object that held only arrays). `numpy.load(f)` reads it with allow_pickle=False.

The wire branch (issue #19) writes the same format for POST /api/trace in a module of this
name; when both meet, its version (built on serialize.trace_answer) replaces this one, with
the same `trace_npz(run, extra)`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..engine import Run
from .serialize import dumps, first_nonfinite, hidden_size, layer_dict, model_extras

_SKIP = object()  # an array's place in meta.json: left out


def flatten(obj: Any, name: str, arrays: dict[str, np.ndarray]) -> Any:
    """`obj`'s arrays into `arrays` under their paths; returns the rest (for meta.json)."""
    if isinstance(obj, np.ndarray) and obj.ndim > 0:
        arrays[name] = obj
        return _SKIP
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            rest = flatten(value, f"{name}/{key}" if name else str(key), arrays)
            if rest is not _SKIP:
                out[str(key)] = rest
        return _SKIP if obj and not out else out
    if isinstance(obj, (list, tuple)) and any(isinstance(v, (dict, list, tuple, np.ndarray))
                                              for v in obj):  # fmt: skip
        rest = [flatten(v, f"{name}/{n}", arrays) for n, v in enumerate(obj)]
        return [None if v is _SKIP else v for v in rest]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def trace_npz(run: Run, extra: dict[str, Any]) -> Iterator[bytes]:
    """Run forward and backward; the answer as .npz bytes (one part)."""
    trace = run.backward()
    spec = run.spec
    answer: dict[str, Any] = {
        "cell": spec.cell,
        "steps": trace.steps,
        "hidden_size": hidden_size(spec),
        "num_layers": spec.num_layers,
        **model_extras(spec),
        "inputs": trace.inputs,
        "layers": [layer_dict(layer) for layer in trace.layers],
    }
    if trace.tokens is not None:  # dL/d(embedding row read at step t), as in the JSON answer
        answer["grad_embedding"] = trace.grad_inputs
    loss = trace.loss if np.isfinite(trace.loss) else None
    answer.update(loss=loss, outputs=trace.outputs, nonfinite=first_nonfinite(trace), **extra)
    answer["param_grads"] = dict(trace.param_grads)
    arrays: dict[str, np.ndarray] = {}
    meta = flatten(answer, "", arrays)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)
        archive.writestr("meta.json", dumps(meta))
    yield buf.getvalue()
