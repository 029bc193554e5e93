"""Keras 3 models as data: config.json (or, for a bare .weights.h5, the arrays) -> layers ->
the `model` object with PyTorch names (DESIGN.md "Models from the wild").

A model is read when it is one chain `[Embedding] -> recurrent layers -> [Dense]` (Dropout
anywhere: it is the identity at inference, as are the recurrent layers' dropout options), its
recurrent layers all LSTM, all GRU or all SimpleRNN, each optionally inside Bidirectional
(merge_mode "concat", PyTorch's layout). Anything else is refused with the layer's name and
the reason, never approximated.

In model.weights.h5 a layer's arrays sit under `layers/<key>`, where key is the snake-case
class name numbered per class in layer order ("lstm", "lstm_1", "simple_rnn"), not the
layer's own name; a recurrent layer's under `cell/vars/0..2` (kernel, recurrent_kernel, bias),
a Bidirectional's under `forward_layer/cell` and `backward_layer/cell`, Embedding's and
Dense's under `vars/0..1`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..params import ModelError, check_params, spec_from_dict
from .keras_files import config_of
from .weightfiles import WeightsError
from .weights import _keras_layer, _reset_after_false

CELL_OF_CLASS = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn"}
KEY_OF_CLASS = {
    "Embedding": "embedding", "LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn",
    "Bidirectional": "bidirectional", "Dense": "dense", "Dropout": "dropout",
    "InputLayer": "input_layer",
}  # fmt: skip
READABLE = "Embedding, LSTM, GRU, SimpleRNN, Bidirectional, Dense and Dropout"
READOUT_ACTIVATIONS = ("linear", "softmax", "sigmoid")  # the readout gives the logits
CELL_OF_BLOCKS = {4: "lstm", 3: "gru", 1: "rnn"}


@dataclass
class KerasLayer:
    kind: str  # "embedding" | "recurrent" | "dense" | "skip"
    name: str  # the user's name for the layer, for messages
    key: str  # its group under layers/ in the weights file
    cell: str | None = None
    bidirectional: bool = False
    nonlinearity: str | None = None  # SimpleRNN: tanh | relu; None when a file cannot say
    return_sequences: bool = True
    reset_after: bool | None = None  # GRU; None when a file cannot say


# ---------------------------------------------------------------- config.json -> layers


def layers_from_config(config: dict) -> list[KerasLayer]:
    kind = config.get("class_name")
    if kind not in ("Sequential", "Functional"):
        raise WeightsError(
            f"config.json describes a {kind!r}; only Sequential and Functional models built "
            f"from Keras' own layers are read ({READABLE})"
        )
    entries = config_of(config, "the model").get("layers")
    if not isinstance(entries, list) or not entries:
        raise WeightsError(
            "config.json lists no layers for the model: the file is damaged or holds no model; "
            "save it again with model.save('m.keras')"
        )
    if kind == "Functional":
        _check_chain(config_of(config, "the model"), entries)
    counts: dict[str, int] = {}
    layers = []
    for entry in entries:
        layer = _layer(entry)
        n = counts.get(layer.key, 0)
        counts[layer.key] = n + 1
        layer.key = f"{layer.key}_{n}" if n else layer.key
        layers.append(layer)
    return [layer for layer in layers if layer.kind != "skip"]


def _check_chain(model: dict, entries: list) -> None:
    """A Functional model must be one chain: each layer reads the one before it."""
    previous = None
    for entry in entries:
        name = config_of(entry, "a layer").get("name")
        nodes = entry.get("inbound_nodes") or []
        sources = [
            arg.get("config", {}).get("keras_history", [None])[0]
            for node in nodes
            for arg in (node.get("args") or [])
            if isinstance(arg, dict)
        ]
        if previous is not None and (len(nodes) != 1 or sources != [previous]):
            raise WeightsError(
                f"layer {name!r} reads {sources or 'nothing'}, not just the layer before it "
                f"({previous!r}): only a single chain of layers is read; build the model as "
                "one chain (a Sequential, say) and save it again"
            )
        previous = name
    outputs = model.get("output_layers")
    if not (isinstance(outputs, list) and outputs and outputs[0] == previous):
        raise WeightsError(
            f"the model's output is {outputs}, not its last layer {previous!r}: only a chain "
            "whose last layer is the output is read; save a model built so"
        )


def _layer(entry: Any) -> KerasLayer:
    inner = config_of(entry, "a layer")
    kind, name = entry.get("class_name"), str(inner.get("name"))
    if kind == "Lambda":
        raise WeightsError(
            f"layer {name!r} is a Lambda: its function is Python bytecode stored in the file, "
            "and nothing in an uploaded file is ever executed. Replace it with built-in layers "
            f"({READABLE}) and save again"
        )
    if entry.get("module") != "keras.layers" or kind not in KEY_OF_CLASS:
        what = entry.get("registered_name") or kind
        raise WeightsError(
            f"layer {name!r} is a {what} (module {entry.get('module')!r}): a custom or "
            "unsupported layer, whose code lives in the program that saved it, not in the "
            f"file, so its numbers cannot be reproduced. Replace it with built-in layers "
            f"({READABLE}) and save again"
        )
    key = KEY_OF_CLASS[kind]
    if kind in ("InputLayer", "Dropout"):
        return KerasLayer("skip", name, key)
    if kind == "Embedding":
        if inner.get("mask_zero"):
            raise WeightsError(
                f"Embedding {name!r} has mask_zero=True: Keras skips the steps whose token is 0, "
                "which a trace of every step does not model. Save it with mask_zero=False"
            )
        return KerasLayer("embedding", name, key)
    if kind == "Dense":
        activation = _name_of(inner.get("activation")) or "linear"
        if activation not in READOUT_ACTIVATIONS:
            raise WeightsError(
                f"Dense {name!r} has activation {activation!r}; the readout is linear (its "
                f"logits may feed a softmax or sigmoid), so only {READOUT_ACTIVATIONS} are read"
            )
        return KerasLayer("dense", name, key)
    if kind == "Bidirectional":
        return _bidirectional(name, inner)
    return _recurrent(name, kind, inner, key)


def _name_of(value: Any) -> str | None:
    """An activation given as "tanh" or as a serialised object {"class_name": ...}."""
    if isinstance(value, dict):
        value = value.get("config", {}).get("name") or value.get("class_name")
    return None if value is None else str(value)


def _recurrent(name: str, kind: str, inner: dict, key: str, backward: bool = False) -> KerasLayer:
    cell = CELL_OF_CLASS[kind]
    if bool(inner.get("go_backwards")) != backward:
        raise WeightsError(
            f"{kind} {name!r} has go_backwards=True: it reads the sequence from the end and "
            "returns its outputs in that order, which this tool does not model; wrap the layer "
            "in Bidirectional (both directions, outputs in input order) or drop go_backwards, "
            "and save again"
        )
    for option, why in (
        ("stateful", "carries its state from one batch to the next; a trace starts from zeros"),
        ("return_state", "returns its states as extra outputs; only a chain is read"),
    ):
        if inner.get(option):
            raise WeightsError(
                f"{kind} {name!r} has {option}=True: it {why}; save it with {option}=False"
            )
    activation = _name_of(inner.get("activation")) or "tanh"
    allowed = ("tanh", "relu") if cell == "rnn" else ("tanh",)
    if activation not in allowed:
        raise WeightsError(
            f"{kind} {name!r} has activation {activation!r}; PyTorch's {kind} (and this tool) "
            f"computes {' or '.join(allowed)}, so it cannot be reproduced exactly; retrain it "
            f"with activation={allowed[0]!r}"
        )
    recurrent_activation = _name_of(inner.get("recurrent_activation")) or "sigmoid"
    if cell != "rnn" and recurrent_activation != "sigmoid":
        raise WeightsError(
            f"{kind} {name!r} has recurrent_activation {recurrent_activation!r}, not the "
            "logistic sigmoid of PyTorch's gates (hard_sigmoid is a piecewise-linear "
            "approximation), so it cannot be reproduced exactly; retrain with "
            "recurrent_activation='sigmoid'"
        )
    if cell == "gru" and inner.get("reset_after") is False:
        raise _reset_after_false(f"GRU {name!r}")
    return KerasLayer(
        "recurrent", name, key, cell=cell,
        nonlinearity=activation if cell == "rnn" else None,
        return_sequences=bool(inner.get("return_sequences")),
        reset_after=True if cell == "gru" else None,
    )  # fmt: skip


def _bidirectional(name: str, inner: dict) -> KerasLayer:
    if inner.get("merge_mode", "concat") != "concat":
        raise WeightsError(
            f"Bidirectional {name!r} has merge_mode {inner.get('merge_mode')!r}; only 'concat' "
            "([forward | backward], PyTorch's layout) is read; save it with merge_mode='concat'"
        )
    sides = []
    for field, backward in (("layer", False), ("backward_layer", True)):
        entry = inner.get(field) or inner.get("layer")
        if not isinstance(entry, dict):
            raise WeightsError(
                f"Bidirectional {name!r} has no {field} in config.json: the file is damaged; "
                "save the model again with model.save('m.keras')"
            )
        kind = entry.get("class_name")
        if kind not in CELL_OF_CLASS or entry.get("module") != "keras.layers":
            raise WeightsError(
                f"Bidirectional {name!r} wraps a {kind!r}; only LSTM, GRU and SimpleRNN are "
                "read: wrap one of those and save again"
            )
        layer_config = config_of(entry, f"Bidirectional {name!r}")
        if field == "backward_layer" and inner.get("backward_layer") is None:
            layer_config = {**layer_config, "go_backwards": True}  # Keras makes it so
        sides.append((kind, _recurrent(name, kind, layer_config, "", backward)))
    (kind_f, forward), (kind_b, backward_side) = sides
    if kind_f != kind_b or forward.nonlinearity != backward_side.nonlinearity:
        raise WeightsError(
            f"Bidirectional {name!r} runs a {kind_f} forward and a {kind_b} backward; both "
            "directions must be the same kind of layer, with the same activation: give "
            "backward_layer the forward layer's class and options, or leave it out"
        )
    forward.key, forward.bidirectional = "bidirectional", True
    return forward


# ---------------------------------------------------------------- a bare .weights.h5 -> layers


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
            raise _reset_after_false(f"GRU {key!r} (bias of shape {vars_[2].shape})")
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
        nonlinearity = _nonlinearity(stated, nonlinearity)
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
            params |= _keras_layer(k, layer.name, group, layer.reset_after is not False, suffix)
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


def _nonlinearity(stated: set, asked: str | None) -> str:
    if len(stated) > 1:
        raise WeightsError(
            f"the plain RNN layers use different activations {sorted(stated)}: this tool stacks "
            "layers of one nonlinearity; retrain the model with one (tanh or relu)"
        )
    if stated and asked and stated != {asked}:
        raise WeightsError(
            f"the file says the SimpleRNN uses {next(iter(stated))}, but {asked} was chosen: "
            f"choose {next(iter(stated))} or leave the nonlinearity out"
        )
    if stated:
        return str(stated.pop())
    if asked in ("tanh", "relu"):
        return asked
    raise NonlinearityNeededError()


class NonlinearityNeededError(WeightsError):
    """The file holds a plain RNN and cannot say whether it computes tanh or relu."""

    def __init__(self) -> None:
        super().__init__(
            "this file holds a plain RNN (nn.RNN or Keras SimpleRNN) and cannot say whether it "
            "computes tanh or relu: choose the nonlinearity, tanh or relu, and upload it again "
            "(form field nonlinearity)"
        )


def describe(
    cell: str,
    params: dict[str, np.ndarray],
    widths: list[int],
    bidirectional: bool,
    nonlinearity: str | None,
) -> dict[str, Any]:
    """The `model` object of DESIGN.md; fields at their defaults are left out, so a model of
    the original kind reads exactly as before. Shapes are checked layer by layer."""
    G = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    dirs = ("", "_reverse") if bidirectional else ("",)
    embedding = params.get("embedding.weight")
    D = int(params["weight_ih_l0"].shape[1])
    if embedding is not None and embedding.shape[1] != D:
        raise WeightsError(
            f"the embedding gives {embedding.shape[1]} numbers per token, but the first "
            f"recurrent layer reads {D}: the tensors come from different models; save the "
            "embedding and the layers of one model"
        )
    proj = params.get("weight_hr_l0")
    P = None if proj is None else int(proj.shape[0])
    peephole = any(re.fullmatch(r"weight_c[ifo]_l\d+", n) for n in params)
    if peephole and (cell != "lstm" or bidirectional or P is not None):
        what = cell if cell != "lstm" else "bidirectional LSTM" if bidirectional else "LSTM"
        what += " with a projection (weight_hr)" if P is not None and cell == "lstm" else ""
        raise WeightsError(
            f"the file has peephole weights (weight_c*), which only a one-way LSTM without a "
            f"projection has, but its shapes say the cell is {what}: leave the peephole "
            "weights out or check the model"
        )
    shapes: dict[str, tuple[int, ...]] = {}
    if embedding is not None:
        shapes["embedding.weight"] = tuple(embedding.shape)
    width_in = D
    for k, H in enumerate(widths):
        out = P or H
        for d in dirs:
            shapes |= {
                f"weight_ih_l{k}{d}": (G * H, width_in), f"weight_hh_l{k}{d}": (G * H, out),
                f"bias_ih_l{k}{d}": (G * H,), f"bias_hh_l{k}{d}": (G * H,),
            }  # fmt: skip
            if P is not None:
                shapes[f"weight_hr_l{k}{d}"] = (P, H)
            if peephole:
                shapes |= {f"weight_c{gate}_l{k}": (H,) for gate in "ifo"}
        width_in = out * len(dirs)
    readout = params.get("readout.weight")
    if readout is not None:
        O = int(readout.shape[0]) if readout.ndim == 2 else 0
        shapes |= {"readout.weight": (O, width_in), "readout.bias": (O,)}
    extra = sorted(set(params) - set(shapes))
    if extra:
        raise WeightsError(
            f"tensors {extra[:8]} do not belong to this {cell} model (its other tensors give "
            f"{len(widths)} layers): save only the tensors of the recurrent layers, their "
            "embedding and their readout"
        )
    for name, shape in shapes.items():
        if name not in params:
            raise WeightsError(
                f"the file has no {name}, which this {cell} model needs, of shape {shape}: "
                "save every tensor of the model (a bidirectional layer has a _reverse copy of "
                "each)"
            )
        if params[name].shape != shape:
            raise WeightsError(
                f"{name} has shape {params[name].shape}; this {cell} model needs {shape} (from "
                "its other tensors): the tensors come from different models or layers; save "
                "the weights of one model again"
            )
    model: dict[str, Any] = {
        "cell": cell,
        "input_size": D,
        "hidden_size": widths[0] if len(set(widths)) == 1 else widths,
        "num_layers": len(widths),
        "variant": "peephole" if peephole else "standard",
        "output_size": None if readout is None else int(readout.shape[0]),
    }
    if bidirectional:
        model["bidirectional"] = True
    if P is not None:
        model["proj_size"] = P
    if cell == "rnn" and nonlinearity == "relu":
        model["nonlinearity"] = "relu"
    if embedding is not None:
        model["embedding"] = {
            "num_embeddings": int(embedding.shape[0]),
            "embedding_dim": int(embedding.shape[1]),
        }
    model["weights"] = {name: params[name] for name in shapes}  # state_dict order
    try:  # the engine's own reading of the same contract must agree
        check_params(spec_from_dict(model), model["weights"])
    except ModelError as exc:
        raise WeightsError(str(exc)) from None
    return model
