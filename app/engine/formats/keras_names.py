"""Keras tensor names ("lstm_1/lstm_cell/kernel:0") -> PyTorch-named params.

Names end in `kernel`, `recurrent_kernel`, `bias` or `embeddings`, grouped by layer path (one
trailing "*cell" part dropped), layers in natural order of the path (lstm, lstm_1, ...); the
one group without a recurrent_kernel is the Dense readout, kernel (H, O) -> readout.weight =
kernel.T. LSTM columns [i|f|c|o] are PyTorch's [i|f|g|o]: weight_ih = kernel.T, weight_hh =
recurrent_kernel.T, bias_ih = bias, bias_hh = 0. GRU columns [z|r|h] are permuted to [r|z|n];
a reset_after=True bias (2, 3H) is (bias_ih, bias_hh). SimpleRNN: transposes only.
A Keras GRU with reset_after=False is refused: r multiplies h before the recurrent matrix (Cho
et al. 2014), which PyTorch's GRU cannot do.
"""

from __future__ import annotations

import re

import numpy as np

from .model_object import cell_of, natural
from .weightfiles import WeightsError

KERAS_FIELDS = ("kernel", "recurrent_kernel", "bias", "embeddings")


def reset_after_false(where: str) -> WeightsError:
    return WeightsError(
        f"{where}: this Keras GRU uses reset_after=False, which applies r to h before the "
        "recurrent matrix (Cho et al. 2014); PyTorch's GRU applies it after (r * (W_hn h + "
        "b_hn)) and cannot represent it exactly. Retrain with reset_after=True (Keras' default)"
    )


def keras_parts(name: str) -> tuple[str, str] | None:
    parts = re.split(r"[/.]", re.sub(r":\d+$", "", name))
    if parts[-1] not in KERAS_FIELDS:
        return None
    layer = parts[:-2] if len(parts) > 1 and re.fullmatch(r"(\w+_)?cell", parts[-2]) else parts[:-1]
    return "/".join(layer), parts[-1]


def from_keras(keras: dict, reset_after: bool) -> tuple[dict[str, np.ndarray], list[int], bool]:
    groups: dict[str, dict[str, np.ndarray]] = {}
    for name, ((layer, field), array) in keras.items():
        if field in groups.setdefault(layer, {}):
            raise WeightsError(
                f"two tensors give the {field} of Keras layer {layer!r} (one is {name!r}): "
                "save each layer's weights once"
            )
        groups[layer][field] = array
    recurrent = sorted((g for g in groups if "recurrent_kernel" in groups[g]), key=natural)
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
        params |= keras_layer(k, layer, groups[layer], reset_after)
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


def keras_layer(
    k: int, layer: str, group: dict, reset_after: bool, suffix: str = ""
) -> dict[str, np.ndarray]:
    U, W, b = group["recurrent_kernel"], group.get("kernel", np.zeros(0)), group.get("bias")
    if cell_of(U, 1) is None:
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
        raise reset_after_false(f"Keras {layer}/bias has shape {getattr(b, 'shape', None)}")
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
