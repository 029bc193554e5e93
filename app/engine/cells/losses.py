"""The task's loss on the network's outputs, and its gradient.

    sum_last       L = Σ_j h_{T-1}[j] of the top layer (summed over the batch): dL/dh_{T-1} = 1.
                   The readout, if any, plays no part: L is a sum of hidden units, not logits.
    next_token     L = mean over t < T-1 of -log softmax(y_t)[token_{t+1}]: the readout at step
                   t predicts the input token at t+1 (a language model's training loss, torch's
                   F.cross_entropy(y[:-1], tokens[1:])). Tokens: the embedding's ids, or the
                   index of the one in each one-hot input row. With T = 1 there is nothing to
                   predict: L = 0 and every gradient is 0.
    cross_entropy  L = mean over positions of -log softmax(y)[target] (torch's default). With no
                   target, the target is the model's own answer, argmax y (how the weights
                   would change to make it surer of what it says).
    mse            L = mean((y - target)²) over every element (torch.nn.MSELoss's default)

y is the readout's output (the top h when there is no readout). For a bidirectional model the
top h at position t is [h_fwd_t | h_rev_t] (torch's output[t]), so sum_last is torch's
output[T-1].sum(). A "final" readout (params.py) gives one output row, from h_n.
`at` is "last" (only the last output row) or "all" (every row). Targets: mse (B, O) for
"last", (T, B, O) for "all"; cross_entropy class indices (B,) or (T, B).

The default (`default_kind`): next_token for a model whose readout reads its own vocabulary at
every step (an embedding of V rows and a readout of V, or one-hot inputs of width D and a
readout of D);
cross_entropy against the model's own answer for another readout of 2 or more classes;
sum_last otherwise (no readout, or a readout of one number).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("sum_last", "next_token", "cross_entropy", "mse")


class LossError(ValueError):
    """A loss description that does not fit the model or the sequence."""


@dataclass
class Loss:
    kind: str = "sum_last"
    at: str = "last"  # "last" | "all" (next_token: every step but the last)
    target: np.ndarray | None = None  # time-major; cross_entropy None: the model's own answer


def _log_softmax(y: np.ndarray) -> np.ndarray:
    shifted = y - y.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(y: np.ndarray) -> np.ndarray:
    """Probabilities of logits y (..., O), computed as torch.softmax does (shifted)."""
    return np.exp(_log_softmax(y))


def _looked(loss: Loss, Y: np.ndarray) -> tuple[slice, np.ndarray | None]:
    """The output rows the loss reads and their targets."""
    if loss.kind == "next_token":
        return slice(0, Y.shape[0] - 1), loss.target
    rows = slice(Y.shape[0] - 1, Y.shape[0]) if loss.at == "last" else slice(0, Y.shape[0])
    target = loss.target
    if loss.kind == "cross_entropy" and target is None:
        target = Y[rows].argmax(axis=-1)
    return rows, target


def value_and_grad(loss: Loss, Y: np.ndarray) -> tuple[float, np.ndarray]:
    """L and dL/dY for outputs Y (T', B, O) of a readout kind (not sum_last, which reads the
    top h: see network.backward); dY is zero where the loss does not look."""
    dY = np.zeros_like(Y)
    rows, target = _looked(loss, Y)
    Ys, dYs = Y[rows], dY[rows]
    if Ys.shape[0] == 0:  # next_token over one step: nothing to predict
        return 0.0, dY
    assert target is not None
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


def per_step(loss: Loss, Y: np.ndarray) -> np.ndarray | None:
    """Each position's own cross-entropy -log softmax(y)[target], batch element 0, for the
    cross-entropy kinds: next_token (T-1,) (entry t: how surprised the model is by token t+1),
    cross_entropy (1,) or (T,). None for sum_last and mse."""
    if loss.kind not in ("next_token", "cross_entropy"):
        return None
    rows, target = _looked(loss, Y)
    Ys = Y[rows, 0]
    if Ys.shape[0] == 0:
        return np.zeros(0, dtype=Y.dtype)
    assert target is not None
    return -np.take_along_axis(_log_softmax(Ys), target[:, 0, None], axis=-1)[:, 0]


def default_kind(output_size: int | None, vocabulary: int | None) -> str:
    """The loss a model's task implies (see the module docstring). vocabulary: the number of
    tokens the inputs are drawn from (an embedding's V, one-hot rows' D), None for others."""
    if output_size is None:
        return "sum_last"
    if output_size == vocabulary:
        return "next_token"
    return "cross_entropy" if output_size >= 2 else "sum_last"


def next_tokens(tokens: np.ndarray | None, X: np.ndarray) -> np.ndarray | None:
    """The token id at each step (T, B): the embedding's ids, or the hot index of one-hot rows
    X (T, B, D); None when X is not one-hot."""
    if tokens is not None:
        return tokens
    hot = X == 1.0
    if not np.all(hot.sum(axis=-1) == 1) or not np.all(hot | (X == 0.0)):
        return None
    return hot.argmax(axis=-1)


def parse(spec: dict | None, T: int, B: int, O: int, tokens: np.ndarray | None = None) -> Loss:
    """Check a JSON loss description against the output rows T (1 for a final readout), batch B,
    output size O; tokens (T, B): the input's token ids, for next_token (None: not tokens).

    The target is returned time-major: mse (T', B, O), cross_entropy (T', B), next_token
    (T-1, B), with T' = 1 for at="last" and T for "all". With B = 1 the batch axis may be left
    out.
    """
    spec = dict(spec or {})
    kind = spec.get("kind") or "sum_last"
    if kind not in KINDS:
        raise LossError(f"loss.kind must be one of {KINDS}, got {kind!r}")
    if kind == "sum_last":
        return Loss()
    at = spec.get("at", "last")
    if at not in ("last", "all"):
        raise LossError(f"loss.at must be 'last' or 'all', got {at!r}")
    if kind == "next_token":
        if tokens is None:
            raise LossError(
                "loss.kind 'next_token' needs token inputs (an embedding, or one-hot rows such "
                "as text) and a readout at every step"
            )
        if tokens.shape[0] != T:
            raise LossError("loss.kind 'next_token' needs a readout at every step, not 'final'")
        if tokens.size and tokens.max() >= O:
            raise LossError(
                f"loss.kind 'next_token': token id {int(tokens.max())} has no row in a readout "
                f"of {O} outputs (the readout must cover the vocabulary)"
            )
        if spec.get("target") is not None:
            raise LossError("loss.target is the next input token for 'next_token': leave it out")
        return Loss(kind=kind, at="all", target=tokens[1:].astype(np.int64))
    if spec.get("target") is None:
        if kind == "mse":
            raise LossError("loss.target is required for loss.kind 'mse'")
        return Loss(kind=kind, at=at)  # cross_entropy against the model's own answer
    return Loss(kind=kind, at=at, target=_target(kind, at, spec["target"], T, B, O))


def _target(kind: str, at: str, given: object, T: int, B: int, O: int) -> np.ndarray:
    steps = 1 if at == "last" else T
    raw = np.asarray(given)
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
        return raw.astype(np.float64).reshape(canonical)
    if raw.dtype.kind not in "iu":
        raise LossError("loss.target must hold integer class indices for cross_entropy")
    if raw.size and (raw.min() < 0 or raw.max() >= O):
        raise LossError(f"loss.target class indices must lie in [0, {O - 1}]")
    return raw.astype(np.int64).reshape(canonical)
