"""Losses on the network's outputs and their gradients.

    sum_last       L = Σ_j h_{T-1}[j] of the top layer (summed over the batch): dL/dh_{T-1} = 1
    mse            L = mean((y - target)²) over every element (torch.nn.MSELoss's default)
    cross_entropy  L = mean over positions of -log softmax(y)[target] (torch's default)

y is the readout of the top h when the model has one, else the top h itself. For a bidirectional
model the top h at position t is [h_fwd_t | h_rev_t] (torch's output[t]), so sum_last is
torch's output[T-1].sum(): the forward direction after reading all of x, the reverse one after
reading x_{T-1} alone (its dL/dh is 0 before position T-1), and the readout takes both.
`at` is "last" (only step T-1) or "all" (every step). Targets: mse (B, O) for "last",
(T, B, O) for "all"; cross_entropy class indices (B,) or (T, B).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("sum_last", "mse", "cross_entropy")


class LossError(ValueError):
    """A loss description that does not fit the model or the sequence."""


@dataclass
class Loss:
    kind: str = "sum_last"
    at: str = "last"  # "last" | "all"
    target: np.ndarray | None = None


def _log_softmax(y: np.ndarray) -> np.ndarray:
    shifted = y - y.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def value_and_grad(loss: Loss, Y: np.ndarray) -> tuple[float, np.ndarray]:
    """L and dL/dY for outputs Y (T, B, O); dY is zero where the loss does not look."""
    dY = np.zeros_like(Y)
    if loss.kind == "sum_last":
        dY[-1] = 1.0
        return float(Y[-1].sum()), dY
    Ys, dYs = (Y[-1:], dY[-1:]) if loss.at == "last" else (Y, dY)
    assert loss.target is not None
    target = loss.target
    if loss.kind == "mse":
        diff = Ys - target
        dYs[...] = 2.0 * diff / diff.size
        return float(np.mean(diff * diff)), dY
    logp = _log_softmax(Ys)  # (T', B, O)
    idx = target[..., None]
    n = idx.size
    value = -float(np.take_along_axis(logp, idx, axis=-1).sum()) / n
    probs = np.exp(logp)
    np.put_along_axis(probs, idx, np.take_along_axis(probs, idx, axis=-1) - 1.0, axis=-1)
    dYs[...] = probs / n
    return value, dY


def parse(spec: dict | None, T: int, B: int, O: int) -> Loss:
    """Check a JSON loss description against the sequence length T, batch B, output size O.

    The target is returned time-major: mse (T', B, O), cross_entropy (T', B), with T' = 1 for
    at="last" and T for "all". With B = 1 the batch axis may be left out.
    """
    if spec is None:
        return Loss()
    kind = spec.get("kind", "sum_last")
    if kind not in KINDS:
        raise LossError(f"loss.kind must be one of {KINDS}, got {kind!r}")
    if kind == "sum_last":
        return Loss()
    at = spec.get("at", "last")
    if at not in ("last", "all"):
        raise LossError(f"loss.at must be 'last' or 'all', got {at!r}")
    if spec.get("target") is None:
        raise LossError(f"loss.target is required for loss.kind {kind!r}")
    steps = 1 if at == "last" else T
    raw = np.asarray(spec["target"])
    canonical: tuple[int, ...]
    lead: tuple[int, ...]
    if kind == "mse":
        canonical, lead = (steps, B, O), ((B, O) if at == "last" else (T, B, O))
    else:
        canonical, lead = (steps, B), ((B,) if at == "last" else (T, B))
    pos = 0 if at == "last" else 1  # where the batch axis sits in `lead`
    squeezed = lead[:pos] + lead[pos + 1 :] if B == 1 else lead
    if raw.shape not in (lead, squeezed):
        raise LossError(f"loss.target has shape {raw.shape}, expected {squeezed}")
    if kind == "mse":
        if raw.dtype.kind not in "iuf" or not np.all(np.isfinite(raw)):
            raise LossError("loss.target must hold finite numbers")
        target: np.ndarray = raw.astype(np.float64).reshape(canonical)
    else:
        if raw.dtype.kind not in "iu":
            raise LossError("loss.target must hold integer class indices for cross_entropy")
        if raw.size and (raw.min() < 0 or raw.max() >= O):
            raise LossError(f"loss.target class indices must lie in [0, {O - 1}]")
        target = raw.astype(np.int64).reshape(canonical)
    return Loss(kind=kind, at=at, target=target)
