"""Seeded sequence generators: the inputs a class steps through and the tasks it trains on.

Every generator takes (length T, batch B, rng) and returns inputs X (B, T, D) and targets.
    sine      D=1  x_t = sin(2π t / 16 + φ), φ ~ U[0, 2π); target: x_{t+1} (a control task)
    random    D=3  x_t ~ N(0, 1)
    adding    D=2  (value ~ U[0, 1], marker); one marked value in each half;
                   target: the sum of the two marked values (constant-predictor MSE 1/6)
    brackets  D=2  one-hot "(" / ")" of a random balanced-ish walk; target: nesting depth
    latch     D=1  the first value is ±1, then N(0, 0.5²) distractor noise; target: the sign
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Generator = Callable[[int, int, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def sine(T: int, B: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    phase = rng.uniform(0, 2 * np.pi, size=(B, 1))
    wave = np.sin(2 * np.pi * np.arange(T + 1)[None, :] / 16 + phase)  # (B, T+1)
    return wave[:, :T, None], wave[:, 1:, None]


def random(T: int, B: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.standard_normal((B, T, 3))
    return X, np.zeros((B, T, 1))


def adding(T: int, B: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = np.zeros((B, T, 2))
    X[:, :, 0] = rng.uniform(0, 1, size=(B, T))
    half = max(T // 2, 1)
    first = rng.integers(0, half, size=B)
    second = rng.integers(half, T, size=B) if T > 1 else first
    rows = np.arange(B)
    X[rows, first, 1] = 1.0
    X[rows, second, 1] = 1.0
    target = X[rows, first, 0] + X[rows, second, 0] * (second != first)
    return X, target[:, None]


def brackets(T: int, B: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = np.zeros((B, T, 2))
    depth = np.zeros((B, T))
    d = np.zeros(B, dtype=int)
    for t in range(T):
        close = (d > 0) & (rng.uniform(size=B) < 0.5)  # never close below depth 0
        X[:, t, 0] = ~close
        X[:, t, 1] = close
        d = d + np.where(close, -1, 1)
        depth[:, t] = d
    return X, depth[:, :, None]


def latch(T: int, B: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(0, 0.5, size=(B, T, 1))
    bit = rng.integers(0, 2, size=B)
    X[:, 0, 0] = 2.0 * bit - 1.0
    return X, bit[:, None].astype(float)


TASKS: dict[str, tuple[Generator, int]] = {  # name -> (generator, input width D)
    "sine": (sine, 1),
    "random": (random, 3),
    "adding": (adding, 2),
    "brackets": (brackets, 2),
    "latch": (latch, 1),
}


def generate(name: str, T: int, B: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    if name not in TASKS:
        raise ValueError(f"task.name must be one of {sorted(TASKS)}, got {name!r}")
    return TASKS[name][0](T, B, np.random.default_rng(seed))


def width(name: str) -> int:
    return TASKS[name][1]
