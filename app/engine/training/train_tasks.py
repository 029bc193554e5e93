"""Training tasks: seeded batches with targets, the loss each needs, a metric and a baseline.

Every task's `batch(T, B, rng)` returns time-major inputs X (T, B, D) and the target in the
form `losses.Loss` takes: mse (T', B, O), cross_entropy (T', B) int, with T' = 1 for at="last".

    adding          D=2 O=1  (value ~ U[0,1], marker) with one marked value in each half;
                             target: their sum. MSE; a constant predictor scores Var = 1/6;
                             solved when MSE < 0.01.
    adding_1997     D=2 O=1  Hochreiter & Schmidhuber 1997, Exp. 4: values ~ U[-1,1]; X1 is
                             marked within the first min(10, T/2) steps, X2 (≠ X1) before T/2;
                             target 0.5 + (X1+X2)/4; a sequence is correct when |error| < 0.04.
                             Constant 0.5 scores MSE 1/24 and accuracy 0.154.
    latch           D=1 O=2  the first value is ±1, then N(0, 0.5²) distractor noise; classify
                             the sign at the last step (cross-entropy). Chance: accuracy 1/2.
    temporal_order  D=8 O=4  Exp. 6a scaled to T: symbols a b c d B E X Y one-hot; B first, E
                             last, X or Y at t1 ∈ [T/10, T/5] and t2 ∈ [T/2, 3T/5], the rest
                             random among a..d; classes XX XY YX YY. Chance: 1/4.
    sine            D=1 O=1  x_t = sin(2πt/16 + φ); predict x_{t+1} at every step. A control
                             where a tanh RNN is not handicapped. Constant 0 scores MSE 1/2.
    copy            D=6 O=5  S = min(5, (T-1)/2) symbols of 4, blanks, a "go" marker, then
                             repeat the S symbols in the last S steps; every other step's
                             target is "blank" (cross-entropy at every step). Metric: accuracy
                             on the S recall steps; always "blank" scores 0.
    brackets        D=2 O=1  "(" / ")" one-hot, never closing below depth 0; target: the
                             nesting depth after each step (MSE at every step). The constant
                             predictor's MSE (the depth's variance) grows with T.
    embedded_reber  D=7 O=7  Exp. 1 as a continual stream (Gers et al. 2000: no resets between
                             strings): symbols B T P S X V E one-hot; predict the next symbol at
                             every step (cross-entropy). The metric is the accuracy on the
                             long-lag step: after the inner string's E, recall the second symbol
                             (T or P). Chance: 1/2.
    embedded_reber_reset  D=7 O=7  the 1997 setup: one embedded string per sequence (the
                             state starts afresh with each), idling on E after it; same metric.
    anbn            D=O=4    a^n b^n (Gers & Schmidhuber 2001): symbols S a b T one-hot, one
                             string "S a^n b^n T" per sequence, n uniform in 1..(T-1)//2, then
                             idling on T; predict the next symbol at every step. A string is
                             right when every predictable next symbol is (after S and after
                             each b: the count decides between b and T); the metric is the
                             fraction of strings right. A constant guess gets none right.
    charlm          D=O=V    the next character of a text, one-hot over its alphabet (V about
                             90): Python standard-library source by default (charlm.py).
                             Cross-entropy at every step; the metric is bits per character on
                             the text's held-out last tenth; the baseline is the unigram model
                             (about 4.5 bits); counted as solved at half the baseline's bits.

The 1997 paper also marks the first and last steps with -1 in Exp. 4; we leave them at 0
(the lag structure, the target and the error criterion are the paper's).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import charlm, tasks

Batch = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class TrainTask:
    name: str
    input_size: int  # D
    output_size: int  # O, size of the readout
    loss: str  # "mse" | "cross_entropy"
    at: str  # "last" | "all"
    metric: str  # "mse" | "accuracy"
    baseline_loss: float  # loss of the best constant predictor
    baseline_metric: float  # its metric
    solved: float  # metric threshold counted as solved (mse below, accuracy at or above)
    min_length: int
    batch: Callable[[int, int, np.random.Generator], Batch]
    summary: str
    baseline_fn: Callable[[int], tuple[float, float]] | None = None  # when it depends on T
    eval_batch: Callable[[int, int, np.random.Generator], Batch] | None = None  # held-out data
    alphabet: str | None = None  # a text task's characters, in input order

    def baselines(self, T: int) -> tuple[float, float]:
        """The best constant predictor's loss and metric at length T."""
        if self.baseline_fn is not None:
            return self.baseline_fn(T)
        return self.baseline_loss, self.baseline_metric


