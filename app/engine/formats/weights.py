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

from ..params import CELLS, N_BLOCKS
from .weightfiles import WeightsError, read_file

TORCH_RE = re.compile(
    r"^(?:(.+)\.)?(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr|weight_c[ifo])_l(\d+)(_reverse)?$"
)
# nn.Linear heads (word_language_model's "decoder") and nn.Embedding tables ("encoder")
READOUT_RE = re.compile(r"^(?:.+\.)?(readout|fc|linear|head|out|output|decoder)\.(weight|bias)$")
EMBEDDING_RE = re.compile(
    r"^(?:.+\.)?(embedding|embeddings|embed|emb|encoder|word_embeddings)\.weight$"
)
KERAS_FIELDS = ("kernel", "recurrent_kernel", "bias", "embeddings")
CELL_OF_BLOCKS = {4: "lstm", 3: "gru", 1: "rnn"}


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
    from . import keras_files, keras_model  # they import this module's helpers

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
        layers = keras_model.layers_from_config(config)
        return _finish(keras_model.build_model(layers, arrays, nonlinearity))
    if name.endswith((".h5", ".hdf5")):
        arrays, groups = keras_files.read_h5(bytes(data), max_elements, max_bytes)
        layers = keras_model.layers_from_arrays(arrays, groups)
        return _finish(keras_model.build_model(layers, arrays, nonlinearity))
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
    torch, named, keras, unknown = _sort_names(arrays)
    _refuse_unknown(unknown, bool(keras and (torch or named)))
    if torch or named:
        params, widths, bidirectional = _from_torch(torch, named)
    else:
        params, widths, bidirectional = _from_keras(keras, reset_after)
    cell_found = _cell_of_params(params)
    if hint and hint != cell_found:
        raise WeightsError(
            f"the shapes say the cell is {cell_found} (weight_hh_l0 has {N_BLOCKS[cell_found]}·H "
            f"rows), but the metadata or the request names {hint!r}: correct that hint or leave "
            "it out"
        )
    if cell_found == "rnn":
        nonlinearity = keras_model._nonlinearity(stated, nonlinearity)
    model = keras_model.describe(cell_found, params, widths, bidirectional, nonlinearity)
    return _finish(model)


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


# ---------------------------------------------------------------- reading files safely


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
            raise _reset_after_false(f"metadata {key} = {raw!r}")
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


def _reset_after_false(where: str) -> WeightsError:
    return WeightsError(
        f"{where}: this Keras GRU uses reset_after=False, which applies r to h before the "
        "recurrent matrix (Cho et al. 2014); PyTorch's GRU applies it after (r * (W_hn h + "
        "b_hn)) and cannot represent it exactly. Retrain with reset_after=True (Keras' default)"
    )


# ---------------------------------------------------------------- names to PyTorch params


def _sort_names(arrays: Mapping[str, np.ndarray]) -> tuple[dict, dict, dict, list]:
    """Recurrent PyTorch names, named modules (readout, embedding), Keras names, the rest."""
    torch, named, keras, unknown = {}, {}, {}, []
    for name, array in arrays.items():
        if match := TORCH_RE.match(name):
            torch[name] = (match.groups(), array)
        elif match := READOUT_RE.match(name):
            named[name] = (("readout", match.group(2)), array)
        elif EMBEDDING_RE.match(name) and array.ndim == 2:
            named[name] = (("embedding", "weight"), array)
        elif parts := _keras_parts(name):
            keras[name] = (parts, array)
        else:
            unknown.append(name)
    return torch, named, keras, unknown


