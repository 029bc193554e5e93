"""Vanilla (Elman) RNN layer: forward and exact BPTT, side by side.

    h_t = φ(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)      φ = tanh (default) or relu

(PyTorch's nn.RNN(nonlinearity=...); relu'(0) is taken as 0, as torch's backward does.)

Each backward step multiplies the gradient by diag(1 - h_t²) W_hh, so its norm shrinks at least
like (largest singular value of W_hh)^k (Pascanu et al. 2013, γ = 1 for tanh): this is the cell
whose gradient vanishes. Shapes are time-major: x (T, B, D), h (B, H). A trace (ws None) and
training's lean mode (ws) run the same lines; see lstm.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import LayerParams, ScaledGrad, Scratch, carry_h_back, h_only_grads, project, scratch


@dataclass
class Cache:
    X: np.ndarray  # (T, B, D)
    h0: np.ndarray  # (B, H)
    Hs: np.ndarray  # (T, B, H) h_t
    nonlinearity: str = "tanh"


def forward(
    p: LayerParams, X: np.ndarray, h0: np.ndarray, start: int = 0, nonlinearity: str = "tanh",
    ws: Scratch | None = None,
) -> Cache:  # fmt: skip
    """start: the global index of X[0] (see common.project); ws: training's lean mode."""
    Hs = project(X, p.W_ih, p.b_ih + p.b_hh, start, ws)  # (T, B, H): the input projections
    W_hhT = np.ascontiguousarray(p.W_hh.T)
    relu = nonlinearity == "relu"
    h = h0
    for t in range(X.shape[0]):
        a = Hs[t]
        a += h @ W_hhT
        if relu:
            np.maximum(a, 0.0, out=a)
        else:
            np.tanh(a, out=a)
        h = a
    return Cache(X, h0, Hs, nonlinearity)


def backward(
    p: LayerParams, cache: Cache, ext: ScaledGrad, has_ext: np.ndarray,
    ws: Scratch | None = None,
) -> dict:  # fmt: skip
    """BPTT given the external dL/dh_t (see lstm.backward for the conventions, and ws)."""
    T, B, H = cache.Hs.shape
    Hs, dt = cache.Hs, cache.Hs.dtype
    K, dA, grad_h, H_prev = (
        np.empty_like(Hs) if ws is None else scratch(ws, name, Hs.shape, dt)
        for name in ("K", "dA", "grad_h", "H_prev")
    )  # grad_h: every row is written before it is read
    if cache.nonlinearity == "relu":  # relu' = 1 where h > 0 (that is, where z > 0), else 0
        np.greater(Hs, 0, out=K)
    else:
        np.multiply(Hs, Hs, out=K)  # tanh' = 1 - h² for every step at once
        np.subtract(1.0, K, out=K)

    def step(t: int, dh: np.ndarray, dh_next: np.ndarray) -> None:
        np.multiply(dh, K[t], out=dA[t])  # backprop through φ
        np.matmul(dA[t], p.W_hh, out=dh_next)  # into h_{t-1} through W_hh

    exp, dh_next, E = carry_h_back(grad_h, ext, has_ext, ws is None, step)  # ws: lean, no scales
    gA = ScaledGrad(dA, exp).plain().reshape(T * B, H)
    H_prev[0], H_prev[1:] = cache.h0, Hs[:-1]
    with np.errstate(all="ignore"):  # an exploded gradient is inf: kept as it is
        params = {
            "W_ih": gA.T @ cache.X.reshape(T * B, -1),
            "W_hh": gA.T @ H_prev.reshape(T * B, H),
            "b_ih": gA.sum(0),
            "b_hh": gA.sum(0),
        }
        return h_only_grads(params, ScaledGrad(dA @ p.W_ih, exp), grad_h, exp, dh_next, E)