def _adding(T: int, B: int, rng: np.random.Generator) -> Batch:
    X, y = tasks.adding(T, B, rng)  # (B, T, 2), (B, 1)
    return X.transpose(1, 0, 2), y[None]  # (T, B, 2), (1, B, 1)


def _adding_1997(T: int, B: int, rng: np.random.Generator) -> Batch:
    X = np.zeros((T, B, 2))
    X[:, :, 0] = rng.uniform(-1, 1, size=(T, B))
    half = max(T // 2, 2)
    first = rng.integers(0, min(10, half - 1), size=B)
    # X2 is drawn from [0, half) without X1's step: shift the draws at or past X1 by one
    second = rng.integers(0, half - 1, size=B)
    second = second + (second >= first)
    cols = np.arange(B)
    X[first, cols, 1] = 1.0
    X[second, cols, 1] = 1.0
    target = 0.5 + (X[first, cols, 0] + X[second, cols, 0]) / 4
    return X, target[None, :, None]


def _latch(T: int, B: int, rng: np.random.Generator) -> Batch:
    X, bit = tasks.latch(T, B, rng)  # (B, T, 1), (B, 1)
    return X.transpose(1, 0, 2), bit[:, 0].astype(np.int64)[None]  # (1, B)


TO_SYMBOLS = "abcdBEXY"


def _temporal_order(T: int, B: int, rng: np.random.Generator) -> Batch:
    sym = rng.integers(0, 4, size=(T, B))  # distractors a..d
    sym[0], sym[-1] = 4, 5  # B ... E
    t1 = rng.integers(max(T // 10, 1), max(T // 5, 1) + 1, size=B)
    t2 = rng.integers(T // 2, max(3 * T // 5, T // 2) + 1, size=B)
    t2 = np.minimum(np.maximum(t2, t1 + 1), T - 2)
    first, second = rng.integers(0, 2, size=B), rng.integers(0, 2, size=B)  # 0: X, 1: Y
    cols = np.arange(B)
    sym[t1, cols] = 6 + first
    sym[t2, cols] = 6 + second
    X = np.eye(8)[sym]  # (T, B, 8) one-hot
    return X, (2 * first + second)[None].astype(np.int64)  # classes XX XY YX YY


def _sine(T: int, B: int, rng: np.random.Generator) -> Batch:
    X, y = tasks.sine(T, B, rng)  # (B, T, 1) each
    return X.transpose(1, 0, 2), y.transpose(1, 0, 2)


COPY_SYMBOLS = 4  # classes 0..3 are symbols, 4 is "blank"; input 5 is the "go" marker


def _copy_length(T: int) -> int:
    return max(1, min(5, (T - 1) // 2))


def _copy(T: int, B: int, rng: np.random.Generator) -> Batch:
    S, K = _copy_length(T), COPY_SYMBOLS
    sym = rng.integers(0, K, size=(S, B))
    inp = np.full((T, B), K)  # blank
    inp[:S] = sym
    inp[T - S - 1] = K + 1  # go: repeat now
    target = np.full((T, B), K)
    target[T - S :] = sym
    return np.eye(K + 2)[inp], target


def _copy_baseline(T: int) -> tuple[float, float]:
    """Class frequencies as the constant prediction: cross-entropy, and 0 recall accuracy."""
    S, K = _copy_length(T), COPY_SYMBOLS
    p_blank, p_symbol = (T - S) / T, S / (T * K)
    return float(-(p_blank * np.log(p_blank) + (S / T) * np.log(p_symbol))), 0.0


def _brackets(T: int, B: int, rng: np.random.Generator) -> Batch:
    X, depth = tasks.brackets(T, B, rng)  # (B, T, 2), (B, T, 1)
    return X.transpose(1, 0, 2), depth.transpose(1, 0, 2)


@functools.lru_cache(maxsize=64)
def _brackets_baseline(T: int) -> tuple[float, float]:
    """MSE of the best constant (the mean depth), estimated on 512 fixed sequences."""
    _, depth = _brackets(T, 512, np.random.default_rng(0))
    mse = float(np.var(depth))
    return mse, mse


REBER = "BTPSXVE"
# The Reber grammar: state -> [(symbol, next state)]; state 6 emits E and ends.
_REBER_EDGES = {1: [(1, 2), (2, 3)], 2: [(3, 2), (4, 4)], 3: [(1, 3), (5, 5)],
                4: [(4, 3), (3, 6)], 5: [(2, 4), (5, 6)]}  # fmt: skip


def _reber_string(rng: np.random.Generator) -> list[int]:
    out, state = [0], 1  # B
    while state != 6:
        symbol, state = _REBER_EDGES[state][rng.integers(2)]
        out.append(symbol)
    out.append(6)  # E
    return out


def _embedded_reber_string(rng: np.random.Generator) -> list[int]:
    c = 1 + int(rng.integers(2))  # T or P: to be recalled after the inner string
    return [0, c, *_reber_string(rng), c, 6]


def _embedded_reber(T: int, B: int, rng: np.random.Generator) -> Batch:
    sym = np.empty((T + 1, B), dtype=np.int64)
    for b in range(B):  # a continual stream: strings back to back, cut at T + 1 symbols
        stream: list[int] = []
        while len(stream) < T + 1:
            stream.extend(_embedded_reber_string(rng))
        sym[:, b] = stream[: T + 1]
    return np.eye(7)[sym[:T]], sym[1:]  # (T, B, 7), (T, B) next symbols


def _recall_steps(X: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Where the input is an E and the next symbol is T or P: the long-lag predictions."""
    return (X[..., 6] == 1) & ((target == 1) | (target == 2))


def _embedded_reber_reset(T: int, B: int, rng: np.random.Generator) -> Batch:
    """One embedded string per sequence, as in 1997 (the state starts afresh with each):
    strings longer than T + 1 symbols are drawn again; after the final E the sequence idles
    on E (next symbol E), which the metric ignores."""
    sym = np.full((T + 1, B), 6, dtype=np.int64)
    for b in range(B):
        string = _embedded_reber_string(rng)
        while len(string) > T + 1:
            string = _embedded_reber_string(rng)
        sym[: len(string), b] = string
    return np.eye(7)[sym[:T]], sym[1:]


ANBN = "SabT"  # start, a, b, terminate (Gers & Schmidhuber 2001)


def anbn_max_n(T: int) -> int:
    """The longest a^n b^n string a sequence of T steps holds (S a^n b^n T is 2n + 2 symbols,
    inputs and next-symbol targets together T + 1)."""
    return max(1, (T - 1) // 2)


def anbn_symbols(n: int) -> list[int]:
    return [0] + [1] * n + [2] * n + [3]


def _anbn(T: int, B: int, rng: np.random.Generator) -> Batch:
    sym = np.full((T + 1, B), 3, dtype=np.int64)  # idle on T after the string
    for b, n in enumerate(rng.integers(1, anbn_max_n(T) + 1, size=B)):
        string = anbn_symbols(int(n))[: T + 1]
        sym[: len(string), b] = string
    return np.eye(4)[sym[:T]], sym[1:]  # (T, B, 4), (T, B) next symbols


def anbn_strings_right(Y: np.ndarray, target: np.ndarray, X: np.ndarray) -> np.ndarray:
    """(B,) bool: every predictable next symbol of the string right (after S and after b)."""
    predictable = (X[..., 0] == 1) | (X[..., 2] == 1)  # (T, B)
    wrong = predictable & (Y.argmax(-1) != target)
    return ~wrong.any(axis=0)


@functools.lru_cache(maxsize=64)
def _anbn_baseline(T: int) -> tuple[float, float]:
    _, sym = _anbn(T, 256, np.random.default_rng(0))
    p = np.bincount(sym.ravel(), minlength=4) / sym.size
    return float(-(p[p > 0] * np.log(p[p > 0])).sum()), 0.0


def charlm_task(corpus: charlm.Corpus, name: str = "charlm") -> TrainTask:
    """Next-character prediction on a text; the metric is held-out bits per character."""
    V = corpus.size
    bits = charlm.unigram_bits(corpus)
    return TrainTask(
        name, V, V, "cross_entropy", "all", "bpc", bits * float(np.log(2)), bits, bits / 2, 1,
        lambda T, B, rng: charlm.windows(corpus.train, T, B, V, rng),
        "the next character of a text (held-out bits per character)",
        eval_batch=lambda T, B, rng: charlm.windows(corpus.held, T, B, V, rng),
        alphabet=corpus.alphabet,
    )  # fmt: skip


def _unigram_entropy(batch: Callable[[int, int, np.random.Generator], Batch], T: int) -> float:
    """Cross-entropy of the best constant predictor (the symbol frequencies)."""
    _, sym = batch(T, 32, np.random.default_rng(0))
    p = np.bincount(sym.ravel(), minlength=7) / sym.size
    return float(-(p[p > 0] * np.log(p[p > 0])).sum())


REBER_UNIGRAM_ENTROPY = _unigram_entropy(_embedded_reber, 400)


@functools.lru_cache(maxsize=64)
def _reber_reset_baseline(T: int) -> tuple[float, float]:
    return _unigram_entropy(_embedded_reber_reset, T), 0.5


TRAIN_TASKS: dict[str, TrainTask] = {
    t.name: t
    for t in (
        TrainTask("adding", 2, 1, "mse", "last", "mse", 1 / 6, 1 / 6, 0.01, 2, _adding,
                  "sum of the two marked values in [0, 1]"),
        TrainTask("adding_1997", 2, 1, "mse", "last", "accuracy", 1 / 24, 0.1536, 0.99, 4,
                  _adding_1997, "0.5 + (X1 + X2)/4, correct within 0.04 (1997, Exp. 4)"),
        TrainTask("latch", 1, 2, "cross_entropy", "last", "accuracy", float(np.log(2)), 0.5,
                  0.99, 1, _latch, "the sign of the first value, through noise"),
        TrainTask("temporal_order", 8, 4, "cross_entropy", "last", "accuracy",
                  float(np.log(4)), 0.25, 0.99, 10, _temporal_order,
                  "the order of X and Y among distractors (1997, Exp. 6a)"),
        TrainTask("sine", 1, 1, "mse", "all", "mse", 0.5, 0.5, 0.001, 1, _sine,
                  "predict the next value of a sine wave (control)"),
        TrainTask("copy", COPY_SYMBOLS + 2, COPY_SYMBOLS + 1, "cross_entropy", "all",
                  "accuracy", 0.0, 0.0, 0.99, 3, _copy,
                  "repeat the first symbols after a delay (copy memory)",
                  baseline_fn=_copy_baseline),
        TrainTask("brackets", 2, 1, "mse", "all", "mse", 0.0, 0.0, 0.01, 1, _brackets,
                  "the nesting depth of a bracket sequence", baseline_fn=_brackets_baseline),
        TrainTask("embedded_reber", 7, 7, "cross_entropy", "all", "accuracy",
                  REBER_UNIGRAM_ENTROPY, 0.5, 0.99, 12, _embedded_reber,
                  "next symbol of a continual embedded Reber stream (1997, Exp. 1)"),
        TrainTask("embedded_reber_reset", 7, 7, "cross_entropy", "all", "accuracy", 0.0, 0.5,
                  0.99, 12, _embedded_reber_reset,
                  "next symbol of one embedded Reber string per sequence (1997, Exp. 1)",
                  baseline_fn=_reber_reset_baseline),
        TrainTask("anbn", 4, 4, "cross_entropy", "all", "accuracy", 0.0, 0.0, 0.99, 3, _anbn,
                  "next symbol of S a^n b^n T (Gers & Schmidhuber 2001); strings right",
                  baseline_fn=_anbn_baseline, alphabet=ANBN),
        charlm_task(charlm.make_corpus(charlm.default_text())),
    )
}  # fmt: skip


def get(name: str) -> TrainTask:
    if name not in TRAIN_TASKS:
        raise ValueError(f"task.name must be one of {sorted(TRAIN_TASKS)}, got {name!r}")
    return TRAIN_TASKS[name]


def metric(task: TrainTask, Y: np.ndarray, target: np.ndarray, X: np.ndarray) -> float:
    """The task's metric for outputs Y (T', B, O) at the positions the loss looks at."""
    if task.name == "copy":  # the recall steps: the last S
        S = _copy_length(target.shape[0])
        return float(np.mean(Y[-S:].argmax(-1) == target[-S:]))
    if task.name in ("embedded_reber", "embedded_reber_reset"):
        recall = _recall_steps(X, target)
        return float(np.mean(Y.argmax(-1)[recall] == target[recall])) if recall.any() else 0.0
    if task.name == "anbn":
        return float(np.mean(anbn_strings_right(Y, target, X)))
    if task.metric == "bpc":
        return charlm.bits_per_char(Y, target)
    if task.name == "adding_1997":
        return float(np.mean(np.abs(Y[..., 0] - target[..., 0]) < 0.04))
    if task.metric == "mse":
        return float(np.mean((Y - target) ** 2))
    return float(np.mean(Y.argmax(-1) == target))


def is_solved(task: TrainTask, value: float) -> bool:
    return value < task.solved if task.metric in ("mse", "bpc") else value >= task.solved
