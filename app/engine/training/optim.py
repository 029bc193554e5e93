"""Optimisers and gradient clipping over dicts of arrays (PyTorch names), updated in place.

clip_global_norm   torch.nn.utils.clip_grad_norm_: g <- g * clip / (||g|| + 1e-6) when
                   ||g|| > clip (Pascanu et al. 2013, Algorithm 1); returns ||g|| before
SGD                p <- p - lr * v,  v <- momentum * v + g   (torch.optim.SGD)
Adam               Kingma & Ba 2015 with torch.optim.Adam's defaults (0.9, 0.999, 1e-8)
"""

from __future__ import annotations

import math

import numpy as np

Params = dict[str, np.ndarray]


def global_norm(grads: Params) -> float:
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


def clip_global_norm(grads: Params, clip: float) -> float:
    """Scale every gradient by one factor so the global norm is at most `clip` (0: off).

    Returns the norm before clipping (what a class should see grow when gradients explode)."""
    norm = global_norm(grads)
    if clip > 0 and norm > clip:
        scale = clip / (norm + 1e-6)
        for g in grads.values():
            g *= scale
    return norm


class SGD:
    def __init__(self, params: Params, lr: float, momentum: float = 0.0) -> None:
        self.params, self.lr, self.momentum = params, lr, momentum
        self.v = {k: np.zeros_like(p) for k, p in params.items()}

    def step(self, grads: Params) -> None:
        for k, p in self.params.items():
            g = grads[k]
            if self.momentum:
                self.v[k] *= self.momentum
                self.v[k] += g
                g = self.v[k]
            p -= self.lr * g


class Adam:
    def __init__(
        self, params: Params, lr: float, betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:  # fmt: skip
        self.params, self.lr, self.eps = params, lr, eps
        self.b1, self.b2 = betas
        self.m = {k: np.zeros_like(p) for k, p in params.items()}  # first moment
        self.v = {k: np.zeros_like(p) for k, p in params.items()}  # second moment
        self.t = 0

    def step(self, grads: Params) -> None:
        self.t += 1
        c1 = 1 - self.b1**self.t  # bias corrections
        c2 = 1 - self.b2**self.t
        for k, p in self.params.items():
            g, m, v = grads[k], self.m[k], self.v[k]
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            # torch: p -= lr * (m / c1) / (sqrt(v / c2) + eps)
            p -= (self.lr / c1) * m / (np.sqrt(v / c2) + self.eps)


OPTIMIZERS = {"adam": Adam, "sgd": SGD}


def make(name: str, params: Params, lr: float) -> Adam | SGD:
    if name not in OPTIMIZERS:
        raise ValueError(f"train.optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](params, lr)
