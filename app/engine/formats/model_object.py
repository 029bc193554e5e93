"""PyTorch-named parameters -> the API's `model` object (DESIGN.md "Models from the wild").

Shared by every reader (PyTorch names in torch_names.py, Keras names in keras_names.py, Keras
models in keras_model.py): the cell a recurrent matrix's shape implies, the natural order of
layer names, a plain RNN's nonlinearity (which a state_dict cannot say), and `describe`, which
checks every shape against the others and builds the object.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..params import ModelError, check_params, spec_from_dict
from .weightfiles import WeightsError

CELL_OF_BLOCKS = {4: "lstm", 3: "gru", 1: "rnn"}


def cell_of(matrix: np.ndarray, rows_axis: int) -> str | None:
    """The cell whose recurrent matrix has this shape: G*H by H along (rows_axis, other)."""
    if matrix.ndim != 2 or matrix.shape[1 - rows_axis] == 0:
        return None
    blocks, rest = divmod(matrix.shape[rows_axis], matrix.shape[1 - rows_axis])
    return None if rest else CELL_OF_BLOCKS.get(blocks)


def natural(text: str) -> list:
    """Sort key: "lstm2" before "lstm10"."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def choose_nonlinearity(stated: set, asked: str | None) -> str:
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
