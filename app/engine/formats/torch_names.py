"""PyTorch state_dict names -> PyTorch-named params of the engine (see params.py).

Recurrent tensors: `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`,
`weight_hr_l{k}`, peephole `weight_c{i,f,o}_l{k}`, `_reverse` for a bidirectional layer, under
any dotted module prefix ("lstm.", "model.rnn."); several modules stack in the natural order of
their prefixes. Other modules are `<path>.weight` and `<path>.bias`: an nn.Embedding (a name
with "emb", or "encoder" as in PyTorch's word_language_model) and at most one nn.Linear
readout, whatever its name (fc, head, decoder, hidden2tag, classifier, lm_head, ...). A second
Linear (a two-layer head, fc1 -> fc2) cannot be represented and is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from .keras_names import keras_parts
from .model_object import cell_of, natural
from .weightfiles import WeightsError

TORCH_RE = re.compile(
    r"^(?:(.+)\.)?(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr|weight_c[ifo])_l(\d+)(_reverse)?$"
)
MODULE_RE = re.compile(r"^(?:(.+)\.)?(\w+)\.(weight|bias)$")  # path, module's own name, kind
# an nn.Embedding is named for what it is (word_language_model calls it "encoder", GPT-2 "wte")
EMBEDDING_NAME = re.compile(r"(?i)\w*emb\w*|encoder|wte")
MAX_LISTED = 8


def sort_names(arrays: Mapping[str, np.ndarray]) -> tuple[dict, dict, dict, list]:
    """Recurrent PyTorch names, other PyTorch modules by path ({"fc": {"weight": (name,
    array), "bias": ...}}), Keras names, the rest. A file is PyTorch's when a name is a
    recurrent one (weight_ih_l0) or a module's `.weight`; `.bias` alone says nothing (Keras has
    biases too), so it goes with the file's framework."""
    torch, keras, unknown = {}, {}, []
    modules: dict[str, dict[str, tuple[str, np.ndarray]]] = {}
    is_torch = any(TORCH_RE.match(n) or MODULE_RE.match(n) and n.endswith("weight") for n in arrays)
    for name, array in arrays.items():
        if match := TORCH_RE.match(name):
            torch[name] = (match.groups(), array)
        elif is_torch and (match := MODULE_RE.match(name)):
            path = name.rsplit(".", 1)[0]
            modules.setdefault(path, {})[match.group(3)] = (name, array)
        elif parts := keras_parts(name):
            keras[name] = (parts, array)
        else:
            unknown.append(name)
    return torch, modules, keras, unknown


def refuse_unknown(unknown: list[str], mixed: bool, pytorch: bool = False) -> None:
    """Refuse a file with names of both frameworks or names of neither; `pytorch`: the file is
    PyTorch's, so the advice names PyTorch's conventions only."""
    if mixed:
        raise WeightsError(
            "the file mixes PyTorch names (weight_ih_l0, ...) and Keras names (.../kernel, ...): "
            "save one model per file, under one framework's names"
        )
    if unknown:
        raise WeightsError(
            f"the file holds tensors whose names this importer does not recognise: "
            f"{sorted(unknown)[:MAX_LISTED]}. Save the recurrent layers under PyTorch's names "
            "(weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ...; weight_ih_l0_reverse, ... "
            "for a bidirectional layer, weight_hr_l0 for a projection; an nn.Embedding as "
            "embedding.weight or encoder.weight, one Linear readout under any name, fc.weight "
            "and fc.bias say)"
            + ("" if pytorch else " or Keras' (.../kernel, .../recurrent_kernel, .../bias, "
               ".../embeddings)")
            + ", and leave other layers out"
        )  # fmt: skip


