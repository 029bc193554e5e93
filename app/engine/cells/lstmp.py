"""LSTM layer with a projection (PyTorch's `proj_size`): forward and exact BPTT, side by side.

    z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh          (4H,)   W_hh is (4H, P)
    i_t, f_t, g_t, o_t = σ(z_i), σ(z_f), tanh(z_g), σ(z_o)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t                      (H,)
    m_t = o_t ⊙ tanh(c_t)                                (H,)
    h_t = W_hr m_t                                       (P,)    W_hr is (P, H)

The standard variant only (with clamps); a plain loop, slower than lstm.py's but the same
conventions: time-major, gradients carried in power-of-two scales (common.ScaledGrad), the
backward returns the same keys (plus W_hr among the parameter gradients), and training's lean
mode (ws) takes the input projection in one product and leaves the scales at 2^0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import Clamp, LayerParams, ScaledGrad, Scratch, align, project, renormalise


@dataclass
class Cache:
    X: np.ndarray  # (T, B, D) layer input
    h0: np.ndarray  # (B, P)
    c0: np.ndarray  # (B, H)
    A: np.ndarray  # (T, B, 4H) gate activations [i|f|g|o] after clamps
    C: np.ndarray  # (T, B, H) c_t
    TC: np.ndarray  # (T, B, H) tanh(c_t)
    M: np.ndarray  # (T, B, H) m_t = o_t ⊙ tanh(c_t), before the projection
    Hs: np.ndarray  # (T, B, P) h_t
    clamp: Clamp | None


def _sigmoid(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # e^-z may overflow: σ is then 0
        return 1.0 / (1.0 + np.exp(-z))


def forward(
    p: LayerParams, X: np.ndarray, h0: np.ndarray, c0: np.ndarray,
    clamp: Clamp | None = None, start: int = 0, ws: Scratch | None = None,
) -> Cache:  # fmt: skip
    """start: the global index of X[0] (see common.project); ws: training's lean mode."""
    assert p.W_hr is not None
    T, B, _ = X.shape
    H, P = p.W_hr.shape[1], p.W_hr.shape[0]
    Z = project(X, p.W_ih, p.b_ih + p.b_hh, start, ws)  # (T, B, 4H)
    A = np.empty_like(Z)
    C = np.empty((T, B, H), dtype=X.dtype)
    TC, M = np.empty_like(C), np.empty_like(C)
    Hs = np.empty((T, B, P), dtype=X.dtype)
    h, c = h0, c0
    for t in range(T):
        z = Z[t] + h @ p.W_hh.T
        a = A[t]
        a[:, : 2 * H] = _sigmoid(z[:, : 2 * H])
        a[:, 2 * H : 3 * H] = np.tanh(z[:, 2 * H : 3 * H])
        a[:, 3 * H :] = _sigmoid(z[:, 3 * H :])
        if clamp is not None:
            clamp.apply(t, a)
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        C[t] = f * c + i * g
        TC[t] = np.tanh(C[t])
        M[t] = o * TC[t]
        Hs[t] = M[t] @ p.W_hr.T
        h, c = Hs[t], C[t]
    return Cache(X, h0, c0, A, C, TC, M, Hs, clamp)


def backward(
    p: LayerParams, cache: Cache, ext: ScaledGrad, has_ext: np.ndarray,
    ws: Scratch | None = None,
) -> dict:  # fmt: skip
    """BPTT given the external dL/dh_t (see lstm.backward for the conventions, and ws)."""
    assert p.W_hr is not None
    A, C, TC = cache.A, cache.C, cache.TC
    T, B, H = C.shape
    i, f, g, o = A[..., :H], A[..., H : 2 * H], A[..., 2 * H : 3 * H], A[..., 3 * H :]
    C_prev = np.concatenate([cache.c0[None], C[:-1]])
    D = A * (1.0 - A)  # σ' on i, f, o
    D[..., 2 * H : 3 * H] = 1.0 - g * g  # tanh' on g
    if cache.clamp is not None:
        D *= ~cache.clamp.mask[:, None, :]  # held gates pass no gradient to their inputs
    grad_h = np.zeros_like(cache.Hs)
    grad_c = np.zeros_like(C)
    dZ = np.empty_like(A)
    exp = np.zeros(T, dtype=np.int64)
    dh_next = np.zeros_like(cache.h0)  # what step t+1 sends to h_t through W_hh
    dc_next = np.zeros_like(cache.c0)  # what step t+1 sends to c_t through f
    E = int(ext.exp[T - 1])
    with np.errstate(under="ignore"):
        for t in reversed(range(T)):
            dh, dc = grad_h[t], grad_c[t]
            dh[...] = dh_next
            if has_ext[t]:
                e_t, E = align([dh, dc_next], E, ext.values[t], int(ext.exp[t]))
                dh += e_t
            exp[t] = E
            dm = dh @ p.W_hr  # into m_t = o ⊙ tanh(c_t)
            np.multiply(dm, o[t] * (1.0 - TC[t] * TC[t]), out=dc)
            dc += dc_next  # total dL/dc_t
            dz = dZ[t]
            dz[:, :H] = dc * g[t]
            dz[:, H : 2 * H] = dc * C_prev[t]
            dz[:, 2 * H : 3 * H] = dc * i[t]
            dz[:, 3 * H :] = dm * TC[t]
            dz *= D[t]
            np.multiply(dc, f[t], out=dc_next)
            np.matmul(dz, p.W_hh, out=dh_next)
            if ws is None:  # lean: no scales to keep
                E += renormalise(dh_next, dc_next)
    gZ = ScaledGrad(dZ, exp).plain().reshape(T * B, -1)
    gH = ScaledGrad(grad_h, exp).plain().reshape(T * B, -1)
    H_prev = np.concatenate([cache.h0[None], cache.Hs[:-1]]).reshape(T * B, -1)
    with np.errstate(all="ignore"):  # an exploded gradient is inf: kept as it is
        return {
            "params": {
                "W_ih": gZ.T @ cache.X.reshape(T * B, -1),
                "W_hh": gZ.T @ H_prev,
                "b_ih": gZ.sum(0),
                "b_hh": gZ.sum(0),
                "W_hr": gH.T @ cache.M.reshape(T * B, H),
            },
            "dX": ScaledGrad(dZ @ p.W_ih, exp),
            "grad_h": ScaledGrad(grad_h, exp),
            "grad_c": ScaledGrad(grad_c, exp),
            "dh0": np.ldexp(dh_next, E),
            "dc0": np.ldexp(dc_next, E),
        }
