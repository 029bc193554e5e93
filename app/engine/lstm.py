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

from .common import (
    HIGH,
    LOW,
    Clamp,
    LayerParams,
    ScaledGrad,
    align,
    project,
    rescale_exponent,
)


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
    S: np.ndarray  # (T+1, B, 5H) rows [c_{t-1} | i|f|g|o]: A and C are views on it


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
    start: int = 0,
) -> Cache:
    """start: the global index of X[0] (a live run continuing a sequence; see project)."""
    T, B, _ = X.shape
    H = p.W_hh.shape[1]
    dt = X.dtype
    peephole = variant == "peephole"
    W_ih, W_hhT, b, w_ci, w_cf, w_co = _signed(p, H)
    Z = project(X, W_ih, b, start)  # (T, B, 4H) every step's input projection
    # One row per step: S[t] = [c_{t-1} | i_t | f_t | g_t | o_t], so that one product
    # [c_{t-1} | i] * [f | g] gives both terms of c_t, which is written into S[t+1].
    S = np.empty((T + 1, B, 5 * H), dtype=dt)
    S[0, :, :H] = c0
    A, C = S[:T, :, H:], S[1:, :, :H]  # (T, B, 4H) gates [i|f|g|o]; (T, B, H) c_t
    Hx = np.empty((T + 1, B, H), dtype=dt)  # [h0, h_0 .. h_{T-1}]
    Hx[0] = h0
    Hs = Hx[1:]
    TC = np.empty_like(Hs)
    rec = np.empty((B, 4 * H), dtype=dt)
    # B = 1 (every trace): the recurrent product on 1-D rows, where np.dot calls gemv with
    # half of np.matmul's overhead (0.8 against 1.3 us at H = 16)
    mv, H_prev, rec_out = (np.dot, Hx[:T, 0], rec[0]) if B == 1 else (np.matmul, Hx[:T], rec)
    prod = np.empty((B, 2 * H), dtype=dt)
    fc, ig = prod[:, :H], prod[:, H:]
    # per-step views made once: indexing a NumPy array costs as much as a small ufunc call
    steps = zip(
        H_prev, Z, A, Z[..., 2 * H : 3 * H], A[..., 2 * H : 3 * H], A[..., 3 * H :],
        S[:T, :, : 2 * H], S[:T, :, 2 * H : 4 * H], C, TC, Hs, strict=True,
    )  # fmt: skip
    special = variant != "standard" or clamp is not None
    with np.errstate(over="ignore"):
        for t, (h, z, a, zg, ag, ao, ci, fg, c, tc, h_t) in enumerate(steps):
            mv(h, W_hhT, out=rec_out)  # recurrent term
            np.add(z, rec, out=z)
            if peephole:  # i and f look at c_{t-1}
                z[:, :H] += w_ci * ci[:, :H]
                z[:, H : 2 * H] += w_cf * ci[:, :H]
            np.exp(z, out=a)  # e^-z on the sigmoid blocks; may overflow: σ is then 0
            np.add(a, 1.0, out=a)
            np.reciprocal(a, out=a)
            np.tanh(zg, out=ag)
            if special:
                _derive_forget(a, H, variant, clamp, t)
            np.multiply(ci, fg, out=prod)  # c_t = f ⊙ c_{t-1} + i ⊙ g
            np.add(fc, ig, out=c)
            if peephole:  # o looks at c_t, so it is computed after c_t
                z_o = z[:, 3 * H :]
                z_o += w_co * c
                np.reciprocal(1.0 + np.exp(z_o), out=ao)
                if clamp is not None:
                    clamp.apply(t, a)
            np.tanh(c, out=tc)  # h_t = o ⊙ tanh(c_t)
            np.multiply(ao, tc, out=h_t)
    return Cache(X, h0, c0, A, C, Hs, TC, variant, clamp, S)


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
        dc                        = dc_next + dh ⊙ Kc
        [dz_i|dz_f|dz_g|·|dc_prev] = dc ⊙ K5      (block 3 of K5 is 0: dz_o comes next)
        dz_o                      = dh ⊙ Kzo
    """
    A, C, TC, H = cache.A, cache.C, cache.TC, cache.C.shape[2]
    T, B = C.shape[:2]
    i, f, g, o = (A[..., k * H : (k + 1) * H] for k in range(4))
    C_prev = cache.S[:T, :, :H]  # (T, B, H) c_{t-1}
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
    K5 = np.zeros((T, B, 5, H), dtype=C.dtype)  # dz_[i|f|g] / dc, 0, dc_{t-1} / dc_t
    np.multiply(g if coupling is None else g + coupling * C_prev, D_i, out=K5[:, :, 0])
    np.multiply(C_prev, D_f, out=K5[:, :, 1])
    np.multiply(i, D_g, out=K5[:, :, 2])
    K5[:, :, 4] = f
    if p.w_ci is not None:  # the peepholes carry dc on into c_{t-1}
        K5[:, :, 4] += K5[:, :, 0] * p.w_ci + K5[:, :, 1] * p.w_cf
    return Kc, K5, Kzo


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
    Kc, K5, Kzo = _step_factors(p, cache)
    # One row per step: R[t] = [dz_i|dz_f|dz_g|dz_o at t | dL/dc_{t-1} | dL/dh_{t-1}], so that
    # one product dc ⊙ K5 writes dz_[i|f|g] and dc_{t-1} together; row T holds step T-1's
    # (dc, dh) before anything arrived (zeros) and row 0 ends with dL/dc0, dL/dh0.
    R = np.zeros((T + 1, B, 6 * H), dtype=dt)
    dZ = R[:T, :, : 4 * H]
    G = R[:, :, 4 * H :]  # G[t + 1] = [dL/dc_t | dL/dh_t]
    GC, GH = G[:, :, :H], G[:, :, H:]
    exp = [0] * T
    ext_steps = set(np.flatnonzero(has_ext).tolist())
    tmp = np.empty((B, H), dtype=dt)
    W_hh = p.W_hh
    E = int(ext.exp[T - 1])
    back = slice(None, None, -1)  # the loop runs from t = T-1 down to 0
    # rows to measure for renormalisation: 1-D (a @ a is the cheapest sum of squares) for B = 1
    flat = G[:T, 0] if B == 1 else G[:T]
    # and the product into h_{t-1} on 1-D rows too (np.dot: gemv, as in forward)
    mv, dZ_rows, GH_rows = (np.dot, dZ[:, 0], GH[:T, 0]) if B == 1 else (np.matmul, dZ, GH[:T])
    steps = zip(
        range(T - 1, -1, -1), G[1:][back], GC[1:][back], GC[1:, :, None, :][back],
        GH[1:][back], R[:T, :, : 5 * H].reshape(T, B, 5, H)[back], dZ[..., 3 * H :][back],
        dZ_rows[back], GH_rows[back], G[:T][back], flat[back], Kc[back], K5[back], Kzo[back],
        strict=True,
    )  # fmt: skip
    with np.errstate(under="ignore"):
        for t, g, dc, dc_b, dh, dz5, dzo, dz, dh_prev, g_prev, gf, kc, k5, kzo in steps:
            if t in ext_steps:  # dL/dh_t from outside the recurrence
                e_t, E = align([g], E, ext.values[t], int(ext.exp[t]))
                dh += e_t
            np.multiply(dh, kc, out=tmp)  # backprop through h_t = o ⊙ tanh(c_t)
            np.add(dc, tmp, out=dc)
            np.multiply(dc_b, k5, out=dz5)  # through c_t = f c + i g: dz_[i|f|g], dc_{t-1}
            np.multiply(dh, kzo, out=dzo)  # through o_t
            exp[t] = E
            mv(dz, W_hh, out=dh_prev)  # into h_{t-1} through W_hh
            s = gf @ gf if B == 1 else np.vdot(gf, gf)  # renormalise(g_prev), inline
            if not LOW <= s <= HIGH and (k := rescale_exponent(float(s))):
                np.ldexp(g_prev, -k, out=g_prev)
                E += k
    e = np.array(exp, dtype=np.int64)
    grad_h, grad_c = ScaledGrad(GH[1:], e), ScaledGrad(GC[1:], e)
    return _gradients(p, cache, dZ, e, grad_h, grad_c, GH[0], GC[0], E)


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
        C_prev = cache.S[: len(cache.C), :, :H]
        grads["w_ci"] = np.einsum("tbh,tbh->h", dZ_true[..., :H], C_prev)
        grads["w_cf"] = np.einsum("tbh,tbh->h", dZ_true[..., H : 2 * H], C_prev)
        grads["w_co"] = np.einsum("tbh,tbh->h", dZ_true[..., 3 * H :], cache.C)
    return grads
