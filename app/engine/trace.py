"""The Trace: everything one run records, the contract between engine, API and front end.

Field names are the JSON names of `POST /api/trace` (DESIGN.md). Row t of every (T, ...)
array is time step t, in input order. Traces are recorded for batch element 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class LayerTrace:
    """One layer and direction. H is the layer's width H_k; h and grad_h are R_k wide (the
    projection's P with proj_size, else H_k). A reverse entry's rows are in input order too:
    row t is its state after reading x_{T-1} ... x_t (torch's output[t, R:])."""

    gates: dict[str, np.ndarray]  # gate letter -> (T, H): LSTM i f g o, GRU r z n, RNN none
    h: np.ndarray  # (T, H) hidden state after step t
    c: np.ndarray | None  # (T, H) cell state after step t (LSTM only)
    grad_h: np.ndarray  # (T, H) total dL/dh_t (plain value: may underflow to 0)
    grad_c: np.ndarray | None  # (T, H) total dL/dc_t (LSTM only)
    grad_h_norm: np.ndarray  # (T,) ||dL/dh_t||
    grad_c_norm: np.ndarray | None  # (T,)
    grad_h_log10_norm: np.ndarray  # (T,) exact even far below the dtype's range
    grad_c_log10_norm: np.ndarray | None  # (T,)
    layer: int = 0  # k
    direction: str = "forward"  # "forward" | "reverse"


@dataclass
class Trace:
    cell: str
    steps: int  # T
    hidden_size: int | tuple[int, ...]  # H, or one H_k per layer
    num_layers: int  # L (layers holds L entries, or 2L for a bidirectional model)
    inputs: np.ndarray  # (T, D)
    loss: float
    layers: list[LayerTrace]
    outputs: np.ndarray | None = None  # (T, O) readout of the top h ((1, O): "final"), or None
    loss_kind: str = "sum_last"  # L's kind (cells/losses.py): the one asked for, or the task's
    loss_steps: np.ndarray | None = None  # each position's cross-entropy (losses.per_step)
    # Gradients a caller may want beyond the per-step records (not in the JSON answer):
    param_grads: dict[str, np.ndarray] = field(default_factory=dict)  # PyTorch names
    grad_inputs: np.ndarray | None = None  # (T, D) dL/dx_t (with an embedding: dL/d(row t))
    grad_h0: Any = None  # (entries, R) dL/dh_0 per entry (a list when the widths differ)
    grad_c0: Any = None  # (entries, H) dL/dc_0 per entry (LSTM only)
    tokens: np.ndarray | None = None  # (T,) token ids, when the model has an embedding
