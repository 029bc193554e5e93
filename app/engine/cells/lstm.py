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

Shapes are time-major: x (T, B, D), states (B, H); the loops work batch last, (.., H, B), so
that each block of a step is one contiguous array and each step one gemm, and the cache
presents (T, B, ..) views. A clamped gate is held at a value and no gradient flows through its
pre-activation (see common.Clamp).

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
from .lstm_grads import gradients


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
    S: np.ndarray  # (T+1, 7, H, B) blocks [c_t | i|f|g|o | tanh c_t | h_t] after step t, row 0
    #                [c0 | . | . | h0]: A, C, TC and Hs are (T, B, ...) views on it


def _signed(p: LayerParams, H: int) -> tuple[np.ndarray, ...]:
    """W_ih, W_hh, b and peepholes with the sigmoid rows negated (exact in floating point).

    The forward loop then holds -z for i, f, o and +z for g, so every gate costs one exp (or
    tanh) and σ(z) = 1/(1 + e^-z) comes out bit for bit as PyTorch computes it, tiny gates too.
    Peepholes come as columns (H, 1), to broadcast over the batch.
    """
    sign = np.full(4 * H, -1.0, dtype=p.W_ih.dtype)
    sign[2 * H : 3 * H] = 1.0
    b = (p.b_ih + p.b_hh) * sign
    neg = [None if w is None else -w[:, None] for w in (p.w_ci, p.w_cf, p.w_co)]
    return p.W_ih * sign[:, None], p.W_hh * sign[:, None], b, *neg


# np.dot without its __array_function__ dispatch (0.23 against 0.38 us a call at H = 16): the
# engine passes plain ndarrays only
_dot = getattr(np.dot, "_implementation", np.dot)
_copyto = getattr(np.copyto, "_implementation", np.copyto)


def _batch_last(a: np.ndarray, ws: Scratch | None, name: str) -> np.ndarray:
    """(T, B, N) -> (T, N, B), the layout of the loops (a view when B = 1)."""
    out = a.transpose(0, 2, 1)
    if a.shape[1] == 1:
        return out
    kept = np.empty(out.shape, a.dtype) if ws is None else scratch(ws, name, out.shape, a.dtype)
    np.copyto(kept, out)
    return kept


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
    W_ih, W_hh, b, w_ci, w_cf, w_co = _signed(p, H)
    Z = _batch_last(project(X, W_ih, b, start, ws), ws, "Z")  # (T, 4H, B) input projections
    # The loops work batch last, (.., H, B): every block of a step is then one contiguous
    # array, for one batch row (a trace) and for many (training). The step works in one fixed
    # row w = [c | i | f | g | o | tanh c | h] (7, H, B) and ends by copying it into S[t+1]:
    # every operand is a view made once (making a view per operand per step cost as much as
    # the arithmetic at small H), and one product [c_{t-1} | i] * [f | g] gives both terms of
    # c_t. S[0] holds c0 and h0.
    if ws is None:
        S = np.zeros((T + 1, 7, H, B), dtype=dt)
    else:
        S = scratch(ws, "S", (T + 1, 7, H, B), dt)
        S[0] = 0.0  # every later row is written whole
    S[0, 0], S[0, 6] = c0.T, h0.T
    w = S[0].copy()
    a, ag, ao = w[1:5], w[3], w[4]  # gates [i|f|g|o]
    a_rows = a.reshape(4 * H, B).T  # (B, 4H): the clamps' layout
    ci, fg, c, tc, h = w[:2], w[2:4], w[0], w[5], w[6]
    z = np.empty((4, H, B), dtype=dt)  # pre-activations (negated on the sigmoid blocks)
    zg, zo = z[2], z[3]
    rec = np.empty((4, H, B), dtype=dt)
    prod = np.empty((2, H, B), dtype=dt)
    fc, ig = prod
    # the recurrent product: for B = 1 (every trace) h @ W_hh^T on 1-D rows, where np.dot
    # calls gemv with a third of np.matmul's overhead; else W_hh @ h, one gemm
    if B == 1:
        mv, left, right = _dot, h.reshape(H), np.ascontiguousarray(W_hh.T)
    else:
        mv, left, right = np.matmul, W_hh, h
    rec_out = rec.reshape(4 * H) if B == 1 else rec.reshape(4 * H, B)
    zx_rows = Z.reshape(T, 4, H, B)
    one = dt.type(1.0)  # a NumPy scalar: a Python float is converted on every call
    special = variant != "standard" or clamp is not None
    with np.errstate(over="ignore"):
        for t, (zx, row) in enumerate(zip(zx_rows, S[1:], strict=True)):
            mv(left, right, out=rec_out)  # recurrent term
            np.add(zx, rec, out=z)
            if peephole:  # i and f look at c_{t-1}
                z[0] += w_ci * c
                z[1] += w_cf * c
            np.exp(z, out=a)  # e^-z on the sigmoid blocks; may overflow: σ is then 0
            np.add(a, one, out=a)
            np.reciprocal(a, out=a)
            np.tanh(zg, out=ag)
            if special:
                _derive_forget(a, a_rows, variant, clamp, t)
            np.multiply(ci, fg, out=prod)  # c_t = f ⊙ c_{t-1} + i ⊙ g
            np.add(fc, ig, out=c)
            if peephole:  # o looks at c_t, so it is computed after c_t
                zo += w_co * c
                np.reciprocal(1.0 + np.exp(zo), out=ao)
                if clamp is not None:
                    clamp.apply(t, a_rows)
            np.tanh(c, out=tc)  # h_t = o ⊙ tanh(c_t)
            np.multiply(ao, tc, out=h)
            _copyto(row, w)
    A = S[1:, 1:5].transpose(0, 3, 1, 2).reshape(T, B, 4 * H)  # a view: blocks and units merge
    C, TC, Hs = (S[1:, k].transpose(0, 2, 1) for k in (0, 5, 6))
    return Cache(X, h0, c0, A, C, Hs, TC, variant, clamp, S)


