"""A trace answer as an .npz (DESIGN.md, "Binary answers"): the JSON answer's arrays under
flattened names (`layers/0/gates/f`, `layers/0/c`, `param_grads/weight_hh_l0`, ...) in the run's
dtype, and `meta.json` (UTF-8 JSON bytes) holding everything else under the same flat names.
`np.load(path)` reads it without pickles: `npz["layers/0/h"]`, `json.loads(npz["meta.json"])`.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np

from ..engine import Run
from .serialize import dumps, first_nonfinite, hidden_size, layer_dict, model_extras

META = "meta.json"


def trace_npz(run: Run, extra: dict[str, Any]) -> bytes:
    """Run forward and backward; the answer as .npz bytes."""
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
    answer["param_grads"] = trace.param_grads
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {}
    _flatten(answer, "", arrays, meta)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)
        archive.writestr(META, dumps(meta))
    return buf.getvalue()


def _flatten(value: Any, name: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    if isinstance(value, dict) and value and not (name and _is_note(value)):
        for key, item in value.items():
            _flatten(item, f"{name}/{key}" if name else str(key), arrays, meta)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for k, item in enumerate(value):
            _flatten(item, f"{name}/{k}", arrays, meta)
    elif isinstance(value, np.ndarray):
        arrays[name] = value
    elif isinstance(value, list) and value and isinstance(value[0], np.ndarray):
        for k, item in enumerate(value):  # per-entry arrays of different widths
            arrays[f"{name}/{k}"] = item
    else:
        meta[name] = value


def _is_note(value: dict[str, Any]) -> bool:
    """A small dict of scalars (the "nonfinite" note) stays one entry of meta.json."""
    return not any(isinstance(v, (dict, list, np.ndarray)) for v in value.values())
