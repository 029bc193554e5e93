"""Weight import and export: .safetensors and .npz files, PyTorch or Keras names, never pickle.

`load_weights` returns the API's `model` object with PyTorch names and shapes (see params.py).

* PyTorch: `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`, peephole
  `weight_c{i,f,o}_l{k}`, after stripping one dotted prefix common to all ("lstm.", "model.rnn.").
  The cell follows from G = rows(weight_hh) / cols(weight_hh): 4 LSTM, 3 GRU, 1 tanh RNN.
  Readout Linear: `readout|fc|linear|head|out|output` + `.weight` (O, H) and `.bias` (O,).
* A missing bias (PyTorch bias=False, Keras use_bias=False) is filled with zeros, which is exact.
* Keras: names end in `kernel`, `recurrent_kernel`, `bias` ("lstm_1/lstm_cell/kernel:0"), grouped
  by layer path (one trailing "*cell" part dropped), layers in natural order of the path (lstm,
  lstm_1, lstm_2, ...); the one group without a recurrent_kernel is the Dense readout, kernel
  (H, O) -> readout.weight = kernel.T. LSTM columns [i|f|c|o] are PyTorch's [i|f|g|o]:
  weight_ih = kernel.T, weight_hh = recurrent_kernel.T, bias_ih = bias, bias_hh = 0. GRU columns
  [z|r|h] are permuted to [r|z|n]; a reset_after=True bias (2, 3H) is (bias_ih, bias_hh).
  SimpleRNN: transposes only.
* Refused, never approximated: a Keras GRU with reset_after=False (bias (3H,), or metadata):
  r multiplies h before the recurrent matrix (Cho et al. 2014), which PyTorch's GRU cannot do;
  metadata recurrent_activation other than sigmoid (hard_sigmoid), activation/nonlinearity other
  than tanh. Metadata: safetensors "__metadata__" or one-string members of an .npz, keyed by the
  last path part: cell, recurrent_activation, activation, nonlinearity, reset_after.
* Safety (weightfiles.py): only .safetensors and .npz; pickle files (.pt, .pth, .pkl, .ckpt,
  ...) are never opened, since unpickling can run code. Size, headers, dtypes (float16/32/64),
  shapes and the element count are checked before any tensor data is read. Every value must be
  finite.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import safetensors.numpy

from app.engine.params import CELLS, ModelError, check_params, spec_from_dict
from app.engine.weightfiles import WeightsError, read_file

TORCH_RE = re.compile(r"^(?:(.+)\.)?(weight_ih|weight_hh|bias_ih|bias_hh|weight_c[ifo])_l(\d+)$")
READOUT_RE = re.compile(r"^(?:.+\.)?(readout|fc|linear|head|out|output)\.(weight|bias)$")
KERAS_FIELDS = ("kernel", "recurrent_kernel", "bias")
CELL_OF_BLOCKS = {4: "lstm", 3: "gru", 1: "rnn"}


def load_weights(
    data: bytes,
    filename: str,
    max_bytes: int = 64 * 2**20,
    max_elements: int = 20_000_000,
    cell: str | None = None,
) -> dict[str, Any]:
    """Read a weight file into the JSON-ready `model` dict; raise WeightsError if it cannot be."""
    if len(data) > max_bytes:
        raise WeightsError(f"the file is {len(data)} bytes, more than the limit of {max_bytes}")
    arrays, meta = read_file(bytes(data), filename, max_elements)
    hint, reset_after = _check_meta(meta, cell)
    if not arrays:
        raise WeightsError(f"{filename!r} holds no weight tensors")
    for name, array in arrays.items():
        if not np.all(np.isfinite(array)):
            raise WeightsError(f"tensor {name!r} contains NaN or infinity")
    torch, readout, keras, unknown = _sort_names(arrays)
    _refuse_unknown(unknown, bool(keras and (torch or readout)))
    if torch or readout:
        return _model(_from_torch(torch, readout), hint)
    return _model(_from_keras(keras, reset_after), hint)


def save_weights(params: Mapping[str, Any], fmt: str) -> bytes:
    """Serialise PyTorch-named parameters as "safetensors" or "npz" (float32/float64 kept)."""
    arrays = {}
    for name, value in params.items():
        array = np.asarray(value)
        is_float = array.dtype in (np.float32, np.float64)
        arrays[name] = np.ascontiguousarray(array if is_float else array.astype(np.float64))
    if fmt == "safetensors":
        return safetensors.numpy.save(arrays)
    if fmt == "npz":
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()
    raise WeightsError(f"unknown weight format {fmt!r}: use 'safetensors' or 'npz'")


# ---------------------------------------------------------------- reading files safely


def _check_meta(meta: Mapping[str, str], cell: str | None) -> tuple[str | None, bool]:
    """Refuse what metadata says cannot be represented; return (cell hint, reset_after)."""
    hints, reset_after = ({cell.lower()} if cell else set()), False
    for key, raw in meta.items():
        field, value = re.split(r"[/.]", key)[-1].lower(), str(raw).strip().lower()
        if field == "recurrent_activation" and value != "sigmoid":
            raise WeightsError(
                f"metadata {key} = {raw!r}: {raw} is not the logistic sigmoid PyTorch's gates "
                "use (hard_sigmoid is a piecewise-linear approximation), so this model cannot "
                "be reproduced exactly; retrain with recurrent_activation='sigmoid'"
            )
        if field in ("activation", "nonlinearity") and value != "tanh":
            raise WeightsError(f"metadata {key} = {raw!r}: only tanh is supported")
        if field == "reset_after" and value in ("false", "0", "no"):
            raise _reset_after_false(f"metadata {key} = {raw!r}")
        reset_after |= field == "reset_after"
        hints |= {value} if field == "cell" else set()
    if len(hints) > 1 or not hints <= set(CELLS):
        raise WeightsError(f"cell hints {sorted(hints)} must agree and be one of {CELLS}")
    return (hints.pop() if hints else None), reset_after


def _reset_after_false(where: str) -> WeightsError:
    return WeightsError(
        f"{where}: this Keras GRU uses reset_after=False, which applies r to h before the "
        "recurrent matrix (Cho et al. 2014); PyTorch's GRU applies it after (r * (W_hn h + "
        "b_hn)) and cannot represent it exactly. Retrain with reset_after=True (Keras' default)"
    )


# ---------------------------------------------------------------- names to PyTorch params


def _sort_names(arrays: Mapping[str, np.ndarray]) -> tuple[dict, dict, dict, list]:
    torch, readout, keras, unknown = {}, {}, {}, []
    for name, array in arrays.items():
        if match := TORCH_RE.match(name):
            torch[name] = (match.groups(), array)
        elif match := READOUT_RE.match(name):
            readout[name] = (match.groups(), array)
        elif parts := _keras_parts(name):
            keras[name] = (parts, array)
        else:
            unknown.append(name)
    return torch, readout, keras, unknown


def _refuse_unknown(unknown: list[str], mixed: bool) -> None:
    if mixed:
        raise WeightsError("the file mixes PyTorch names and Keras names; export one model only")
    if unknown:
        bidirectional = any("_reverse" in n for n in unknown)
        why = "bidirectional layers, which are not supported" if bidirectional else "names"
        raise WeightsError(
            f"the file holds {why} this importer does not recognise: {sorted(unknown)[:8]}. "
            "Expected PyTorch names (weight_ih_l0, ..., readout.weight) or Keras names "
            "(.../kernel, .../recurrent_kernel, .../bias)"
        )


def _from_torch(torch: dict, readout: dict) -> dict[str, np.ndarray]:
    prefixes = {groups[0] for groups, _ in torch.values()}
    heads = {groups[0] for groups, _ in readout.values()}
    if len(prefixes) > 1 or len(heads) > 1:
        raise WeightsError(
            f"the file holds more than one recurrent module or readout: prefixes "
            f"{sorted(map(str, prefixes))}, readouts {sorted(heads)}; export one model only"
        )
    params = {f"{kind}_l{k}": a for (_, kind, k), a in torch.values()}
    params |= {f"readout.{kind}": a for (_, kind), a in readout.values()}
    for name, array in list(params.items()):  # a missing bias (bias=False) is a zero bias
        if name.startswith("weight_hh_l"):
            for bias in ("bias_ih" + name[9:], "bias_hh" + name[9:]):
                params.setdefault(bias, np.zeros(array.shape[:1]))
    if "readout.weight" in params:
        params.setdefault("readout.bias", np.zeros(params["readout.weight"].shape[:1]))
    return params


def _keras_parts(name: str) -> tuple[str, str] | None:
    parts = re.split(r"[/.]", re.sub(r":\d+$", "", name))
    if parts[-1] not in KERAS_FIELDS:
        return None
    layer = parts[:-2] if len(parts) > 1 and re.fullmatch(r"(\w+_)?cell", parts[-2]) else parts[:-1]
    return "/".join(layer), parts[-1]


def _natural(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _from_keras(keras: dict, reset_after: bool) -> dict[str, np.ndarray]:
    groups: dict[str, dict[str, np.ndarray]] = {}
    for name, ((layer, field), array) in keras.items():
        if field in groups.setdefault(layer, {}):
            raise WeightsError(f"two tensors give {field} of Keras layer {layer!r}, e.g. {name!r}")
        groups[layer][field] = array
    recurrent = sorted((g for g in groups if "recurrent_kernel" in groups[g]), key=_natural)
    dense = [g for g in groups if g not in recurrent]
    if not recurrent or len(dense) > 1:
        raise WeightsError(
            f"expected Keras recurrent layers and at most one Dense readout, found recurrent "
            f"{recurrent} and other layers {dense}"
        )
    params: dict[str, np.ndarray] = {}
    for k, layer in enumerate(recurrent):
        params |= _keras_layer(k, layer, groups[layer], reset_after)
    for layer in dense:
        W, b = groups[layer].get("kernel", np.zeros(0)), groups[layer].get("bias")
        if W.ndim != 2:
            raise WeightsError(f"Keras Dense {layer}/kernel has shape {W.shape}; expected (H, O)")
        params |= {"readout.weight": W.T, "readout.bias": np.zeros(W.shape[1]) if b is None else b}
    return params


def _keras_layer(k: int, layer: str, group: dict, reset_after: bool) -> dict[str, np.ndarray]:
    U, W, b = group["recurrent_kernel"], group.get("kernel", np.zeros(0)), group.get("bias")
    if _cell_of(U, 1) is None:
        raise WeightsError(f"Keras {layer}/recurrent_kernel has shape {U.shape}; expected (H, G*H)")
    H, GH = U.shape
    if W.ndim != 2 or W.shape[1] != GH:
        raise WeightsError(f"Keras {layer}/kernel has shape {W.shape}; expected (D, {GH})")
    gru = GH == 3 * H
    perm = np.r_[H : 2 * H, 0:H, 2 * H : 3 * H] if gru else np.arange(GH)  # [z|r|h] -> [r|z|n]
    if gru and (b.shape == (GH,) if b is not None else not reset_after):
        raise _reset_after_false(f"Keras {layer}/bias has shape {getattr(b, 'shape', None)}")
    expected = (2, GH) if gru else (GH,)
    if b is not None and b.shape != expected:
        raise WeightsError(f"Keras {layer}/bias has shape {b.shape}; expected {expected}")
    biases = np.zeros((2, GH)) if b is None else b[:, perm] if gru else [b, np.zeros(GH)]
    return {
        f"weight_ih_l{k}": W[:, perm].T,
        f"weight_hh_l{k}": U[:, perm].T,
        f"bias_ih_l{k}": biases[0],
        f"bias_hh_l{k}": biases[1],
    }


def _cell_of(matrix: np.ndarray, rows_axis: int) -> str | None:
    """The cell whose recurrent matrix has this shape: G*H by H along (rows_axis, other)."""
    if matrix.ndim != 2 or matrix.shape[1 - rows_axis] == 0:
        return None
    blocks, rest = divmod(matrix.shape[rows_axis], matrix.shape[1 - rows_axis])
    return None if rest else CELL_OF_BLOCKS.get(blocks)


def _model(params: dict[str, np.ndarray], hint: str | None) -> dict[str, Any]:
    """Infer the model description from the PyTorch-named params and check them against it."""
    layers = [n for n in params if n.startswith("weight_hh_l")]
    if "weight_ih_l0" not in params or "weight_hh_l0" not in params:
        raise WeightsError("no weight_ih_l0 and weight_hh_l0 (Keras: kernel, recurrent_kernel)")
    for name in [*layers, "weight_ih_l0", "readout.weight"]:
        array, recurrent = params.get(name), name in layers
        if array is not None and (array.ndim != 2 or recurrent and not _cell_of(array, 0)):
            expected = "(G*H, H) with G = 4, 3 or 1" if recurrent else "a matrix"
            raise WeightsError(f"tensor {name} has shape {array.shape}; expected {expected}")
    cells = {_cell_of(params[name], 0) for name in layers}
    if len(cells) > 1 or (hint and hint not in cells):
        found = sorted(map(str, cells))
        raise WeightsError(f"the shapes say the cell is {found}, the hint says {hint!r}")
    cell = str(cells.pop())
    peephole = any(n.startswith("weight_c") for n in params)
    if peephole and cell != "lstm":
        raise WeightsError(f"peephole weights (weight_c*) belong to an LSTM, not a {cell}")
    readout = params.get("readout.weight")
    model: dict[str, Any] = {
        "cell": cell,
        "input_size": int(params["weight_ih_l0"].shape[1]),
        "hidden_size": int(params["weight_hh_l0"].shape[1]),
        "num_layers": 1 + max(int(n.removeprefix("weight_hh_l")) for n in layers),
        "variant": "peephole" if peephole else "standard",
        "output_size": None if readout is None else int(readout.shape[0]),
    }
    try:
        checked = check_params(spec_from_dict(model), params)
    except ModelError as exc:
        raise WeightsError(str(exc)) from None
    model["weights"] = {name: array.tolist() for name, array in checked.items()}
    return model
