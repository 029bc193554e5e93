"""GRU layer: forward and exact backpropagation through time, side by side.

Equations (PyTorch's, gate blocks [r|z|n] in the rows of W_ih and W_hh):

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}          (z → 1 keeps the state)

r multiplies the recurrent term after W_hn (Keras `reset_after=True`); Cho et al. 2014 put r
before it, which this form cannot represent. Shapes are time-major: x (T, B, D), h (B, H).
A trace (ws None) and training's lean mode (ws) run the same lines; see lstm.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import (
    Clamp,
    LayerParams,
    ScaledGrad,
    Scratch,
    carry_h_back,
    h_only_grads,
    project,
    scratch,
)


@dataclass
class Cache:
    X: np.ndarray  # (T, B, D)
    h0: np.ndarray  # (B, H)
    A: np.ndarray  # (T, B, 3H) gates [r|z|n] after clamps
    GHn: np.ndarray  # (T, B, H) W_hn h_{t-1} + b_hn, the term r multiplies
    Hs: np.ndarray  # (T, B, H) h_t
    clamp: Clamp | None


def _sigmoid(z: np.ndarray, out: np.ndarray) -> None:
    np.negative(z, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)


def forward(
    p: LayerParams, X: np.ndarray, h0: np.ndarray, clamp: Clamp | None = None, start: int = 0,
    ws: Scratch | None = None,
) -> Cache:  # fmt: skip
    """start: the global index of X[0] (see common.project); ws: training's lean mode."""
    T, B, _ = X.shape
    H = p.W_hh.shape[1]
    GX = project(X, p.W_ih, p.b_ih, start, ws)  # (T, B, 3H): every step's input projection
    A, GHn, Hs = (
        np.empty(shape, X.dtype) if ws is None else scratch(ws, name, shape, X.dtype)
        for name, shape in (("A", GX.shape), ("GHn", (T, B, H)), ("Hs", (T, B, H)))
    )
    W_hhT = np.ascontiguousarray(p.W_hh.T)
    gh = np.empty((B, 3 * H), dtype=X.dtype)
    h = h0
    with np.errstate(over="ignore"):
        for t in range(T):
            a = A[t]
            np.matmul(h, W_hhT, out=gh)
            gh += p.b_hh
            GHn[t] = gh[:, 2 * H :]
            np.add(GX[t, :, : 2 * H], gh[:, : 2 * H], out=a[:, : 2 * H])
            _sigmoid(a[:, : 2 * H], a[:, : 2 * H])  # r, z
            if clamp is not None:
                clamp.apply(t, a)
            r, z, n = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
            np.multiply(r, GHn[t], out=n)  # n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
            n += GX[t, :, 2 * H :]
            np.tanh(n, out=n)
            if clamp is not None:
                clamp.apply(t, a)
            np.subtract(h, n, out=Hs[t])  # h_t = n + z ⊙ (h_{t-1} - n)
            Hs[t] *= z
            Hs[t] += n
            h = Hs[t]
    return Cache(X, h0, A, GHn, Hs, clamp)


def backward(
    p: LayerParams, cache: Cache, ext: ScaledGrad, has_ext: np.ndarray,
    ws: Scratch | None = None,
) -> dict:  # fmt: skip
    """BPTT given the external dL/dh_t (see lstm.backward for the conventions, and ws)."""
    T, B, H = cache.Hs.shape
    A, dt = cache.A, cache.A.dtype

    def array(name: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.empty(shape, dt) if ws is None else scratch(ws, name, shape, dt)

    r, z, n = A[..., :H], A[..., H : 2 * H], A[..., 2 * H :]
    H_prev = array("H_prev", (T, B, H))  # h_{t-1}
    H_prev[0], H_prev[1:] = cache.h0, cache.Hs[:-1]
    D = array("D", A.shape)
    np.subtract(1.0, A, out=D)
    D *= A  # σ' on r and z
    D[..., 2 * H :] = 1.0 - n * n  # tanh' on n
    if cache.clamp is not None:
        D *= ~cache.clamp.mask[:, None, :]  # held gates pass no gradient to their inputs
    # Step-local factors over all T: dz_[r|z|n] = dh ⊙ KX; the recurrent part dh ⊙ KH
    KX = array("KX", (T, B, 3, H))
    KX[:, :, 2] = (1.0 - z) * D[..., 2 * H :]  # through n
    KX[:, :, 1] = (H_prev - n) * D[..., H : 2 * H]  # through z
    KX[:, :, 0] = KX[:, :, 2] * cache.GHn * D[..., :H]  # through r inside n
    KH = array("KH", KX.shape)
    KH[...] = KX
    KH[:, :, 2] *= r  # the recurrent n term is multiplied by r
    dGH = array("dGH", (T, B, 3 * H))
    dGH4 = dGH.reshape(T, B, 3, H)
    grad_h = array("grad_h", (T, B, H))  # every row is written before it is read

    def step(t: int, dh: np.ndarray, dh_next: np.ndarray) -> None:
        np.multiply(dh[:, None, :], KH[t], out=dGH4[t])  # into W_hh h_{t-1} + b_hh
        np.multiply(dh, z[t], out=dh_next)  # direct path h_{t-1} → h_t through z
        dh_next += dGH[t] @ p.W_hh

    exp, dh_next, E = carry_h_back(grad_h, ext, has_ext, ws is None, step)  # ws: lean, no scales
    dGX = array("dGX", (T, B, 3 * H))  # scaled like grad_h
    np.multiply(grad_h[:, :, None, :], KX, out=dGX.reshape(T, B, 3, H))
    gX, gH = ScaledGrad(dGX, exp).plain(), ScaledGrad(dGH, exp).plain()
    N = T * B
    with np.errstate(all="ignore"):  # an exploded gradient is inf: kept as it is
        params = {
            "W_ih": gX.reshape(N, -1).T @ cache.X.reshape(N, -1),
            "W_hh": gH.reshape(N, -1).T @ H_prev.reshape(N, -1),
            "b_ih": gX.reshape(N, -1).sum(0),
            "b_hh": gH.reshape(N, -1).sum(0),
        }
        return h_only_grads(params, ScaledGrad(dGX @ p.W_ih, exp), grad_h, exp, dh_next, E)
