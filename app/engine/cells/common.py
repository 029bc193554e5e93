"""Shared pieces of the cell modules: layer parameters, gate clamps and gradient scaling.

Gradient scaling. Backpropagation through a long sequence multiplies the carried gradient by
one Jacobian per step; for a tanh RNN it falls like gain^k and reaches 1e-500 within a couple
of thousand steps, far below float64's range (and float32 turns subnormal near 1e-38, where
arithmetic slows several-fold). So the backward pass carries `(values, E)` with the true
gradient equal to `values * 2**E`, and whenever the carried values leave [2^-16, 2^16] it
rescales them by an exact power of two and adjusts E. Multiplying by a power of two is exact in
binary floating point, so nothing is lost; log10 norms stay exact at any depth.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

LOW, HIGH = 2.0**-32, 2.0**32  # bounds on the summed squares of the carried gradient


PROJ_STEPS = 64  # the input projection runs in blocks of this many steps (see project)

Scratch = dict  # training's lean mode: (name, shape, dtype) -> an array reused across steps


def scratch(ws: Scratch, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised array kept in ws and handed out again on the next training step.

    Fresh arrays of a few hundred kB cost a page fault per page on every step (glibc hands
    them back to the OS), which made a training step several times slower than its
    arithmetic; a trace is computed once, so only the lean mode keeps its buffers."""
    key = (name, shape, np.dtype(dtype))
    if key not in ws:
        ws[key] = np.empty(shape, dtype=dtype)
    return ws[key]


def project(
    X: np.ndarray, W: np.ndarray, b: np.ndarray, start: int = 0, ws: Scratch | None = None
) -> np.ndarray:
    """X (T, B, D) @ W.T + b for every step, in blocks of PROJ_STEPS steps aligned to step 0.

    BLAS sums in an order that depends on the product's shape and on a row's place in it, so
    one flattened product would give a step other last bits than a product over that step
    alone. Here every block is one product of the same shape (PROJ_STEPS*B, D) @ (D, N), with
    a step always in the same row of its block (`start` is the global index of X[0]; partial
    blocks are zero-padded). A run fed one step at a time (live mode) therefore gets bit for
    bit what the whole-sequence run gets, at the speed of large products (the per-step (B, D)
    products this replaces took 2.7x as long at H = 256).

    ws (training's lean mode): one product over all steps into a reused buffer; training has
    no live run to agree with bit for bit.
    """
    T, B, D = X.shape
    if ws is not None:
        out = scratch(ws, "project", (T, B, W.shape[0]), X.dtype)
        np.matmul(X.reshape(T * B, D), W.T, out=out.reshape(T * B, -1))
        out += b
        return out
    K, WT = PROJ_STEPS, W.T
    out = np.empty((T, B, W.shape[0]), dtype=X.dtype)
    t = 0
    while t < T:
        lo = (start + t) % K  # the step's row in its block
        n = min(K - lo, T - t)
        if n == K:
            np.matmul(X[t : t + K].reshape(K * B, D), WT, out=out[t : t + K].reshape(K * B, -1))
        else:
            block = np.zeros((K, B, D), dtype=X.dtype)
            block[lo : lo + n] = X[t : t + n]
            out[t : t + n] = (block.reshape(K * B, D) @ WT).reshape(K, B, -1)[lo : lo + n]
        t += n
    out += b
    return out


@dataclass
class LayerParams:
    W_ih: np.ndarray  # (G*H, D)
    W_hh: np.ndarray  # (G*H, H)
    b_ih: np.ndarray  # (G*H,)
    b_hh: np.ndarray  # (G*H,)
    w_ci: np.ndarray | None = None  # (H,) peephole weights (Gers 2002), LSTM peephole only
    w_cf: np.ndarray | None = None
    w_co: np.ndarray | None = None
    W_hr: np.ndarray | None = None  # (P, H) LSTM projection (proj_size), h = W_hr (o ⊙ tanh c)


@dataclass
class Clamp:
    """Gates held at fixed values in one layer: (T, G*H) arrays aligned with the gate blocks."""

    mask: np.ndarray  # (T, G*H) bool, True where the gate is held
    value: np.ndarray  # (T, G*H) the held value where mask is True
    steps: frozenset[int]  # the t with any held gate (the forward loop checks only these)

    def apply(self, t: int, a: np.ndarray) -> None:
        """Overwrite the held entries of the activations a (B, G*H) at step t."""
        if t in self.steps:
            np.copyto(a, self.value[t], where=self.mask[t])


