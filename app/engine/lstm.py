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

Two modes, one set of equations: a trace (ws None) keeps every array it makes and carries the
backward's gradient in power-of-two scales (common.ScaledGrad); training's lean mode (ws, a
common.Scratch per layer) reuses its arrays from step to step and leaves the scales at 2^0.
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
    Scratch,
    align,
    project,
    rescale_exponent,
    scratch,
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
    S: np.ndarray  # (T+1, B, 7H) rows [c_t | i|f|g|o | tanh c_t | h_t] after step t, row 0
    #                [c0 | . | . | h0]: A, C, TC and Hs are views on it


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


# np.dot without its __array_function__ dispatch (0.23 against 0.38 us a call at H = 16): the
# engine passes plain ndarrays only
_dot = getattr(np.dot, "_implementation", np.dot)
_copyto = getattr(np.copyto, "_implementation", np.copyto)


def forward(
    p: LayerParams,
    X: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    variant: str = "standard",
    clamp: Clamp | None = None,
    start: int = 0,
    ws: Scratch | None = None,
) -> Cache:
    """start: the global index of X[0] (a live run continuing a sequence; see project);
    ws: training's lean mode (see the module docstring)."""
    T, B, _ = X.shape
    H = p.W_hh.shape[1]
    dt = X.dtype
    peephole = variant == "peephole"
    W_ih, W_hhT, b, w_ci, w_cf, w_co = _signed(p, H)
    Z = project(X, W_ih, b, start, ws)  # (T, B, 4H) every step's input projection
    # The step works in one fixed row w = [c | i | f | g | o | tanh c | h] and ends by copying
    # it into S[t+1]: every operand is a view made once (making a view per operand per step
    # cost as much as the arithmetic at small H), and one product [c_{t-1} | i] * [f | g]
    # gives both terms of c_t. S[0] holds c0 and h0.
    if ws is None:
        S = np.zeros((T + 1, B, 7 * H), dtype=dt)
    else:
        S = scratch(ws, "S", (T + 1, B, 7 * H), dt)
        S[0] = 0.0  # every later row is written whole
    S[0, :, :H], S[0, :, 6 * H :] = c0, h0
    w = S[0].copy()
    a, ag, ao = w[:, H : 5 * H], w[:, 3 * H : 4 * H], w[:, 4 * H : 5 * H]  # gates [i|f|g|o]
    ci, fg, c, tc, h = (
        w[:, : 2 * H],
        w[:, 2 * H : 4 * H],
        w[:, :H],
        w[:, 5 * H : 6 * H],
        w[:, 6 * H :],
    )
    z = np.empty((B, 4 * H), dtype=dt)  # pre-activations (negated on the sigmoid blocks)
    zg, zo = z[:, 2 * H : 3 * H], z[:, 3 * H :]
    rec = np.empty((B, 4 * H), dtype=dt)
    prod = np.empty((B, 2 * H), dtype=dt)
    fc, ig = prod[:, :H], prod[:, H:]
    # B = 1 (every trace): the recurrent product on 1-D rows, where np.dot calls gemv with a
    # third of np.matmul's overhead
    mv, h_in, rec_out = (_dot, w[0, 6 * H :], rec[0]) if B == 1 else (np.matmul, h, rec)
    one = dt.type(1.0)  # a NumPy scalar: a Python float is converted on every call
    special = variant != "standard" or clamp is not None
    with np.errstate(over="ignore"):
        for t, (zx, row) in enumerate(zip(Z, S[1:], strict=True)):
            mv(h_in, W_hhT, out=rec_out)  # recurrent term
            np.add(zx, rec, out=z)
            if peephole:  # i and f look at c_{t-1}
                z[:, :H] += w_ci * c
                z[:, H : 2 * H] += w_cf * c
            np.exp(z, out=a)  # e^-z on the sigmoid blocks; may overflow: σ is then 0
            np.add(a, one, out=a)
            np.reciprocal(a, out=a)
            np.tanh(zg, out=ag)
            if special:
                _derive_forget(a, H, variant, clamp, t)
            np.multiply(ci, fg, out=prod)  # c_t = f ⊙ c_{t-1} + i ⊙ g
            np.add(fc, ig, out=c)
            if peephole:  # o looks at c_t, so it is computed after c_t
                zo += w_co * c
                np.reciprocal(1.0 + np.exp(zo), out=ao)
                if clamp is not None:
                    clamp.apply(t, a)
            np.tanh(c, out=tc)  # h_t = o ⊙ tanh(c_t)
            np.multiply(ao, tc, out=h)
            _copyto(row, w)
    A, C = S[1:, :, H : 5 * H], S[1:, :, :H]  # (T, B, 4H) gates [i|f|g|o]; (T, B, H) c_t
    TC, Hs = S[1:, :, 5 * H : 6 * H], S[1:, :, 6 * H :]
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


