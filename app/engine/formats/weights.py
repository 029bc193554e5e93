"""Weight import and export: the one entry point for every weight file.

`load_weights` returns the API's `model` object with PyTorch names and shapes (see params.py):

* .safetensors, .npz (weightfiles.py) and .pt / .pth state_dicts (ptfile.py, a restricted
  unpickler: the contract of torch's weights-only loader) give named tensors; PyTorch names are
  mapped by torch_names.py, Keras names by keras_names.py.
* Keras 3's own .keras and .weights.h5 (keras_files.py, as data) are mapped layer by layer
  (keras_config.py, keras_model.py).
* A missing bias (PyTorch bias=False, Keras use_bias=False) is filled with zeros, which is exact.
* Refused, never approximated: metadata recurrent_activation other than sigmoid
  (hard_sigmoid), activation/nonlinearity other than tanh (or relu for a plain RNN), a Keras
  GRU with reset_after=False. Metadata: safetensors "__metadata__" or one-string members of an
  .npz, keyed by the last path part: cell, recurrent_activation, activation, nonlinearity,
  reset_after.
* Every value must be finite; sizes, dtypes and shapes are checked before data is read.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import safetensors.numpy

from ..params import CELLS, N_BLOCKS
from . import keras_files
from .keras_config import layers_from_config
from .keras_model import build_model, layers_from_arrays
from .keras_names import from_keras, reset_after_false
from .model_object import choose_nonlinearity, describe
from .ptfile import read_pt
from .torch_names import cell_of_params, from_torch, refuse_unknown, sort_names
from .weightfiles import WeightsError, read_file

__all__ = ["WeightsError", "load_weights", "save_weights"]


def load_weights(
    data: bytes,
    filename: str,
    max_bytes: int = 64 * 2**20,
    max_elements: int = 20_000_000,
    cell: str | None = None,
    nonlinearity: str | None = None,
) -> dict[str, Any]:
    """Read a weight file into the JSON-ready `model` dict; raise WeightsError if it cannot be.

    `nonlinearity` ("tanh" | "relu") is what the uploader states for a plain RNN, which a
    state_dict or a bare .weights.h5 cannot say; without it such a file is refused."""
    if len(data) > max_bytes:
        raise WeightsError(
            f"the file is {len(data)} bytes, more than this server takes ({max_bytes}; "
            "LSTMX_MAX_UPLOAD_BYTES): upload a smaller model or raise the limit"
        )
    if nonlinearity not in (None, "tanh", "relu"):
        raise WeightsError(
            f"the nonlinearity given is {nonlinearity!r}, but a plain RNN computes tanh or relu: "
            "choose one of those, or leave it out for a file that says it"
        )
    name = filename.lower()
    if name.endswith(".keras"):
        config, arrays, _ = keras_files.read_keras(bytes(data), max_elements, max_bytes)
        layers = layers_from_config(config)
        return _finish(build_model(layers, arrays, nonlinearity))
    if name.endswith((".h5", ".hdf5")):
        arrays, groups = keras_files.read_h5(bytes(data), max_elements, max_bytes)
        layers = layers_from_arrays(arrays, groups)
        return _finish(build_model(layers, arrays, nonlinearity))
    meta: dict[str, str] = {}
    if name.endswith((".pt", ".pth")):
        arrays = read_pt(bytes(data), max_elements, max_bytes)
    else:
        arrays, meta = read_file(bytes(data), filename, max_elements)
    hint, reset_after, stated = _check_meta(meta, cell)
    if not arrays:
        raise WeightsError(
            f"{filename!r} holds no weight tensors: save the model's weights into it "
            "(PyTorch: its state_dict; Keras: model.save_weights)"
        )
    for key, array in arrays.items():
        if not np.all(np.isfinite(array)):
            raise WeightsError(
                f"tensor {key!r} contains NaN or infinity, so the model cannot be run: "
                "the training that made it diverged; export an earlier checkpoint"
            )
    torch, modules, keras, unknown = sort_names(arrays)
    refuse_unknown(unknown, bool(keras and (torch or modules)), pytorch=bool(torch or modules))
    if torch or modules:
        params, widths, bidirectional = from_torch(torch, modules)
    else:
        params, widths, bidirectional = from_keras(keras, reset_after)
    cell_found = cell_of_params(params)
    if hint and hint != cell_found:
        raise WeightsError(
            f"the shapes say the cell is {cell_found} (weight_hh_l0 has {N_BLOCKS[cell_found]}·H "
            f"rows), but the metadata or the request names {hint!r}: correct that hint or leave "
            "it out"
        )
    if cell_found == "rnn":
        nonlinearity = choose_nonlinearity(stated, nonlinearity)
    model = describe(cell_found, params, widths, bidirectional, nonlinearity)
    if model.get("output_size") is not None and (readout := _stated_readout(meta)):
        model["readout"] = readout  # what this app's export wrote: the file opens without asking
    return _finish(model)


def _stated_readout(meta: Mapping[str, str]) -> str | None:
    """The head's readout a file's metadata states ("readout": "final" | "every_step")."""
    raw = meta.get("readout")
    if raw is None:
        return None
    value = str(raw).strip().lower()
    if value not in ("final", "every_step"):
        raise WeightsError(
            f"metadata readout = {raw!r}: a head reads 'final' (h_n once) or 'every_step' "
            "(the output at every step); correct the metadata or leave it out"
        )
    return value


def _finish(model: dict[str, Any]) -> dict[str, Any]:
    """Weights as nested lists of float64 (the JSON the API answers)."""
    weights = model["weights"].items()
    model["weights"] = {name: np.asarray(a, dtype=np.float64).tolist() for name, a in weights}
    return model


def save_weights(
    params: Mapping[str, Any], fmt: str, meta: Mapping[str, str] | None = None
) -> bytes:
    """Serialise PyTorch-named parameters as "safetensors" or "npz" (float32/float64 kept).

    `meta` ({"nonlinearity": "relu"}, say) is what the names cannot say; it travels as
    safetensors metadata or one-string .npz members, so the file opens again without asking."""
    arrays: dict[str, np.ndarray] = {}
    for name, value in params.items():
        array = np.asarray(value)
        is_float = array.dtype in (np.float32, np.float64)
        arrays[name] = np.ascontiguousarray(array if is_float else array.astype(np.float64))
    meta = dict(meta or {})
    if fmt == "safetensors":
        return safetensors.numpy.save(arrays, metadata=meta or None)
    if fmt == "npz":
        buffer = io.BytesIO()
        np.savez(buffer, **arrays, **{k: np.array(v) for k, v in meta.items()})  # type: ignore[arg-type]
        return buffer.getvalue()
    raise WeightsError(f"unknown weight format {fmt!r}: use 'safetensors' or 'npz'")


# ---------------------------------------------------------------- metadata


def _check_meta(meta: Mapping[str, str], cell: str | None) -> tuple[str | None, bool, set]:
    """Refuse what metadata says cannot be represented; return (cell hint, reset_after, the
    RNN nonlinearity the metadata states)."""
    hints, reset_after, stated = ({cell.lower()} if cell else set()), False, set()
    for key, raw in meta.items():
        field, value = re.split(r"[/.]", key)[-1].lower(), str(raw).strip().lower()
        if field == "recurrent_activation" and value != "sigmoid":
            raise WeightsError(
                f"metadata {key} = {raw!r}: {raw} is not the logistic sigmoid PyTorch's gates "
                "use (hard_sigmoid is a piecewise-linear approximation), so this model cannot "
                "be reproduced exactly; retrain with recurrent_activation='sigmoid'"
            )
        if field in ("activation", "nonlinearity"):
            if value not in ("tanh", "relu"):
                raise WeightsError(
                    f"metadata {key} = {raw!r}: this tool computes the tanh cells PyTorch and "
                    f"Keras use by default, and a plain RNN's relu, so a model using {raw} "
                    "cannot be reproduced; retrain it with tanh (or, for a plain RNN, relu)"
                )
            stated.add(value)
        if field == "reset_after" and value in ("false", "0", "no"):
            raise reset_after_false(f"metadata {key} = {raw!r}")
        reset_after |= field == "reset_after"
        hints |= {value} if field == "cell" else set()
    if len(hints) > 1 or not hints <= set(CELLS):
        raise WeightsError(
            f"the cell named in the metadata or the request, {sorted(hints)}, must be one of "
            f"{list(CELLS)} and agree: correct it or leave it out (the shapes tell the cell)"
        )
    if "relu" in stated and (hints - {"rnn"}):
        raise WeightsError(
            f"the metadata says relu, which only a plain RNN computes, but names the cell "
            f"{sorted(hints)}: LSTM and GRU use tanh; correct the metadata or leave it out"
        )
    return (hints.pop() if hints else None), reset_after, stated