@dataclass
class ScaledGrad:
    """Per-step gradients stored as values * 2**exp[t] (see the module docstring)."""

    values: np.ndarray  # (T, B, N)
    exp: np.ndarray  # (T,) int64

    def plain(self) -> np.ndarray:
        """The true values; they may underflow to 0 or overflow to inf in the dtype.

        Multiplying by the float64 2**exp[t] gives exactly np.ldexp's answer (one correctly
        rounded operation; for float32 the product is exact in float64 first). Rows whose
        2**exp is not a normal float64 fall back to np.ldexp.
        """
        e = self.exp
        if not e.any():  # nothing was rescaled (the usual case over short sequences)
            return self.values
        fits = np.abs(e) <= 1000
        out = np.empty_like(self.values)
        # In blocks of rows, so the server's event loop gets the GIL between blocks: one call
        # over the largest trace's 4 million numbers held it for ~0.15 s.
        rows = max(1, 2**16 // max(1, self.values[0].size))
        with np.errstate(over="ignore", under="ignore"):
            scale = np.ldexp(1.0, np.where(fits, e, 0).astype(np.int32))  # (T,) float64
            for t in range(0, len(e), rows):
                block = self.values[t : t + rows] * scale[t : t + rows, None, None]
                out[t : t + rows] = block  # float32: one rounding of the exact product
            if not fits.all():
                far = np.flatnonzero(~fits)
                out[far] = np.ldexp(self.values[far], e[far, None, None].astype(np.int32))
        return out


def renormalise(*arrays: np.ndarray) -> int:
    """Rescale the arrays in place by 2**-k so their joint norm is near 1; return k."""
    s = 0.0
    for a in arrays:
        s += float(np.vdot(a, a))
    k = rescale_exponent(s)
    if k:
        for a in arrays:
            np.ldexp(a, -k, out=a)
    return k


def rescale_exponent(s: float) -> int:
    """The k of renormalise for a summed square s: 0 while s is in range (or 0, or not finite).

    A loop can test `LOW <= s <= HIGH` inline and call this only outside the range."""
    if LOW <= s <= HIGH or s == 0.0 or not math.isfinite(s):
        return 0
    return math.frexp(math.sqrt(s))[1]


def align(carried: list[np.ndarray], E: int, ext: np.ndarray, e: int) -> tuple[np.ndarray, int]:
    """Bring an external gradient (ext * 2**e) to the carried scale 2**E, or the reverse.

    Returns ext in the common scale and the common exponent; the carried arrays are rescaled
    in place when the external term is the larger one.
    """
    with np.errstate(under="ignore"):
        if e > E:
            for a in carried:
                np.ldexp(a, E - e, out=a)
            return ext, e
        if e < E:
            return np.ldexp(ext, e - E), E
    return ext, E


def carry_h_back(
    grad_h: np.ndarray,
    ext: ScaledGrad,
    has_ext: np.ndarray,
    rescale: bool,
    step: Callable[[int, np.ndarray, np.ndarray], None],
) -> tuple[np.ndarray, np.ndarray, int]:
    """The backward loop of a cell that carries only h (RNN, GRU), from t = T-1 down to 0.

    grad_h[t] (T, B, H) receives dL/dh_t: the carried gradient plus the external one (ext,
    where has_ext[t]); then step(t, grad_h[t], dh_next) writes dL/dh_{t-1} into dh_next.
    Returns (exp, dh_next, E): grad_h[t] is in the scale 2**exp[t], dh_next (dL/dh0) in 2**E.
    rescale=False (training's lean mode) keeps the scale where the external gradient puts it."""
    T, B, H = grad_h.shape
    exp = np.zeros(T, dtype=np.int64)
    dh_next = np.zeros((B, H), dtype=grad_h.dtype)
    E = int(ext.exp[T - 1])
    with np.errstate(under="ignore"):
        for t in reversed(range(T)):
            dh = grad_h[t]
            dh[...] = dh_next
            if has_ext[t]:
                e_t, E = align([dh], E, ext.values[t], int(ext.exp[t]))
                dh += e_t
            exp[t] = E
            step(t, dh, dh_next)
            if rescale:
                E += renormalise(dh_next)
    return exp, dh_next, E


def h_only_grads(
    params: dict[str, np.ndarray],
    dX: ScaledGrad,
    grad_h: np.ndarray,
    exp: np.ndarray,
    dh0: np.ndarray,
    E: int,
) -> dict[str, Any]:
    """The result of backward for a cell without a cell state (see lstm.backward)."""
    return {
        "params": params,
        "dX": dX,
        "grad_h": ScaledGrad(grad_h, exp),
        "grad_c": None,
        "dh0": np.ldexp(dh0, E),
        "dc0": None,
    }


def add_scaled(a: ScaledGrad, b: ScaledGrad) -> ScaledGrad:
    """a + b, per step in the larger of the two scales (exact up to the sum's rounding).

    Two gradients meet where one output feeds two readers: the forward and the reverse
    direction of a bidirectional layer both read the layer below."""
    E = np.maximum(a.exp, b.exp)
    with np.errstate(under="ignore"):
        values = np.ldexp(a.values, (a.exp - E)[:, None, None].astype(np.int32))
        values += np.ldexp(b.values, (b.exp - E)[:, None, None].astype(np.int32))
    return ScaledGrad(values, E)


def reverse_time(g: ScaledGrad) -> ScaledGrad:
    """The same gradient with its steps in the opposite order (a view)."""
    return ScaledGrad(g.values[::-1], g.exp[::-1])


def norms_and_log10(g: ScaledGrad) -> tuple[np.ndarray, np.ndarray]:
    """Per-step Euclidean norms (plain, may underflow) and their exact log10 values."""
    scaled = np.sqrt(np.einsum("tbn,tbn->t", g.values, g.values, dtype=np.float64))  # (T,)
    with np.errstate(divide="ignore"):
        log10 = np.log10(scaled) + g.exp * math.log10(2.0)
    with np.errstate(over="ignore", under="ignore"):
        plain = np.ldexp(scaled, g.exp.astype(np.int32)).astype(g.values.dtype)
    return plain, log10
