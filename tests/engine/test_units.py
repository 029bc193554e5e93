"""Unit search: AUC and thresholds against brute force, correlation, and a planted unit found."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from app.engine import prepare
from app.engine.analysis import units


def brute_auc(a: np.ndarray, mask: np.ndarray) -> float:
    pairs = list(itertools.product(a[mask], a[~mask]))
    return sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in pairs) / len(pairs)


def brute_best_j(a: np.ndarray, mask: np.ndarray, high: bool) -> float:
    best = -np.inf
    vals = np.unique(a)
    for lo, hi in itertools.pairwise(vals):
        cut = (lo + hi) / 2
        side = a > cut if high else a < cut
        best = max(best, side[mask].mean() - side[~mask].mean())
    return best


def test_auc_and_threshold_equal_brute_force_with_ties():
    rng = np.random.default_rng(0)
    A = rng.integers(0, 5, size=(40, 6)).astype(float)  # many ties
    A[:, 5] = 2.0  # a constant unit
    mask = rng.random(40) < 0.3
    s = units.score_steps(A, mask)
    for n in range(6):
        assert s.auc[n] == pytest.approx(brute_auc(A[:, n], mask), abs=1e-12)
        assert s.score[n] == pytest.approx(max(s.auc[n], 1 - s.auc[n]), abs=1e-12)
    for n in range(5):
        high = s.direction[n] == "high"
        side = A[:, n] > s.threshold[n] if high else A[:, n] < s.threshold[n]
        assert s.tpr[n] == pytest.approx(side[mask].mean())
        assert s.fpr[n] == pytest.approx(side[~mask].mean())
        assert s.tpr[n] - s.fpr[n] == pytest.approx(brute_best_j(A[:, n], mask, high))
    assert s.auc[5] == 0.5 and s.tpr[5] == 0.0


def test_a_unit_low_on_the_target_scores_as_well_as_one_high_on_it():
    mask = np.array([0, 1, 1, 0, 0, 1, 0], dtype=bool)
    a = np.where(mask, 1.0, -1.0)
    s = units.score_steps(np.stack([a, -a], axis=1), mask)
    assert list(s.auc) == [1.0, 0.0]
    assert list(s.score) == [1.0, 1.0]
    assert list(s.direction) == ["high", "low"]
    assert list(s.threshold) == [0.0, 0.0]


def test_correlation_matches_numpy_and_a_constant_unit_scores_zero():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(30, 4))
    A[:, 3] = 7.0
    v = rng.normal(size=30)
    r = units.score_values(A, v)
    for n in range(3):
        assert r[n] == pytest.approx(np.corrcoef(A[:, n], v)[0, 1], abs=1e-12)
    assert r[3] == 0.0


def test_targets_that_mark_nothing_or_everything_are_refused():
    A = np.zeros((5, 2))
    with pytest.raises(ValueError, match="must mark some steps"):
        units.score_steps(A, np.zeros(5, dtype=bool))
    with pytest.raises(ValueError, match="must mark some steps"):
        units.score_steps(A, np.ones(5, dtype=bool))
    with pytest.raises(ValueError, match="all equal"):
        units.score_values(A, np.ones(5))
    with pytest.raises(ValueError, match=r"not inside \[0, 5\)"):
        units.step_mask(5, [(3, 7)])


def test_builtin_targets_over_a_text():
    text = 'f("ab", [x])\n  y'
    assert "".join(ch for ch, m in zip(text, units.inside_quotes(text), strict=True) if m) == "ab"
    assert list(units.bracket_depth(text)) == [0, 1, 1, 1, 1, 1, 1, 1, 2, 2, 1, 0, 0, 0, 0, 0]
    assert list(units.line_position(text)[-4:]) == [12, 0, 1, 2]  # the newline is column 12


def planted_lstm(D: int = 3, H: int = 6, channel: int = 1, unit: int = 2, seed: int = 0):
    """A random LSTM except one unit whose cell state is tanh(2 x[channel]): input gate
    open, forget gate shut, g reading only that channel."""
    rng = np.random.default_rng(seed)
    W_ih = rng.uniform(-1, 1, size=(4 * H, D))
    W_hh = rng.uniform(-1, 1, size=(4 * H, H))
    b_ih = rng.uniform(-1, 1, size=4 * H)
    b_hh = rng.uniform(-1, 1, size=4 * H)
    i, f, g = unit, H + unit, 2 * H + unit
    for row in (i, f, g):
        W_ih[row] = 0.0
        W_hh[row] = 0.0
        b_hh[row] = 0.0
    b_ih[i], b_ih[f], b_ih[g] = 40.0, -40.0, 0.0
    W_ih[g, channel] = 2.0
    weights = {"weight_ih_l0": W_ih, "weight_hh_l0": W_hh, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}
    model = {"cell": "lstm", "input_size": D, "hidden_size": H,
             "weights": {k: v.tolist() for k, v in weights.items()}}  # fmt: skip
    return model


def test_search_finds_the_planted_unit_for_steps_and_for_values():
    rng = np.random.default_rng(3)
    T, D, channel, unit = 60, 3, 1, 2
    X = rng.normal(size=(T, D))
    on = rng.random(T) < 0.4
    X[:, channel] = on.astype(float)
    run = prepare(planted_lstm(D=D, channel=channel, unit=unit), X)
    c = run.forward()[0]["c"]  # (T, H)
    s = units.score_steps(c, on)
    assert int(np.argmax(s.score)) == unit
    assert s.score[unit] >= 0.99
    assert s.direction[unit] == "high"
    r = units.score_values(c, X[:, channel])
    assert int(np.argmax(np.abs(r))) == unit
    assert r[unit] >= 0.99