def heads(modules: dict[str, dict]) -> dict[str, np.ndarray]:
    """The modules beside the recurrent ones: at most one nn.Embedding (its name says so) and
    at most one nn.Linear readout, whatever its name (fc, head, decoder, hidden2tag, ...)."""
    tables, linears, other = [], [], []
    for path, found in sorted(modules.items()):
        weight = found.get("weight", (None, np.zeros(0)))[1]
        bias = found.get("bias", (None, np.zeros(0)))[1]
        if weight.ndim != 2 or ("bias" in found and bias.shape != weight.shape[:1]):
            other.append(path)
        elif "bias" not in found and EMBEDDING_NAME.fullmatch(path.rsplit(".", 1)[-1]):
            tables.append(path)
        else:
            linears.append(path)
    if other:
        names = sorted(name for path in other for name, _ in modules[path].values())
        refuse_unknown(names, False, pytorch=True)
    if len(tables) > 1:
        raise WeightsError(
            f"the file holds more than one embedding ({[f'{t}.weight' for t in tables]}); a "
            "model here has at most one embedding and one readout: save only the embedding "
            "the recurrent layers read"
        )
    if len(linears) > 1:
        names = sorted(name for path in linears for name, _ in modules[path].values())
        raise WeightsError(
            f"the file holds more than one readout Linear ({names[:MAX_LISTED]}): a head of "
            "two layers (fc1 -> activation -> fc2) is not modelled here, since a model here "
            "has at most one Linear readout on the top recurrent layer; upload a model with "
            "one Linear head, or leave the head out to study the recurrent layers"
        )
    params = {"embedding.weight": modules[tables[0]]["weight"][1]} if tables else {}
    for path in linears:
        weight = modules[path]["weight"][1]
        params["readout.weight"] = weight
        params["readout.bias"] = modules[path].get("bias", (None, np.zeros(len(weight))))[1]
    return params


def from_torch(torch: dict, modules_found: dict) -> tuple[dict[str, np.ndarray], list[int], bool]:
    """One or more recurrent modules ("lstm1.", "lstm2.", or one "rnn."), stacked in the
    natural order of their names; returns (params, width of each layer, bidirectional)."""
    modules: dict[str, dict] = {}
    for (prefix, kind, k, reverse), array in torch.values():
        modules.setdefault(prefix or "", {})[(kind, int(k), reverse or "")] = array
    if not modules:
        raise WeightsError(
            f"the file has no recurrent layer (no weight_hh_l0), only {sorted(modules_found)}: "
            "save the model's nn.LSTM, GRU or RNN weights (its whole state_dict)"
        )
    params: dict[str, np.ndarray] = {}
    widths: list[int] = []
    directions = set()
    for prefix in sorted(modules, key=natural):
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
    params |= heads(modules_found)
    top = params[f"weight_hh_l{len(widths) - 1}"].shape[1] * (2 if directions == {True} else 1)
    readout = params.get("readout.weight")
    if readout is not None and readout.shape[1] != top:
        linear = next(p for p, found in modules_found.items() if "weight" in found and
                      found["weight"][1] is readout)  # fmt: skip
        raise WeightsError(
            f"the Linear {linear!r} reads {readout.shape[1]} numbers, but the top recurrent "
            f"layer gives {top}: only a Linear after the recurrent layers (the readout) is "
            "modelled; leave other layers out, or check that the tensors come from one model"
        )
    for name, array in list(params.items()):  # a missing bias (bias=False) is a zero bias
        if name.startswith("weight_hh_l"):
            for bias in ("bias_ih" + name[9:], "bias_hh" + name[9:]):
                params.setdefault(bias, np.zeros(array.shape[:1]))
    return params, widths, directions == {True}


def _width(name: str, weight_hh: np.ndarray) -> int:
    if cell_of(weight_hh, 0) is None:
        raise WeightsError(
            f"tensor {name} has shape {weight_hh.shape}, but a recurrent matrix is (G·H, H) with "
            "G = 4 (LSTM), 3 (GRU) or 1 (plain RNN): check that the file holds the weights of "
            "torch.nn.LSTM, GRU or RNN (or their Keras layers)"
        )
    return int(weight_hh.shape[1])


def cell_of_params(params: dict[str, np.ndarray]) -> str:
    """The cell all layers agree on, from weight_hh's rows per unit (4 LSTM, 3 GRU, 1 RNN)."""
    kinds = {}
    for name, array in params.items():
        if name.startswith("weight_hh_l"):
            hr = params.get(name.replace("weight_hh", "weight_hr"))
            kinds[name] = "lstm" if hr is not None else cell_of(array, 0)
    cells = set(kinds.values())
    if len(cells) != 1 or None in cells:
        found = ", ".join(
            f"layer {n.removeprefix('weight_hh_l')} {c}"
            for n, c in sorted(kinds.items(), key=lambda nc: natural(nc[0]))
        )
        raise WeightsError(
            f"the layers are of different kinds ({found}): this tool stacks layers of one "
            "cell, so it cannot run this model; upload a model whose layers are all LSTM, all "
            "GRU or all plain RNN"
        )
    return str(cells.pop())
