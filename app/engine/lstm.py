"""LSTM layer: forward and exact backpropagation through time, side by side.

Equations (PyTorch's, gate blocks [i|f|g|o] in the rows of W_ih and W_hh):

    z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh                       (4H,)
    i_t, f_t, g_t, o_t = σ(z_i), σ(z_f), tanh(z_g), σ(z_o)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)

Variants (Greff et al. 2017, "LSTM: A Search Space Odyssey"):
    standard        as above
    no_forget_gate  f ≡ 1: the 1997 cell of Hochreiter & Schmidhuber (constant error carousel)
    peephole        z_i += w_ci ⊙ c_{t-1}, z_f += w_cf ⊙ c_{t-1}, z_o += w_co ⊙ c_t (Gers 2002)
    coupled         f = 1 - i (CIFG)

Shapes are time-major: x (T, B, D), states (B, H). A clamped gate is held at a value and no
gradient flows through its pre-activation (see common.Clamp).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import Clamp, LayerParams, ScaledGrad, align, renormalise


@dataclass
class Cache:
    X: np.ndarray  # (T, B, D) layer input
    h0: np.ndarray  # (B, H)
    c0: np.ndarray  # (B, H)
    A: np.ndarray  # (T, B, 4H) gate activations [i|f|g|o] after clamps
    C: np.ndarray  # (T, B, H) cell state c_t
    Hs: np.ndarray  # (T, B, H) hidden state h_t
    TC: np.ndarray  # (T, B, H) tanh(c_t)
    variant: str
    clamp: Clamp | None


def _signed(p: LayerParams, H: int) -> tuple[np.ndarray, ...]:
    """W_ih, W_hh, b and peepholes with the sigmoid rows negated (exact in floating point).

    The forward loop then holds -z for i, f, o and +z for g, so every gate costs one exp (or
    tanh) and σ(z) = 1/(1 + e^-z) comes out bit for bit as PyTorch computes it, tiny gates too.
    """
    sign = np.full(4 * H, -1.0, dtype=p.W_ih.dtype)
    sign[2 * H : 3 * H] = 1.0
    b = (p.b_ih + p.b_hh) * sign
    neg = [None if w is None else -w for w in (p.w_ci, p.w_cf, p.w_co)]
    return p.W_ih * sign[:, None], np.ascontiguousarray((p.W_hh * sign[:, None]).T), b, *neg


def forward(
    p: LayerParams,
    X: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    variant: str = "standard",
    clamp: Clamp | None = None,
) -> Cache:
    T, B, _ = X.shape
    H = p.W_hh.shape[1]
    peephole = variant == "peephole"
    W_ih, W_hhT, b, w_ci, w_cf, w_co = _signed(p, H)
    # Every step's input projection in one call. Kept as T stacked (B, D) products, not one
    # flattened product: BLAS sums in a different order for other shapes, and a run fed one
    # step at a time (live mode) must give bit for bit the same numbers as the whole run.
    Z = X @ W_ih.T  # (T, B, 4H)
    Z += b
    A = np.empty_like(Z)
    C = np.empty((T, B, H), dtype=X.dtype)
    Hs = np.empty_like(C)
    TC = np.empty_like(C)
    # per-gate (T, B, H) views, made once so a step only indexes [t]
    Ai, Af, Ag, Ao = (A[..., k * H : (k + 1) * H] for k in range(4))
    Zg, Zo = Z[..., 2 * H : 3 * H], Z[..., 3 * H :]
    rec = np.empty((B, 4 * H), dtype=X.dtype)
    ig = np.empty((B, H), dtype=X.dtype)
    special = variant != "standard" or clamp is not None
    h, c = h0, c0
    with np.errstate(over="ignore"):
        for t in range(T):
            z, a = Z[t], A[t]
            np.matmul(h, W_hhT, out=rec)  # recurrent term
            z += rec
            if peephole:  # i and f look at c_{t-1}
                z[:, :H] += w_ci * c
                z[:, H : 2 * H] += w_cf * c
            np.exp(z, out=a)  # e^-z on the sigmoid blocks; may overflow: σ is then 0
            a += 1.0
            np.reciprocal(a, out=a)
            np.tanh(Zg[t], out=Ag[t])
            if special:
                _derive_forget(a, H, variant, clamp, t)
            np.multiply(Af[t], c, out=C[t])  # c_t = f ⊙ c_{t-1} + i ⊙ g
            np.multiply(Ai[t], Ag[t], out=ig)
            C[t] += ig
            if peephole:  # o looks at c_t, so it is computed after c_t
                z_o = Zo[t]
                z_o += w_co * C[t]
                np.reciprocal(1.0 + np.exp(z_o), out=Ao[t])
                if clamp is not None:
                    clamp.apply(t, a)
            np.tanh(C[t], out=TC[t])  # h_t = o ⊙ tanh(c_t)
            np.multiply(Ao[t], TC[t], out=Hs[t])
            h, c = Hs[t], C[t]
    return Cache(X, h0, c0, A, C, Hs, TC, variant, clamp)


def _derive_forget(a: np.ndarray, H: int, variant: str, clamp: Clamp | None, t: int) -> None:
    """Apply clamps, then the variant's forget gate (held entries of f are re-applied)."""
    if clamp is not None:
        clamp.apply(t, a)
    if variant == "no_forget_gate":
        a[:, H : 2 * H] = 1.0
    elif variant == "coupled":
        np.subtract(1.0, a[:, :H], out=a[:, H : 2 * H])
    else:
        return
    if clamp is not None:
        clamp.apply(t, a)