FACTOR_STEPS = 256  # the backward's step factors are made for this many steps at a time


def _step_factors(
    p: LayerParams, cache: Cache, lo: int, hi: int, ws: Scratch | None = None
) -> np.ndarray:
    """Every step-local factor of the backward pass for steps lo..hi-1, in one array M.

    One step of BPTT is linear in what arrives at step t: u = [dc_t from step t+1 | dh_t].
    M[t] (B, 2, 6, H) is that map, so one product and one sum give every quantity of the step:
        dc_t (total)  = dc_next      + dh ⊙ Kc             (through h_t = o ⊙ tanh(c_t))
        dz_[i|f|g]    = dc_next ⊙ K3 + dh ⊙ (Kc ⊙ K3)      (through c_t = f c + i g)
        dz_o          =                dh ⊙ Kzo
        dc_{t-1}      = dc_next ⊙ F  + dh ⊙ (Kc ⊙ F)       (through f, and the peepholes)
    """
    H = cache.C.shape[2]
    A, C, TC = cache.A[lo:hi], cache.C[lo:hi], cache.TC[lo:hi]
    i, f, g, o = (A[..., k * H : (k + 1) * H] for k in range(4))
    C_prev = cache.S[lo:hi, :, :H]  # c_{t-1}
    n, B = hi - lo, C.shape[1]
    D = np.empty_like(A) if ws is None else scratch(ws, "D", A.shape, A.dtype)
    np.subtract(1.0, A, out=D)  # σ' = a(1 - a) on the sigmoid blocks
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
        D *= ~cache.clamp.mask[lo:hi, None, :]  # held gates pass no gradient to their inputs
        if coupling is not None:
            coupling *= ~cache.clamp.mask[lo:hi, None, H : 2 * H]
    shape = (n, B, 2, 6, H)
    fresh = ws is None or ("M", shape, C.dtype) not in ws  # a kept M has its constants
    M = np.empty(shape, dtype=C.dtype) if ws is None else scratch(ws, "M", shape, C.dtype)
    dc, dh = M[:, :, 0], M[:, :, 1]  # (n, B, 6, H): the factors of dc_next and of dh
    np.multiply(TC, D_o, out=dh[:, :, 4])  # Kzo = dz_o / dh
    Kc = dh[:, :, 0]  # dc_t / dh_t
    np.multiply(TC, TC, out=Kc)
    np.subtract(1.0, Kc, out=Kc)
    Kc *= o
    if p.w_co is not None:
        Kc += dh[:, :, 4] * p.w_co  # and through the output peephole
    if fresh:
        dc[:, :, 0] = 1.0
        dc[:, :, 4] = 0.0
    np.multiply(g if coupling is None else g + coupling * C_prev, D_i, out=dc[:, :, 1])  # K3
    np.multiply(C_prev, D_f, out=dc[:, :, 2])
    np.multiply(i, D_g, out=dc[:, :, 3])
    dc[:, :, 5] = f  # F = dc_{t-1} / dc_t
    if p.w_ci is not None:  # the peepholes carry dc on into c_{t-1}
        dc[:, :, 5] += dc[:, :, 1] * p.w_ci + dc[:, :, 2] * p.w_cf
    for k in (1, 2, 3, 5):  # one product each: cheaper than broadcasting Kc over three
        np.multiply(Kc, dc[:, :, k], out=dh[:, :, k])
    return M


