"""Keras 3 config.json -> layers, read as data (DESIGN.md "Models from the wild").

A model is read when it is one chain `[Embedding] -> recurrent layers -> [Dense]` (Dropout
anywhere: it is the identity at inference, as are the recurrent layers' dropout options), its
recurrent layers all LSTM, all GRU or all SimpleRNN, each optionally inside Bidirectional
(merge_mode "concat", PyTorch's layout). Anything else is refused with the layer's name and
the reason, never approximated. keras_model.py pairs the layers with the weights file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .keras_files import config_of
from .keras_names import reset_after_false
from .weightfiles import WeightsError

CELL_OF_CLASS = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn"}
KEY_OF_CLASS = {
    "Embedding": "embedding", "LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn",
    "Bidirectional": "bidirectional", "Dense": "dense", "Dropout": "dropout",
    "InputLayer": "input_layer",
}  # fmt: skip
READABLE = "Embedding, LSTM, GRU, SimpleRNN, Bidirectional, Dense and Dropout"
READOUT_ACTIVATIONS = ("linear", "softmax", "sigmoid")  # the readout gives the logits


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
        raise reset_after_false(f"GRU {name!r}")
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