def _step_factors(p: LayerParams, cache: Cache) -> tuple[np.ndarray, ...]:
    """Every step-local factor of the backward pass, computed once over all T.

    With them one step of BPTT is linear in (dh, dc):
        dc      = dc_next + dh ⊙ Kc
        dz_ifg  = dc ⊙ K3          dz_o = dh ⊙ Kzo
        dc_prev = dc ⊙ F
    """
    A, C, TC, H = cache.A, cache.C, cache.TC, cache.C.shape[2]
    i, f, g, o = (A[..., k * H : (k + 1) * H] for k in range(4))
    C_prev = np.concatenate([cache.c0[None], C[:-1]])  # (T, B, H) c_{t-1}
    D = np.subtract(1.0, A)  # σ' = a(1 - a) on the sigmoid blocks
    D *= A
    D_i, D_f, D_g, D_o = (D[..., k * H : (k + 1) * H] for k in range(4))
    np.multiply(g, g, out=D_g)  # tanh' = 1 - g² on the g block
    np.subtract(1.0, D_g, out=D_g)
    if cache.variant in ("no_forget_gate", "coupled"):
        D_f[...] = 0.0  # f is not a function of z_f
    coupling = None
    if cache.variant == "coupled":  # f = 1 - i: df flows into i, unless f itself is held
        coupling = np.full_like(C, -1.0)
    if cache.clamp is not None:
        D *= ~cache.clamp.mask[:, None, :]  # held gates pass no gradient to their inputs
        if coupling is not None:
            coupling *= ~cache.clamp.mask[:, None, H : 2 * H]
    Kzo = np.multiply(TC, D_o)  # dz_o / dh
    Kc = np.multiply(TC, TC)  # dc_t / dh_t through h_t = o ⊙ tanh(c_t)
    np.subtract(1.0, Kc, out=Kc)
    Kc *= o
    if p.w_co is not None:
        Kc += Kzo * p.w_co  # and through the output peephole
    K3 = np.empty((*C.shape[:2], 3, H), dtype=C.dtype)  # dz_[i|f|g] / dc
    np.multiply(g if coupling is None else g + coupling * C_prev, D_i, out=K3[:, :, 0])
    np.multiply(C_prev, D_f, out=K3[:, :, 1])
    np.multiply(i, D_g, out=K3[:, :, 2])
    F = f  # dc_{t-1} / dc_t
    if p.w_ci is not None:
        F = f + K3[:, :, 0] * p.w_ci + K3[:, :, 1] * p.w_cf
    return Kc, K3, Kzo, F


