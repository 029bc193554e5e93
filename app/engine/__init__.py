"""The engine: pure NumPy LSTM, GRU and tanh RNN with exact BPTT, recorded step by step.

    from . import trace
    tr = trace({"cell": "lstm", "input_size": 3, "hidden_size": 8}, np.zeros((20, 3)))
    tr.layers[0].gates["f"]        # (T, H) forget gate at every step
    tr.layers[0].grad_c_log10_norm  # (T,) log10 ||dL/dc_t||, exact far below float range

Models from the wild (params.py): per-layer widths, bidirectional layers (tr.layers then holds
one entry per layer and direction, [l0 forward, l0 reverse, l1 forward, ...], each with
.layer and .direction, every row t at input position t), projections, ReLU RNNs, and an
embedding in front (`inputs` are then token ids (T,), and tr.grad_inputs[t] is
dL/d(embedding row of token t)).

No web imports here: the service calls these functions off its event loop.
"""

from .params import ModelError
from .runner import Run, prepare, run, trace
from .trace import LayerTrace, Trace

__all__ = ["trace", "prepare", "Run", "Trace", "LayerTrace", "ModelError", "run"]
