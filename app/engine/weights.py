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

from app.engine.params import CELLS, N_BLOCKS, ModelError, check_params, spec_from_dict
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
        raise WeightsError(
            f"the file is {len(data)} bytes, more than this server takes ({max_bytes}; "
            "LSTMX_MAX_UPLOAD_BYTES): upload a smaller model or raise the limit"
        )
    arrays, meta = read_file(bytes(data), filename, max_elements)
    hint, reset_after = _check_meta(meta, cell)
    if not arrays:
        raise WeightsError(
            f"{filename!r} holds no weight tensors: save the model's weights into it "
            "(PyTorch: its state_dict; Keras: model.save_weights)"
        )
    for name, array in arrays.items():
        if not np.all(np.isfinite(array)):
            raise WeightsError(
                f"tensor {name!r} contains NaN or infinity, so the model cannot be run: "
                "the training that made it diverged; export an earlier checkpoint"
            )
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
            raise WeightsError(
                f"metadata {key} = {raw!r}: this tool computes the tanh cells PyTorch and Keras "
                f"use by default, so a {raw} model cannot be reproduced; retrain it with tanh"
            )
        if field == "reset_after" and value in ("false", "0", "no"):
            raise _reset_after_false(f"metadata {key} = {raw!r}")
        reset_after |= field == "reset_after"
        hints |= {value} if field == "cell" else set()
    if len(hints) > 1 or not hints <= set(CELLS):
        raise WeightsError(
            f"the cell named in the metadata or the request, {sorted(hints)}, must be one of "
            f"{list(CELLS)} and agree: correct it or leave it out (the shapes tell the cell)"
        )
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
        raise WeightsError(
            "the file mixes PyTorch names (weight_ih_l0, ...) and Keras names (.../kernel, ...): "
            "save one model per file, under one framework's names"
        )
    reverse = sorted(n for n in unknown if "_reverse" in n)
    if reverse:
        raise WeightsError(
            f"the file holds a bidirectional layer ({reverse[:4]}): this tool runs a recurrent "
            "layer in one direction only, so it cannot run this model. To step through its "
            "forward direction alone, save the weights without the '_reverse' tensors and "
            "without the readout (which reads both directions)"
        )
    if unknown:
        raise WeightsError(
            f"the file holds tensors whose names this importer does not recognise: "
            f"{sorted(unknown)[:8]}. Save the recurrent layer under PyTorch's names "
            "(weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ...; a Linear readout as "
            "readout.weight and readout.bias) or Keras' (.../kernel, .../recurrent_kernel, "
            ".../bias), and leave other layers out"
        )


