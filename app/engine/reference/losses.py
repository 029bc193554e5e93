"""The losses as their definitions write them, with dL/dy beside L.

    sum_last       L = Σ_j h_{T-1}[j] of the top layer             dL/dh_{T-1} = 1
    next_token     L = mean over t < T-1 of -log softmax(y_t)[token_{t+1}]
    cross_entropy  L = mean over looked-at steps of -log softmax(y_t)[target_t]
                   (no target: the model's own answer, argmax y_t)
    mse            L = mean over every looked-at element of (y - target)²

y_t is the readout W_out h_t + b_out when the model has one, else the top h_t; sum_last is
given the top h itself. `at` "last" looks at step T-1 only, "all" at every step. target[k]
belongs to the k-th looked-at step.
"""

import numpy as np


def loss_and_grad(kind, at, y, target):
    T = len(y)
    steps = [T - 1] if kind == "sum_last" or at == "last" else list(range(T))
    if kind == "next_token":
        steps = list(range(T - 1))  # step t predicts token t+1
    dy = {t: np.zeros_like(y[t]) for t in range(T)}
    if kind == "sum_last":
        dy[T - 1] = np.ones_like(y[T - 1])
        return y[T - 1].sum(), dy
    if kind == "mse":
        N = len(steps) * y[0].size  # the mean runs over every element
        L = sum(((y[t] - target[k]) ** 2).sum() for k, t in enumerate(steps)) / N
        for k, t in enumerate(steps):
            dy[t] = 2 * (y[t] - target[k]) / N
        return L, dy
    L = 0.0
    for k, t in enumerate(steps):
        p = np.exp(y[t] - y[t].max()) / np.exp(y[t] - y[t].max()).sum()  # softmax
        c = np.argmax(y[t]) if target is None else target[k]  # the class aimed at
        L += -np.log(p[c]) / len(steps)
        dy[t] = (p - np.eye(len(p))[c]) / len(steps)  # softmax minus one-hot
    return L, dy
