"""What the model predicts, for the step page's Predictions panel and API clients: the loss
(its kind, and each position's cross-entropy) and, per output row, the most probable outputs
with their probabilities (softmax of the readout's logits, app/engine/cells/losses.py).

A language model (a readout over the inputs' own vocabulary) gets its TOP_TOKENS most probable
next tokens per step; a classifier its classes, all of them up to MAX_CLASSES (the most probable
beyond), in order of probability.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.cells.losses import softmax

TOP_TOKENS = 5
MAX_CLASSES = 20


def top(outputs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k most probable outputs of each row of logits (T', O): ids (T', k), probabilities."""
    p = softmax(outputs.astype(np.float64))
    ids = np.argsort(-p, axis=-1, kind="stable")[:, :k]
    return ids, np.take_along_axis(p, ids, axis=-1)


def block(run: Any, outputs: np.ndarray | None) -> dict[str, Any] | None:
    """{"kind": "next_token" | "classes", "readout", "ids": (T', k), "p": (T', k)}, or None
    for a model without a readout. Row t of a next_token block predicts input t+1 (its one
    row, for a "final" readout, the token after the whole text)."""
    if outputs is None or run.spec.output_size is None:
        return None
    lm = run.reads_vocabulary  # a "final" one predicts the token after the whole text
    k = min(run.spec.output_size, TOP_TOKENS if lm else MAX_CLASSES)
    ids, p = top(np.asarray(outputs), k)
    return {"kind": "next_token" if lm else "classes", "readout": run.spec.readout,
            "ids": ids, "p": p}  # fmt: skip


def end_fields(run: Any, trace: Any) -> dict[str, Any]:
    """The loss's kind and per-position values and the predictions, for an "end" frame."""
    return {
        "loss_kind": trace.loss_kind,
        "loss_steps": trace.loss_steps,
        "predictions": block(run, trace.outputs),
    }