def backward(
    p: LayerParams, cache: Cache, ext: ScaledGrad, has_ext: np.ndarray
) -> dict[str, object]:
    """BPTT given the external gradient dL/dh_t (from the loss or the layer above).

    ext holds dL/dh_t arriving from outside the recurrence; has_ext[t] says whether step t has
    any. Returns the per-step total derivatives grad_h, grad_c (scaled), dZ (scaled),
    the parameter gradients and dL/dx, dL/dh0, dL/dc0.
    """
    T, B, H = cache.C.shape
    dt = cache.C.dtype
    Kc, K3, Kzo, F = _step_factors(p, cache)
    dZ = np.empty((T, B, 4 * H), dtype=dt)
    dZ3 = dZ.reshape(T, B, 4, H)[:, :, :3]  # view on the [i|f|g] blocks
    dZo = dZ[:, :, 3 * H :]
    G = np.zeros((T + 1, B, 2 * H), dtype=dt)  # row t: [dL/dh_t | dL/dc_t]; row -1 is t = -1
    GH, GC = G[:, :, :H], G[:, :, H:]
    exp = [0] * T
    ext_steps = set(np.flatnonzero(has_ext).tolist())
    tmp = np.empty((B, H), dtype=dt)
    W_hh = p.W_hh
    E = int(ext.exp[T - 1])
    with np.errstate(under="ignore"):
        for t in range(T - 1, -1, -1):
            dh, dc = GH[t], GC[t]  # hold what step t+1 sent back (zero at T-1)
            if t in ext_steps:  # dL/dh_t from outside the recurrence
                e_t, E = align([G[t]], E, ext.values[t], int(ext.exp[t]))
                dh += e_t
            np.multiply(dh, Kc[t], out=tmp)  # backprop through h_t = o ⊙ tanh(c_t)
            dc += tmp
            np.multiply(dc[:, None, :], K3[t], out=dZ3[t])  # through c_t = f c + i g
            np.multiply(dh, Kzo[t], out=dZo[t])  # through o_t
            exp[t] = E
            np.matmul(dZ[t], W_hh, out=GH[t - 1])  # into h_{t-1} through W_hh
            np.multiply(dc, F[t], out=GC[t - 1])  # into c_{t-1} through f (and peepholes)
            E += renormalise(G[t - 1])
    e = np.array(exp, dtype=np.int64)
    grad_h, grad_c = ScaledGrad(GH[:T], e), ScaledGrad(GC[:T], e)
    return _gradients(p, cache, dZ, e, grad_h, grad_c, GH[-1], GC[-1], E)


def _gradients(p, cache, dZ, exp, grad_h, grad_c, dh0, dc0, E) -> dict[str, object]:
    T, B, H = cache.C.shape
    dZ_true = ScaledGrad(dZ, exp).plain()  # (T, B, 4H)
    flat = dZ_true.reshape(-1, 4 * H)
    H_prev = np.concatenate([cache.h0[None], cache.Hs[:-1]])  # (T, B, H) h_{t-1}
    with np.errstate(all="ignore"):  # an exploded gradient is inf: kept as it is
        return {
            "params": _param_grads(p, cache, dZ_true, flat, H_prev),
            # dL/dx_t, in the same per-step scale
            "dX": ScaledGrad((dZ.reshape(T * B, 4 * H) @ p.W_ih).reshape(T, B, -1), exp),
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
        C_prev = np.concatenate([cache.c0[None], cache.C[:-1]])
        grads["w_ci"] = np.einsum("tbh,tbh->h", dZ_true[..., :H], C_prev)
        grads["w_cf"] = np.einsum("tbh,tbh->h", dZ_true[..., H : 2 * H], C_prev)
        grads["w_co"] = np.einsum("tbh,tbh->h", dZ_true[..., 3 * H :], cache.C)
    return grads
