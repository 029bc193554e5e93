"""Keras 3 layers + the weights file's arrays -> the `model` object with PyTorch names.

The layers come from config.json (keras_config.py) or, for a bare .weights.h5, from the
arrays themselves (`layers_from_arrays`). In model.weights.h5 a layer's arrays sit under
`layers/<key>`, where key is the snake-case class name numbered per class in layer order
("lstm", "lstm_1", "simple_rnn"), not the layer's own name; a recurrent layer's under
`cell/vars/0..2` (kernel, recurrent_kernel, bias), a Bidirectional's under
`forward_layer/cell` and `backward_layer/cell`, Embedding's and Dense's under `vars/0..1`.
Groups outside `layers/` (a trained model's `optimizer/`, `metrics/`) hold no layer weights
and are never read (keras_files.py).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .keras_config import KEY_OF_CLASS, READABLE, KerasLayer
from .keras_names import keras_layer, reset_after_false
from .model_object import CELL_OF_BLOCKS, choose_nonlinearity, describe
from .weightfiles import WeightsError


def layers_from_arrays(arrays: dict[str, np.ndarray], groups: set[str]) -> list[KerasLayer]:
    """The layers of a weights file alone: kinds from the group names (checked against the
    shapes), order from their numbering (lstm, lstm_1, ...: Keras numbers a kind in layer order;
    across kinds the order is lost, but a model of mixed kinds is refused anyway)."""
    keys = sorted({p.split("/")[1] for p in [*arrays, *groups] if p.startswith("layers/")})
    if not keys:
        old = " (this looks like a Keras 2 HDF5 file)" if "model_weights" in groups else ""
        raise WeightsError(
            f"the HDF5 file has no layers/ group{old}; Keras 3's model.save_weights("
            "'m.weights.h5') or model.save('m.keras') writes the files read here"
        )
    by_class: dict[str, list[tuple[int, str]]] = {}
    for key in keys:
        base, number = _split_key(key)
        by_class.setdefault(base, []).append((number, key))
    layers = []
    for base, found in by_class.items():
        for _, key in sorted(found):
            if base in ("input_layer", "dropout"):
                continue
            if base == "embedding":
                layers.append(KerasLayer("embedding", key, key))
            elif base == "dense":
                layers.append(KerasLayer("dense", key, key))
            else:
                layers.append(_recurrent_from_arrays(key, base, arrays))
    embedding = [la for la in layers if la.kind == "embedding"]
    dense = [la for la in layers if la.kind == "dense"]
    recurrent = [la for la in layers if la.kind == "recurrent"]  # mixed kinds: build_model refuses
    if len(embedding) > 1 or len(dense) > 1:
        raise WeightsError(
            f"the weights hold {len(embedding)} Embedding and {len(dense)} Dense layers; one "
            "chain [Embedding] -> recurrent layers -> [Dense] is read: save only those layers' "
            "weights, or upload the .keras file (model.save)"
        )
    return [*embedding, *recurrent, *dense]


def _split_key(key: str) -> tuple[str, int]:
    for base in sorted(KEY_OF_CLASS.values(), key=len, reverse=True):
        if key == base:
            return base, 0
        if (match := re.fullmatch(rf"{base}_(\d+)", key)) is not None:
            return base, int(match.group(1))
    raise WeightsError(
        f"the weights file holds a layer {key!r}, not one of Keras' {READABLE}: a custom or "
        "unsupported layer (a Lambda, say), whose computation is not in the file: replace it "
        f"with built-in layers ({READABLE}) and save again"
    )


def _recurrent_from_arrays(key: str, base: str, arrays: dict) -> KerasLayer:
    bidirectional = base == "bidirectional"
    prefix = f"layers/{key}/forward_layer/cell" if bidirectional else f"layers/{key}/cell"
    vars_ = _vars(arrays, prefix, key)
    U = vars_[1] if len(vars_) > 1 else np.zeros(0)
    blocks = U.shape[1] // U.shape[0] if U.ndim == 2 and U.shape[0] else 0
    cell = CELL_OF_BLOCKS.get(blocks) if U.ndim == 2 and blocks * U.shape[0] == U.shape[1] else None
    if cell is None:
        raise WeightsError(
            f"layer {key!r} has a recurrent_kernel of shape {U.shape}, which is no LSTM (H, 4H), "
            "GRU (H, 3H) or SimpleRNN (H, H) kernel: the file is damaged or not Keras'; save the "
            "weights again with model.save_weights('m.weights.h5')"
        )
    if not bidirectional and {"lstm": "lstm", "gru": "gru", "rnn": "simple_rnn"}[cell] != base:
        raise WeightsError(
            f"layer {key!r} holds the arrays of a {cell}, which its name says it is not: the "
            "file was edited or is damaged; save the weights again with model.save_weights"
        )
    reset_after = None
    if cell == "gru":
        if len(vars_) < 3:
            raise WeightsError(
                f"GRU {key!r} has no bias, so a weights file cannot say whether it uses "
                "reset_after=True or False; upload the .keras file (model.save)"
            )
        if vars_[2].ndim != 2:
            raise reset_after_false(f"GRU {key!r} (bias of shape {vars_[2].shape})")
        reset_after = True
    return KerasLayer(
        "recurrent", key, key, cell=cell, bidirectional=bidirectional, reset_after=reset_after
    )


# ---------------------------------------------------------------- layers + arrays -> model


def _vars(arrays: dict, prefix: str, name: str) -> list[np.ndarray]:
    found = {}
    for path, array in arrays.items():
        if (match := re.fullmatch(rf"{re.escape(prefix)}/vars/(\d+)", path)) is not None:
            found[int(match.group(1))] = array
    if sorted(found) != list(range(len(found))) or not found:
        raise WeightsError(
            f"layer {name!r} has no arrays under {prefix}/vars (numbered from 0) in the weights "
            "file: it is damaged or incomplete; save the model again"
        )
    return [found[i] for i in range(len(found))]


def _layer_vars(layer: KerasLayer, arrays: dict, direction: str) -> list[np.ndarray]:
    if layer.kind != "recurrent":
        return _vars(arrays, f"layers/{layer.key}", layer.name)
    if layer.bidirectional:
        return _vars(arrays, f"layers/{layer.key}/{direction}_layer/cell", layer.name)
    return _vars(arrays, f"layers/{layer.key}/cell", layer.name)


def build_model(
    layers: list[KerasLayer], arrays: dict[str, np.ndarray], nonlinearity: str | None
) -> dict[str, Any]:
    """The model object, its weights PyTorch-named arrays (see `describe`)."""
    embedding = [la for la in layers if la.kind == "embedding"]
    recurrent = [la for la in layers if la.kind == "recurrent"]
    dense = [la for la in layers if la.kind == "dense"]
    order = [la.kind for la in layers]
    expected = ["embedding"] * len(embedding) + ["recurrent"] * len(recurrent)
    expected += ["dense"] * len(dense)
    if not recurrent or order != expected or len(embedding) > 1 or len(dense) > 1:
        names = [f"{la.kind} {la.name!r}" for la in layers]
        raise WeightsError(
            f"the model's layers are {names}; one chain [Embedding] -> LSTM/GRU/SimpleRNN "
            "layers -> [Dense] is read (a Dense before the recurrent layers, or a second "
            "Dense, is not modelled): save a model built as that chain"
        )
    kinds = {(la.cell, la.bidirectional) for la in recurrent}
    if len(kinds) > 1:
        found = [f"{la.name!r}: {'bidirectional ' * la.bidirectional}{la.cell}" for la in recurrent]
        raise WeightsError(
            f"the recurrent layers are of different kinds ({', '.join(found)}); a model here is "
            "one kind of cell, all bidirectional or none: upload a model built so"
        )
    for la in recurrent[:-1]:
        if not la.return_sequences:
            raise WeightsError(
                f"layer {la.name!r} has return_sequences=False, so it returns its last state "
                "only, yet feeds another recurrent layer that reads every step: save it with "
                "return_sequences=True"
            )
    top = recurrent[-1]
    if top.bidirectional and not top.return_sequences and dense:
        raise WeightsError(
            f"Bidirectional {top.name!r} returns its final states (the backward one is at the "
            "first step) to Dense {dense[0].name!r}; the readout here reads one step's "
            "[forward | backward] row: save it with return_sequences=True"
        )
    cell, bidirectional = recurrent[0].cell, recurrent[0].bidirectional
    stated = {la.nonlinearity for la in recurrent} - {None}
    if cell == "rnn":
        nonlinearity = choose_nonlinearity(stated, nonlinearity)
    params: dict[str, np.ndarray] = {}
    if embedding:
        (table,) = _layer_vars(embedding[0], arrays, "")[:1]
        if table.ndim != 2:
            raise WeightsError(
                f"Embedding {embedding[0].name!r} has a table of shape {table.shape}, not the "
                "(tokens, width) matrix Keras writes: the file is damaged; save the model again"
            )
        params["embedding.weight"] = table
    widths = []
    for k, layer in enumerate(recurrent):
        for direction, suffix in (("forward", ""), ("backward", "_reverse"))[: 1 + bidirectional]:
            vars_ = _layer_vars(layer, arrays, direction)
            if len(vars_) not in (2, 3):
                raise WeightsError(
                    f"layer {layer.name!r} has {len(vars_)} arrays, not the 2 or 3 of a "
                    "recurrent layer (kernel, recurrent_kernel, bias): the file is damaged; "
                    "save the model again"
                )
            group = dict(zip(("kernel", "recurrent_kernel", "bias"), vars_, strict=False))
            params |= keras_layer(k, layer.name, group, layer.reset_after is not False, suffix)
        widths.append(int(params[f"weight_hh_l{k}"].shape[1]))
    if dense:
        kernel, *bias = _layer_vars(dense[0], arrays, "")
        if kernel.ndim != 2:
            raise WeightsError(
                f"Dense {dense[0].name!r} has a kernel of shape {kernel.shape}, not the (H, O) "
                "matrix of a readout: the file is damaged; save the model again"
            )
        params["readout.weight"] = kernel.T
        params["readout.bias"] = bias[0] if bias else np.zeros(kernel.shape[1])
    return describe(str(cell), params, widths, bidirectional, nonlinearity)
