"""The losses as their definitions write them, with dL/dy beside L.

    sum_last       L = Σ_j y_{T-1}[j]                          dL/dy_{T-1} = 1
    mse            L = mean over every looked-at element of (y - target)²
    cross_entropy  L = mean over looked-at steps of -log softmax(y_t)[target_t]

y_t is the readout W_out h_t + b_out when the model has one, else the top h_t. `at` "last"
looks at step T-1 only, "all" at every step. target[k] belongs to the k-th looked-at step.
"""

import numpy as np


def loss_and_grad(kind, at, y, target):
    T = len(y)
    steps = [T - 1] if kind == "sum_last" or at == "last" else list(range(T))
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
        L += -np.log(p[target[k]]) / len(steps)
        dy[t] = (p - np.eye(len(p))[target[k]]) / len(steps)  # softmax minus one-hot
    return L, dy