def _refuse_unknown(unknown: list[str], mixed: bool) -> None:
    if mixed:
        raise WeightsError(
            "the file mixes PyTorch names (weight_ih_l0, ...) and Keras names (.../kernel, ...): "
            "save one model per file, under one framework's names"
        )
    if unknown:
        raise WeightsError(
            f"the file holds tensors whose names this importer does not recognise: "
            f"{sorted(unknown)[:8]}. Save the recurrent layers under PyTorch's names "
            "(weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ...; weight_ih_l0_reverse, ... "
            "for a bidirectional layer, weight_hr_l0 for a projection; an nn.Embedding as "
            "embedding.weight or encoder.weight, a Linear readout as readout, fc or decoder "
            ".weight and .bias) or Keras' (.../kernel, .../recurrent_kernel, .../bias, "
            ".../embeddings), and leave other layers out"
        )


def _from_torch(torch: dict, named: dict) -> tuple[dict[str, np.ndarray], list[int], bool]:
    """One or more recurrent modules ("lstm1.", "lstm2.", or one "rnn."), stacked in the
    natural order of their names; returns (params, width of each layer, bidirectional)."""
    modules: dict[str, dict] = {}
    for (prefix, kind, k, reverse), array in torch.values():
        modules.setdefault(prefix or "", {})[(kind, int(k), reverse or "")] = array
    heads: dict[str, list] = {}
    for name, ((module, kind), array) in named.items():
        heads.setdefault(module, []).append((name, kind, array))
    for module, found in heads.items():
        if len({kind for _, kind, _ in found}) != len(found):
            names = sorted(name for name, _, _ in found)
            raise WeightsError(
                f"the file holds more than one {module} ({names}); a model here has at most one "
                f"embedding and one readout: save only the {module} the recurrent layers use"
            )
    params: dict[str, np.ndarray] = {}
    widths: list[int] = []
    directions = set()
    for prefix in sorted(modules, key=_natural):
        module = modules[prefix]
        directions.add(any(reverse for _, _, reverse in module))
        depth = 1 + max(k for _, k, _ in module)
        for k in range(depth):
            for (kind, j, reverse), array in module.items():
                if j == k:
                    params[f"{kind}_l{len(widths)}{reverse}"] = array
            hh = module.get(("weight_hh", k, ""))
            if hh is None:
                where = f"module {prefix!r}" if prefix else "the file"
                raise WeightsError(
                    f"{where} has no weight_hh_l{k} (found "
                    f"{sorted(f'{n}_l{k}{r}' for n, j, r in module if j == k) or 'nothing'} "
                    f"for layer {k}): "
                    "each layer, counted from 0, needs its weight_hh; save every layer of the "
                    "recurrent module"
                )
            hr = module.get(("weight_hr", k, ""))
            name = f"{prefix}.weight_hh_l{k}".lstrip(".")
            widths.append(int(hr.shape[1]) if hr is not None else _width(name, hh))
    if len(directions) > 1:
        raise WeightsError(
            f"of the recurrent modules {sorted(modules)}, some are bidirectional (their "
            "tensors end in _reverse) and some are not: this tool stacks layers that are all "
            "bidirectional or all one-way; upload a model built so"
        )
    for name, kind, array in (item for found in heads.values() for item in found):
        key = "embedding.weight" if kind == "weight" and EMBEDDING_RE.match(name) else ""
        params[key or f"readout.{kind}"] = array
    for name, array in list(params.items()):  # a missing bias (bias=False) is a zero bias
        if name.startswith("weight_hh_l"):
            for bias in ("bias_ih" + name[9:], "bias_hh" + name[9:]):
                params.setdefault(bias, np.zeros(array.shape[:1]))
    if "readout.weight" in params:
        params.setdefault("readout.bias", np.zeros(params["readout.weight"].shape[:1]))
    return params, widths, directions == {True}


def _width(name: str, weight_hh: np.ndarray) -> int:
    if _cell_of(weight_hh, 0) is None:
        raise WeightsError(
            f"tensor {name} has shape {weight_hh.shape}, but a recurrent matrix is (G·H, H) with "
            "G = 4 (LSTM), 3 (GRU) or 1 (plain RNN): check that the file holds the weights of "
            "torch.nn.LSTM, GRU or RNN (or their Keras layers)"
        )
    return int(weight_hh.shape[1])


