"""The LSTM's parameter gradients and dL/dx, from the backward pass's dz_t (lstm.backward).

Every step's dz_t = dL/dz_t (T, B, 4H) is known once BPTT has run; the gradients of W_ih, W_hh,
the biases and the peepholes are then sums over steps, done as matrix products over all steps
at once: dW_ih = Σ_t dz_t x_tᵀ, dW_hh = Σ_t dz_t h_{t-1}ᵀ, db = Σ_t dz_t, dx_t = W_ihᵀ dz_t,
dw_ci = Σ_t dz_i ⊙ c_{t-1}, dw_cf = Σ_t dz_f ⊙ c_{t-1}, dw_co = Σ_t dz_o ⊙ c_t.
"""

from __future__ import annotations

import numpy as np

from .common import ScaledGrad, scratch


def gradients(p, cache, dZ, exp, grad_h, grad_c, dh0, dc0, E, ws=None) -> dict[str, object]:
    T, B, H = cache.C.shape
    if ws is not None:
        grads = _lean_gradients(p, cache, dZ, ws)
        return {**grads, "grad_h": grad_h, "grad_c": grad_c, "dh0": dh0, "dc0": dc0}
    dZ_true = ScaledGrad(dZ, exp).plain()  # (T, B, 4H)
    flat = dZ_true.reshape(-1, 4 * H)  # a copy: dZ is a view on the backward's rows
    scaled = dZ.reshape(T * B, 4 * H) if exp.any() else flat  # the same numbers when unscaled
    H_prev = cache.S[:T, 6].transpose(0, 2, 1)  # (T, B, H) h_{t-1}
    with np.errstate(all="ignore"):  # an exploded gradient is inf: kept as it is
        return {
            "params": _param_grads(p, cache, dZ_true, flat, H_prev),
            # dL/dx_t, in the same per-step scale
            "dX": ScaledGrad((scaled @ p.W_ih).reshape(T, B, -1), exp),
            "grad_h": grad_h,
            "grad_c": grad_c,
            "dh0": np.ldexp(dh0, E),
            "dc0": np.ldexp(dc0, E),
        }


def _param_grads(p, cache, dZ_true, flat, H_prev) -> dict[str, np.ndarray]:
    H = cache.C.shape[2]
    db = flat.sum(0)
    grads = {
        "W_ih": flat.T @ cache.X.reshape(flat.shape[0], -1),
        "W_hh": flat.T @ H_prev.reshape(flat.shape[0], -1),
        "b_ih": db,
        "b_hh": db.copy(),
    }
    if p.w_ci is not None:
        C_prev = cache.S[: len(cache.C), 0].transpose(0, 2, 1)
        grads["w_ci"] = np.einsum("tbh,tbh->h", dZ_true[..., :H], C_prev)
        grads["w_cf"] = np.einsum("tbh,tbh->h", dZ_true[..., H : 2 * H], C_prev)
        grads["w_co"] = np.einsum("tbh,tbh->h", dZ_true[..., 3 * H :], cache.C)
    return grads


def _lean_gradients(p, cache, dZ, ws) -> dict[str, object]:
    """The parameter gradients and dL/dx of the lean mode (unscaled), from matrices over all
    steps and batch rows, (4H, T·B) and (H, T·B): copied from the batch-last rows with
    contiguous runs of B, which costs a fraction of gathering them batch first."""
    T, B, H = cache.C.shape
    dt = dZ.dtype
    G = scratch(ws, "G", (4, H, T, B), dt)  # dz
    np.copyto(G, dZ.reshape(T, B, 4, H).transpose(2, 3, 0, 1))
    P = scratch(ws, "P", (H, T, B), dt)  # h_{t-1}
    np.copyto(P, cache.S[:T, 6].transpose(1, 0, 2))
    dz = G.reshape(4 * H, T * B)
    db = dz.sum(1)
    grads = {
        "W_ih": dz @ cache.X.reshape(T * B, -1),
        "W_hh": dz @ P.reshape(H, T * B).T,
        "b_ih": db,
        "b_hh": db.copy(),
    }
    if p.w_ci is not None:
        C_prev, C = cache.S[:T, 0].transpose(1, 0, 2), cache.S[1:, 0].transpose(1, 0, 2)
        grads["w_ci"] = np.einsum("htb,htb->h", G[0], C_prev)
        grads["w_cf"] = np.einsum("htb,htb->h", G[1], C_prev)
        grads["w_co"] = np.einsum("htb,htb->h", G[3], C)
    with np.errstate(all="ignore"):  # an exploded gradient is inf: kept as it is
        dX = (dz.T @ p.W_ih).reshape(T, B, -1)
    return {"params": grads, "dX": ScaledGrad(dX, np.zeros(T, dtype=np.int64))}