def backward(
    p: LayerParams,
    cache: Cache,
    ext: ScaledGrad,
    has_ext: np.ndarray,
    ws: Scratch | None = None,
) -> dict[str, object]:
    """BPTT given the external gradient dL/dh_t (from the loss or the layer above).

    ext holds dL/dh_t arriving from outside the recurrence; has_ext[t] says whether step t has
    any. Returns the per-step total derivatives grad_h, grad_c (scaled), dZ (scaled),
    the parameter gradients and dL/dx, dL/dh0, dL/dc0. ws: the lean mode, which does not
    renormalise (so ext must be unscaled; the scales stay 2^0) and reuses its arrays.
    """
    T, B, H = cache.C.shape
    dt = cache.C.dtype
    # One row per step: R[t] = [dc_t (total) | dz_i|dz_f|dz_g|dz_o at t | dc_{t-1} | dh_{t-1}]
    # where dc_{t-1} is what step t sends back (its total adds dh_{t-1}'s share at t-1). Row T
    # holds what step T-1 receives (zeros), row 0 ends with dL/dc0, dL/dh0.
    if ws is None:
        R = np.zeros((T + 1, B, 7 * H), dtype=dt)
    else:
        R = scratch(ws, "R", (T + 1, B, 7 * H), dt)
        R[T] = 0.0  # every other row is written before it is read
    U = R[:, :, 5 * H :]  # U[t + 1] = [dc_t received | dh_t]: what step t multiplies
    U4 = U.reshape(T + 1, B, 2, 1, H)  # the same, shaped to broadcast against M[t]
    Q = R[:, :, : 6 * H].reshape(T + 1, B, 6, H)  # what step t writes
    prod = np.empty((B, 2, 6, H), dtype=dt)
    from_dc, from_dh = prod[:, 0], prod[:, 1]
    exp = [0] * T
    ext_steps = set(np.flatnonzero(has_ext).tolist())
    W_hh = p.W_hh
    E = int(ext.exp[T - 1])
    # B = 1 (every trace): 1-D rows, where np.dot is a gemv and a @ a the cheapest sum of
    # squares (see forward)
    mv, sumsq, rows = (_dot, _dot, R[:, 0]) if B == 1 else (np.matmul, np.vdot, R)
    dZ_rows, dH_rows, U_rows = rows[..., H : 5 * H], rows[..., 6 * H :], rows[..., 5 * H :]
    back = slice(None, None, -1)
    with np.errstate(under="ignore"):
        for hi in range(T, 0, -FACTOR_STEPS):  # blocks of steps from the end, factors per block
            lo = max(0, hi - FACTOR_STEPS)
            M = _step_factors(p, cache, lo, hi, ws)
            steps = zip(
                range(hi - 1, lo - 1, -1), U4[lo + 1 : hi + 1][back], M[back],
                Q[lo:hi][back], dZ_rows[lo:hi][back], dH_rows[lo:hi][back], U[lo:hi][back],
                U_rows[lo:hi][back], strict=True,
            )  # fmt: skip
            for t, u, m, q, dz, dh_prev, u_prev, uf in steps:
                if t in ext_steps:  # dL/dh_t from outside the recurrence
                    e_t, E = align([U[t + 1]], E, ext.values[t], int(ext.exp[t]))
                    U[t + 1, :, H:] += e_t
                np.multiply(u, m, out=prod)
                np.add(from_dc, from_dh, out=q)  # dc_t, dz_t, dc_{t-1}
                exp[t] = E
                mv(dz, W_hh, out=dh_prev)  # into h_{t-1} through W_hh
                if ws is not None:  # lean: no scales to keep
                    continue
                s = sumsq(uf, uf)  # renormalise(u_prev), inline
                if not LOW <= s <= HIGH and (k := rescale_exponent(float(s))):
                    np.ldexp(u_prev, -k, out=u_prev)
                    E += k
    e = np.array(exp, dtype=np.int64)
    grad_h, grad_c = ScaledGrad(R[1:, :, 6 * H :], e), ScaledGrad(R[:T, :, :H], e)
    dZ = R[:T, :, H : 5 * H]
    dh0, dc0 = R[0, :, 6 * H :], R[0, :, 5 * H : 6 * H]
    return _gradients(p, cache, dZ, e, grad_h, grad_c, dh0, dc0, E, ws)


def _gradients(p, cache, dZ, exp, grad_h, grad_c, dh0, dc0, E, ws=None) -> dict[str, object]:
    T, B, H = cache.C.shape
    dZ_true = ScaledGrad(dZ, exp).plain()  # (T, B, 4H)
    if ws is None:
        flat = dZ_true.reshape(-1, 4 * H)  # a copy: dZ is a view on the backward's rows
    else:  # the same copy, into a kept array (unscaled: dZ_true is dZ)
        flat = scratch(ws, "flat", (T * B, 4 * H), dZ.dtype)
        np.copyto(flat.reshape(T, B, 4 * H), dZ_true)
    scaled = dZ.reshape(T * B, 4 * H) if exp.any() else flat  # the same numbers when unscaled
    H_prev = cache.S[:T, :, 6 * H :]  # (T, B, H) h_{t-1}
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
        C_prev = cache.S[: len(cache.C), :, :H]
        grads["w_ci"] = np.einsum("tbh,tbh->h", dZ_true[..., :H], C_prev)
        grads["w_cf"] = np.einsum("tbh,tbh->h", dZ_true[..., H : 2 * H], C_prev)
        grads["w_co"] = np.einsum("tbh,tbh->h", dZ_true[..., 3 * H :], cache.C)
    return grads