def _cell_of_params(params: dict[str, np.ndarray]) -> str:
    """The cell all layers agree on, from weight_hh's rows per unit (4 LSTM, 3 GRU, 1 RNN)."""
    kinds = {}
    for name, array in params.items():
        if name.startswith("weight_hh_l"):
            hr = params.get(name.replace("weight_hh", "weight_hr"))
            kinds[name] = "lstm" if hr is not None else _cell_of(array, 0)
    cells = set(kinds.values())
    if len(cells) != 1 or None in cells:
        found = ", ".join(
            f"layer {n.removeprefix('weight_hh_l')} {c}"
            for n, c in sorted(kinds.items(), key=lambda nc: _natural(nc[0]))
        )
        raise WeightsError(
            f"the layers are of different kinds ({found}): this tool stacks layers of one "
            "cell, so it cannot run this model; upload a model whose layers are all LSTM, all "
            "GRU or all plain RNN"
        )
    return str(cells.pop())


def _keras_parts(name: str) -> tuple[str, str] | None:
    parts = re.split(r"[/.]", re.sub(r":\d+$", "", name))
    if parts[-1] not in KERAS_FIELDS:
        return None
    layer = parts[:-2] if len(parts) > 1 and re.fullmatch(r"(\w+_)?cell", parts[-2]) else parts[:-1]
    return "/".join(layer), parts[-1]


def _natural(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _from_keras(keras: dict, reset_after: bool) -> tuple[dict[str, np.ndarray], list[int], bool]:
    groups: dict[str, dict[str, np.ndarray]] = {}
    for name, ((layer, field), array) in keras.items():
        if field in groups.setdefault(layer, {}):
            raise WeightsError(
                f"two tensors give the {field} of Keras layer {layer!r} (one is {name!r}): "
                "save each layer's weights once"
            )
        groups[layer][field] = array
    recurrent = sorted((g for g in groups if "recurrent_kernel" in groups[g]), key=_natural)
    tables = [g for g in groups if "embeddings" in groups[g]]  # a Keras Embedding
    dense = [g for g in groups if g not in recurrent and g not in tables]
    if len(tables) > 1 or any(len(groups[g]) > 1 for g in tables):
        raise WeightsError(
            f"the file holds {len(tables)} Keras Embedding layers ({sorted(tables)}), or one with "
            "more than its embeddings table; a model here has at most one Embedding, before the "
            "recurrent layers: save only that one"
        )
    if not recurrent:
        raise WeightsError(
            f"the file has no Keras recurrent layer (no .../recurrent_kernel), only {dense}: "
            "save the model's LSTM, GRU or SimpleRNN layers"
        )
    if len(dense) > 1:
        raise WeightsError(
            f"the file holds {len(dense)} layers that are not recurrent ({sorted(dense)}); this "
            "tool reads recurrent layers, at most one Embedding and at most one Dense readout: "
            "save only those"
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
    for layer in tables:
        params["embedding.weight"] = groups[layer]["embeddings"]
    widths = [int(params[f"weight_hh_l{k}"].shape[1]) for k in range(len(recurrent))]
    return params, widths, False


def _keras_layer(
    k: int, layer: str, group: dict, reset_after: bool, suffix: str = ""
) -> dict[str, np.ndarray]:
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
        f"weight_ih_l{k}{suffix}": W[:, perm].T,
        f"weight_hh_l{k}{suffix}": U[:, perm].T,
        f"bias_ih_l{k}{suffix}": biases[0],
        f"bias_hh_l{k}{suffix}": biases[1],
    }


def _cell_of(matrix: np.ndarray, rows_axis: int) -> str | None:
    """The cell whose recurrent matrix has this shape: G*H by H along (rows_axis, other)."""
    if matrix.ndim != 2 or matrix.shape[1 - rows_axis] == 0:
        return None
    blocks, rest = divmod(matrix.shape[rows_axis], matrix.shape[1 - rows_axis])
    return None if rest else CELL_OF_BLOCKS.get(blocks)