def _from_torch(torch: dict, readout: dict) -> dict[str, np.ndarray]:
    prefixes = {groups[0] for groups, _ in torch.values()}
    heads = {groups[0] for groups, _ in readout.values()}
    if len(prefixes) > 1 or len(heads) > 1:
        raise WeightsError(
            f"the file holds more than one recurrent module or readout (prefixes "
            f"{sorted(map(str, prefixes))}, readouts {sorted(heads)}): save only one recurrent "
            "module and its readout, e.g. {k: v for k, v in model.state_dict().items() if "
            "k.startswith(('lstm.', 'fc.'))}"
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
            raise WeightsError(
                f"two tensors give the {field} of Keras layer {layer!r} (one is {name!r}): "
                "save each layer's weights once"
            )
        groups[layer][field] = array
    recurrent = sorted((g for g in groups if "recurrent_kernel" in groups[g]), key=_natural)
    dense = [g for g in groups if g not in recurrent]
    if not recurrent:
        raise WeightsError(
            f"the file has no Keras recurrent layer (no .../recurrent_kernel), only {dense}: "
            "save the model's LSTM, GRU or SimpleRNN layers"
        )
    if len(dense) > 1:
        raise WeightsError(
            f"the file holds {len(dense)} layers that are not recurrent ({sorted(dense)}); this "
            "tool reads recurrent layers and at most one Dense readout: save only those"
        )
    params: dict[str, np.ndarray] = {}
    for k, layer in enumerate(recurrent):
        params |= _keras_layer(k, layer, groups[layer], reset_after)
    for layer in dense:
        W, b = groups[layer].get("kernel", np.zeros(0)), groups[layer].get("bias")
        if W.ndim != 2:
            raise WeightsError(
                f"Keras layer {layer!r} has a kernel of shape {W.shape}, not the (H, O) matrix "
                "of a Dense readout on the last recurrent layer: leave other layers out"
            )
        params |= {"readout.weight": W.T, "readout.bias": np.zeros(W.shape[1]) if b is None else b}
    return params


def _keras_layer(k: int, layer: str, group: dict, reset_after: bool) -> dict[str, np.ndarray]:
    U, W, b = group["recurrent_kernel"], group.get("kernel", np.zeros(0)), group.get("bias")
    if _cell_of(U, 1) is None:
        raise WeightsError(
            f"Keras layer {layer!r} has a recurrent_kernel of shape {U.shape}, which is no "
            "LSTM (H, 4H), GRU (H, 3H) or SimpleRNN (H, H) kernel: this tool reads those cells "
            "only; save a model built of them"
        )
    H, GH = U.shape
    if W.ndim != 2 or W.shape[1] != GH:
        raise WeightsError(
            f"Keras layer {layer!r} has a kernel of shape {W.shape}, but its recurrent_kernel "
            f"{U.shape} needs (input width, {GH}): the tensors come from different layers, or "
            "the file is damaged; save the model's weights again"
        )
    gru = GH == 3 * H
    perm = np.r_[H : 2 * H, 0:H, 2 * H : 3 * H] if gru else np.arange(GH)  # [z|r|h] -> [r|z|n]
    if gru and (b.shape == (GH,) if b is not None else not reset_after):
        raise _reset_after_false(f"Keras {layer}/bias has shape {getattr(b, 'shape', None)}")
    expected = (2, GH) if gru else (GH,)
    if b is not None and b.shape != expected:
        raise WeightsError(
            f"Keras layer {layer!r} has a bias of shape {b.shape}, but its recurrent_kernel "
            f"{U.shape} needs {expected}: the tensors come from different layers, or the file "
            "is damaged; save the model's weights again"
        )
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
        raise WeightsError(
            f"the file has no first recurrent layer (found {sorted(params)[:8]}): PyTorch "
            "names need weight_ih_l0 and weight_hh_l0, Keras names .../kernel and "
            ".../recurrent_kernel: save the model's first layer too (layers count from 0)"
        )
    for name in [*layers, "weight_ih_l0", "readout.weight"]:
        array, recurrent = params.get(name), name in layers
        if array is not None and (array.ndim != 2 or recurrent and not _cell_of(array, 0)):
            expected = (
                "a recurrent matrix is (G·H, H) with G = 4 (LSTM), 3 (GRU) or 1 (tanh RNN)"
                if recurrent
                else "it must be a matrix"
            )
            raise WeightsError(
                f"tensor {name} has shape {array.shape}, but {expected}: check that the file "
                "holds the weights of torch.nn.LSTM, GRU or RNN (or their Keras layers)"
            )
    kinds = {name: _cell_of(params[name], 0) for name in sorted(layers, key=_natural)}
    cells = set(kinds.values())
    if len(cells) > 1:
        found = ", ".join(f"layer {n.removeprefix('weight_hh_l')} {c}" for n, c in kinds.items())
        raise WeightsError(
            f"the layers are of different kinds ({found}): this tool stacks layers of one "
            "cell, so it cannot run this model; upload a model whose layers are all LSTM, all "
            "GRU or all tanh RNN"
        )
    cell = str(cells.pop())
    if hint and hint != cell:
        raise WeightsError(
            f"the shapes say the cell is {cell} (weight_hh_l0 has {N_BLOCKS[cell]}·H rows), but "
            f"the metadata or the request names {hint!r}: correct that hint or leave it out"
        )
    peephole = any(n.startswith("weight_c") for n in params)
    if peephole and cell != "lstm":
        raise WeightsError(
            f"the file has peephole weights (weight_c*), which only an LSTM has, but its shapes "
            f"say the cell is {cell}: leave the peephole weights out or check the model"
        )
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
