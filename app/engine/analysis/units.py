"""Which unit is doing this? Rank hidden units by how well their activation matches a target.

Two kinds of target (Strobelt et al. 2018, LSTMVis; Karpathy, Johnson & Fei-Fei 2015):

- a set of steps (a selected span, the characters inside quotes): a unit matches when one
  threshold on its activation separates the target steps from the rest. The score is the area
  under the ROC curve (AUC), the chance that a random target step has a higher activation than
  a random other step. A unit that is *low* on the target separates as well as one that is
  high (the sign of a tanh unit is arbitrary), so each unit is scored in its better direction:
  score = max(AUC, 1 - AUC), with `direction` "high" or "low" and the threshold with the best
  balanced accuracy (true-positive rate minus false-positive rate, Youden's J) in it.
- a number per step (bracket depth, position in the line): the score is |r|, Pearson's
  correlation of the unit's activation with the values; `r` keeps its sign.

Activations are (T, N) arrays: row t is step t, column n a unit (of one field of one layer).
Built-in targets over a text are here too, so the page and a benchmark ask for the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pysource import string_literal_mask


@dataclass(frozen=True)
class StepScores:
    auc: np.ndarray  # (N,) P(a_target > a_other), ties counted half
    score: np.ndarray  # (N,) max(auc, 1 - auc)
    direction: np.ndarray  # (N,) "high" | "low": which side of the threshold the target is on
    threshold: np.ndarray  # (N,) the cut with the best TPR - FPR in that direction
    tpr: np.ndarray  # (N,) fraction of target steps on the target side of the threshold
    fpr: np.ndarray  # (N,) fraction of other steps on that side


def step_mask(T: int, ranges: list[tuple[int, int]]) -> np.ndarray:
    """(T,) bool: True on the steps of the half-open ranges [a, b)."""
    mask = np.zeros(T, dtype=bool)
    for a, b in ranges:
        if not 0 <= a < b <= T:
            raise ValueError(f"step range [{a}, {b}) is not inside [0, {T})")
        mask[a:b] = True
    return mask


def _check_mask(mask: np.ndarray) -> tuple[int, int]:
    P = int(mask.sum())
    N = mask.size - P
    if P == 0 or N == 0:
        raise ValueError(
            f"the target marks {P} of {mask.size} steps: it must mark some steps and leave "
            "some unmarked, or there is nothing to separate"
        )
    return P, N


def score_steps(A: np.ndarray, mask: np.ndarray) -> StepScores:
    """Score every column of A (T, N) against the target steps `mask` (T,)."""
    P, N = _check_mask(mask)
    order = np.argsort(A, axis=0, kind="stable")  # (T, N) ascending activation
    a = np.take_along_axis(A, order, axis=0)  # (T, N) sorted activations
    pos = mask[order]  # (T, N) is the k-th smallest a target step?
    # Mann-Whitney: AUC = (sum of the targets' ranks - P(P+1)/2) / (P N), ties at mean rank.
    T = A.shape[0]
    first = np.ones_like(a, dtype=bool)  # first[k]: a[k] starts a run of equal values
    first[1:] = a[1:] != a[:-1]
    run_id = np.cumsum(first, axis=0) - 1  # (T, N) index of the tie run of each row
    ranks = np.empty_like(a, dtype=np.float64)
    for n in range(A.shape[1]):  # tie runs differ per column
        starts = np.flatnonzero(first[:, n])
        ends = np.append(starts[1:], T)
        mean_rank = (starts + ends + 1) / 2.0  # ranks are 1-based: mean of start+1 .. end
        ranks[:, n] = mean_rank[run_id[:, n]]
    auc = ((ranks * pos).sum(axis=0) - P * (P + 1) / 2.0) / (P * N)
    # Cuts between distinct values: a cut before sorted row k puts rows k.. on the high side.
    pos_above = P - np.cumsum(pos, axis=0) + pos  # targets in rows k..T-1
    neg_above = N - np.cumsum(~pos, axis=0) + ~pos
    j = pos_above / P - neg_above / N  # (T, N) Youden's J of "high side = target" at cut k
    high = auc >= 0.5
    j = np.where(high, j, -j)
    valid = first.copy()  # a cut must fall between two different values
    valid[0] = False
    j = np.where(valid, j, -np.inf)
    k = np.argmax(j, axis=0)  # (N,)
    cols = np.arange(A.shape[1])
    k_safe = np.maximum(k, 1)
    threshold = (a[k_safe - 1, cols] + a[k_safe, cols]) / 2.0
    tpr_high = pos_above[k, cols] / P
    fpr_high = neg_above[k, cols] / N
    constant = ~valid.any(axis=0)  # a constant unit has no cut: it separates nothing
    threshold = np.where(constant, a[0, cols], threshold)
    tpr = np.where(constant, 0.0, np.where(high, tpr_high, 1 - tpr_high))
    fpr = np.where(constant, 0.0, np.where(high, fpr_high, 1 - fpr_high))
    return StepScores(
        auc=auc,
        score=np.maximum(auc, 1 - auc),
        direction=np.where(high, "high", "low"),
        threshold=threshold,
        tpr=tpr,
        fpr=fpr,
    )


def score_values(A: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(N,) Pearson r of each column of A (T, N) with `values` (T,); 0 for a constant unit."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (A.shape[0],):
        raise ValueError(f"the target has {v.size} values for {A.shape[0]} steps")
    dv = v - v.mean()
    if not np.any(dv):
        raise ValueError("the target values are all equal: there is nothing to correlate with")
    dA = A - A.mean(axis=0)
    denom = np.sqrt((dA * dA).sum(axis=0) * (dv * dv).sum())
    num = dv @ dA
    return np.divide(num, denom, out=np.zeros_like(num), where=denom > 0)


# --- built-in targets over a text ---------------------------------------------------------------

BUILTINS = ("inside_quotes", "string_literals", "bracket_depth", "line_position")


def inside_quotes(text: str) -> np.ndarray:
    """(T,) bool: the characters between an opening and a closing quote (", ' or the same
    quote again), quotes excluded; a quote left open ends at the end of its line."""
    mask = np.zeros(len(text), dtype=bool)
    quote = None
    for t, ch in enumerate(text):
        if quote is None:
            if ch in "\"'":
                quote = ch
        elif ch == quote or ch == "\n":
            quote = None
        else:
            mask[t] = True
    return mask


def bracket_depth(text: str) -> np.ndarray:
    """(T,) how many (, [ and { are open after each character (never below 0)."""
    depth = np.zeros(len(text))
    d = 0
    for t, ch in enumerate(text):
        if ch in "([{":
            d += 1
        elif ch in ")]}":
            d = max(d - 1, 0)
        depth[t] = d
    return depth


def line_position(text: str) -> np.ndarray:
    """(T,) the column of each character in its line (0 at a line's first character)."""
    pos = np.zeros(len(text))
    col = 0
    for t, ch in enumerate(text):
        pos[t] = col
        col = 0 if ch == "\n" else col + 1
    return pos


def builtin_target(name: str, text: str) -> np.ndarray:
    """A step mask (bool) or values (float) for a built-in target's name."""
    if name == "inside_quotes":
        return inside_quotes(text)
    if name == "string_literals":  # Python source, by Python's tokenizer (pysource.py)
        return string_literal_mask(text)
    if name == "bracket_depth":
        return bracket_depth(text)
    if name == "line_position":
        return line_position(text)
    raise ValueError(f"unknown built-in target {name!r}; choose one of {list(BUILTINS)}")