def _derive_forget(
    a: np.ndarray, a_rows: np.ndarray, variant: str, clamp: Clamp | None, t: int
) -> None:
    """Apply clamps, then the variant's forget gate (held entries of f are re-applied).
    a: the gates (4, H, B); a_rows: the same numbers as (B, 4H), the clamps' layout."""
    if clamp is not None:
        clamp.apply(t, a_rows)
    if variant == "no_forget_gate":
        a[1] = 1.0
    elif variant == "coupled":
        np.subtract(1.0, a[0], out=a[1])
    else:
        return
    if clamp is not None:
        clamp.apply(t, a_rows)


FACTOR_STEPS = 256  # the backward's step factors are made for this many steps at a time...
FACTOR_BYTES = 1 << 22  # ...or fewer, with a batch: a block of factors stays in the cache


def _step_factors(
    p: LayerParams, cache: Cache, lo: int, hi: int, ws: Scratch | None = None
) -> np.ndarray:
    """Every step-local factor of the backward pass for steps lo..hi-1, in one array M.

    One step of BPTT is linear in what arrives at step t: u = [dc_t from step t+1 | dh_t].
    M[t] (2, 6, H, B) is that map, so one product and one sum give every quantity of the step:
        dc_t (total)  = dc_next      + dh ⊙ Kc             (through h_t = o ⊙ tanh(c_t))
        dz_[i|f|g]    = dc_next ⊙ K3 + dh ⊙ (Kc ⊙ K3)      (through c_t = f c + i g)
        dz_o          =                dh ⊙ Kzo
        dc_{t-1}      = dc_next ⊙ F  + dh ⊙ (Kc ⊙ F)       (through f, and the peepholes)
    """
    S = cache.S
    A, C, TC = S[lo + 1 : hi + 1, 1:5], S[lo + 1 : hi + 1, 0], S[lo + 1 : hi + 1, 5]
    i, f, g, o = (A[:, k] for k in range(4))
    C_prev = S[lo:hi, 0]  # c_{t-1}
    n, _, H, B = A.shape
    D = np.empty_like(A) if ws is None else scratch(ws, "D", A.shape, A.dtype)
    np.subtract(1.0, A, out=D)  # σ' = a(1 - a) on the sigmoid blocks
    D *= A
    D_i, D_f, D_g, D_o = (D[:, k] for k in range(4))
    np.multiply(g, g, out=D_g)  # tanh' = 1 - g² on the g block
    np.subtract(1.0, D_g, out=D_g)
    if cache.variant in ("no_forget_gate", "coupled"):
        D_f[...] = 0.0  # f is not a function of z_f
    coupling = None
    if cache.variant == "coupled":  # f = 1 - i: df flows into i, unless f itself is held
        coupling = np.full_like(C, -1.0)
    if cache.clamp is not None:
        held = cache.clamp.mask[lo:hi].reshape(n, 4, H, 1)
        D *= ~held  # held gates pass no gradient to their inputs
        if coupling is not None:
            coupling *= ~held[:, 1]
    shape = (n, 2, 6, H, B)
    fresh = ws is None or ("M", shape, C.dtype) not in ws  # a kept M has its constants
    M = np.empty(shape, dtype=C.dtype) if ws is None else scratch(ws, "M", shape, C.dtype)
    dc, dh = M[:, 0], M[:, 1]  # (n, 6, H, B): the factors of dc_next and of dh
    np.multiply(TC, D_o, out=dh[:, 4])  # Kzo = dz_o / dh
    Kc = dh[:, 0]  # dc_t / dh_t
    np.multiply(TC, TC, out=Kc)
    np.subtract(1.0, Kc, out=Kc)
    Kc *= o
    if p.w_co is not None:
        Kc += dh[:, 4] * p.w_co[:, None]  # and through the output peephole
    if fresh:
        dc[:, 0] = 1.0
        dc[:, 4] = 0.0
    np.multiply(g if coupling is None else g + coupling * C_prev, D_i, out=dc[:, 1])  # K3
    np.multiply(C_prev, D_f, out=dc[:, 2])
    np.multiply(i, D_g, out=dc[:, 3])
    dc[:, 5] = f  # F = dc_{t-1} / dc_t
    if p.w_ci is not None and p.w_cf is not None:  # the peepholes carry dc into c_{t-1}
        dc[:, 5] += dc[:, 1] * p.w_ci[:, None] + dc[:, 2] * p.w_cf[:, None]
    if ws is None:  # the lean loop takes the factors one by one (see backward)
        np.multiply(Kc[:, None], dc[:, 1:4], out=dh[:, 1:4])
        np.multiply(Kc, dc[:, 5], out=dh[:, 5])
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
    # One row per step, batch last as in the forward pass: R[t] (7, H, B) = [dc_t (total) |
    # dz_i|dz_f|dz_g|dz_o at t | dc_{t-1} | dh_{t-1}] where dc_{t-1} is what step t sends back
    # (its total adds dh_{t-1}'s share at t-1). Row T holds what step T-1 receives (zeros),
    # row 0 ends with dL/dc0, dL/dh0.
    if ws is None:
        R = np.zeros((T + 1, 7, H, B), dtype=dt)
    else:
        R = scratch(ws, "R", (T + 1, 7, H, B), dt)
        R[T] = 0.0  # every other row is written before it is read
    exp = [0] * T
    E = int(ext.exp[T - 1])
    # B = 1 (every trace): 1-D rows, where np.dot is a gemv and a @ a the cheapest sum of
    # squares (see forward); else one gemm per step
    if B == 1:
        mv, sumsq, W, rows = _dot, _dot, p.W_hh, R.reshape(T + 1, 7 * H)
        dZ_rows, dH_rows, U_rows = rows[:, H : 5 * H], rows[:, 6 * H :], rows[:, 5 * H :]
    else:
        mv, sumsq, W = _matmul_left, np.vdot, p.W_hh.T
        dZ_rows, dH_rows, U_rows = R[:, 1:5].reshape(T + 1, 4 * H, B), R[:, 6], R[:, 5:]
    steps_per_block = FACTOR_STEPS if B == 1 else max(1, FACTOR_BYTES // _step_bytes(H, B, dt))
    back = slice(None, None, -1)
    for hi in range(T, 0, -steps_per_block):  # blocks of steps from the end
        lo = max(0, hi - steps_per_block)
        M = _step_factors(p, cache, lo, hi, ws)
        if ws is None:
            E = _trace_block(lo, hi, M, R, U_rows, dZ_rows, dH_rows, W, mv, sumsq, ext, has_ext,
                             exp, E)  # fmt: skip
            continue
        # lean: the factors one by one, five products a step against the one-product form's
        # eighteen (which saves Python calls: they matter for one batch row, not for a batch)
        steps = zip(
            R[lo:hi][back], R[lo + 1 : hi + 1, 5][back], R[lo + 1 : hi + 1, 6][back],
            M[back, 1, 0], M[back, 0, 1:4], M[back, 1, 4], M[back, 0, 5],
            dZ_rows[lo:hi][back], dH_rows[lo:hi][back], range(hi - 1, lo - 1, -1), strict=True,
        )  # fmt: skip
        for q, dc_next, dh, Kc, K3, Kzo, F, dz, dh_prev, t in steps:
            if has_ext[t]:  # dL/dh_t from outside the recurrence (unscaled in the lean mode)
                dh += ext.values[t].T
            dc = q[0]
            np.multiply(dh, Kc, out=dc)  # dc_t = dc_next + dh ⊙ Kc
            dc += dc_next
            np.multiply(dc, K3, out=q[1:4])  # dz_[i|f|g] = dc_t ⊙ K3
            np.multiply(dh, Kzo, out=q[4])  # dz_o = dh ⊙ Kzo
            np.multiply(dc, F, out=q[5])  # dc_{t-1} as sent
            mv(dz, W, out=dh_prev)  # into h_{t-1} through W_hh
    e = np.array(exp, dtype=np.int64)
    grad_h = ScaledGrad(R[1:, 6].transpose(0, 2, 1), e)
    grad_c = ScaledGrad(R[:T, 0].transpose(0, 2, 1), e)
    dZ = R[:T, 1:5].transpose(0, 3, 1, 2).reshape(T, B, 4 * H)  # a view, as the forward's A
    dh0, dc0 = R[0, 6].T, R[0, 5].T
    return gradients(p, cache, dZ, e, grad_h, grad_c, dh0, dc0, E, ws)


def _trace_block(lo, hi, M, R, U_rows, dZ_rows, dH_rows, W, mv, sumsq, ext, has_ext, exp, E):
    """Steps hi-1 down to lo of the trace's backward: one product with M[t] and one sum per
    step, the carried gradient renormalised by powers of two. Returns the carried exponent."""
    U = R[:, 5:]  # U[t + 1] = [dc_t received | dh_t]: what step t multiplies
    back = slice(None, None, -1)
    prod = np.empty(M.shape[1:], dtype=R.dtype)
    from_dc, from_dh = prod
    steps = zip(
        range(hi - 1, lo - 1, -1), U[lo + 1 : hi + 1, :, None][back], M[back],
        R[lo:hi, :6][back], dZ_rows[lo:hi][back], dH_rows[lo:hi][back], U[lo:hi][back],
        U_rows[lo:hi][back], strict=True,
    )  # fmt: skip
    with np.errstate(under="ignore"):
        for t, u, m, q, dz, dh_prev, u_prev, uf in steps:
            if has_ext[t]:  # dL/dh_t from outside the recurrence
                e_t, E = align([U[t + 1]], E, ext.values[t].T, int(ext.exp[t]))
                U[t + 1, 1] += e_t
            np.multiply(u, m, out=prod)
            np.add(from_dc, from_dh, out=q)  # dc_t, dz_t, dc_{t-1}
            exp[t] = E
            mv(dz, W, out=dh_prev)  # into h_{t-1} through W_hh
            s = sumsq(uf, uf)  # renormalise(u_prev), inline
            if not LOW <= s <= HIGH and (k := rescale_exponent(float(s))):
                np.ldexp(u_prev, -k, out=u_prev)
                E += k
    return E


def _step_bytes(H: int, B: int, dt: np.dtype) -> int:
    """The bytes of one step's factors M[t]."""
    return 12 * H * B * dt.itemsize


def _matmul_left(dz: np.ndarray, W_T: np.ndarray, out: np.ndarray) -> None:
    """dh_{t-1} (H, B) = W_hh^T dz_t: the batched case of np.dot(dz, W_hh) on rows."""
    np.matmul(W_T, dz, out=out)
