"""Readouts of the gradient-decay lab: pure NumPy functions of a Trace and its weights.

Why gradients vanish or explode (SCIENCE.md):
- Hochreiter & Schmidhuber 1997, §3: a unit's error flows back as
  ϑ_j(t) = f'_j(net_j(t)) w_jj ϑ_j(t+1); |f' w| < 1 vanishes exponentially, > 1 explodes,
  = 1 is the constant error carousel. For the LSTM the self-connection is the cell path,
  ∂c_t/∂c_{t-1} = diag(f_t): the carousel is exact when f = 1.
- Pascanu, Mikolov & Bengio 2013: for h_t = σ(W h_{t-1} + ...) with |σ'| ≤ γ (γ = 1 for tanh),
  a largest singular value of W below 1/γ is sufficient for vanishing, above 1/γ necessary for
  exploding.

Gradient curves are indexed by k = T-1-t, steps back from the end, and normalised so k = 0 is
log10 1 = 0. Everything stays in log10 space, so 1e-600 is as readable as 1e-6.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LOG10_2 = float(np.log10(2.0))

# log10 of the float limits: below "subnormal" a value flushes to 0, below "normal" it has lost
# precision (subnormal); above "overflow" it is infinity.
FLOAT_LIMITS = {
    "float32": {"subnormal": -45.85, "normal": -37.93, "overflow": 38.53},
    "float64": {"subnormal": -323.3, "normal": -307.65, "overflow": 308.25},
}


def by_steps_back(log10_norm: np.ndarray) -> np.ndarray:
    """(T,) log10 norms in time order -> (T,) in k order, normalised so k = 0 is 0."""
    rev = np.asarray(log10_norm, dtype=np.float64)[::-1]
    return rev - rev[0]


def fit_decay(log10_by_k: np.ndarray) -> dict[str, float | None]:
    """Least-squares line through (k, log10 norm) over the finite points.

    factor: the fitted per-step ratio 10^slope; half_life: steps for the norm to halve
    (None unless decaying); doubling: steps to double (None unless growing).
    """
    y = np.asarray(log10_by_k, dtype=np.float64)
    k = np.arange(y.size, dtype=np.float64)
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return {"slope": None, "factor": None, "half_life": None, "doubling": None}
    slope = float(np.polyfit(k[ok], y[ok], 1)[0])
    return {
        "slope": slope,
        "factor": float(10.0**slope),
        "half_life": LOG10_2 / -slope if slope < 0 else None,
        "doubling": LOG10_2 / slope if slope > 0 else None,
    }


def forget_half_life(f: np.ndarray) -> np.ndarray:
    """Per unit, -ln 2 / ln(mean f): the steps a cell keeps half its content. (T, H) -> (H,).

    f = 0.5 gives 1 step; f = 1 gives infinity (the carousel); f = 0 gives 0.
    """
    fbar = np.asarray(f, dtype=np.float64).mean(axis=0)
    with np.errstate(divide="ignore"):
        ln_f = np.log(fbar)
        return np.where(fbar >= 1.0, np.inf, np.where(fbar <= 0.0, 0.0, -np.log(2.0) / ln_f))


def half_life_summary(half_lives: np.ndarray) -> dict[str, Any]:
    """Distribution of per-unit half-lives (infinite ones counted apart, sent as null)."""
    hl = np.asarray(half_lives, dtype=np.float64)
    finite = hl[np.isfinite(hl)]
    q = (lambda p: float(np.quantile(finite, p))) if finite.size else (lambda p: None)
    return {
        "per_unit": [float(v) if np.isfinite(v) else None for v in hl],
        "min": q(0.0),
        "median": float(np.median(hl)) if np.isfinite(np.median(hl)) else None,
        "max": q(1.0),
        "infinite": int((~np.isfinite(hl)).sum()),
    }


def belt_log10(f: np.ndarray, dc_last: np.ndarray) -> np.ndarray:
    """The direct path along the cell-state belt, in k order: log10 ||(Π_{s>t} f_s) ⊙ dL/dc_{T-1}||.

    f: (T, H) forget gates; dc_last: (H,) dL/dc_{T-1}. The product is summed in log space,
    so it never underflows; at k = 0 it is ||dL/dc_{T-1}|| itself.
    """
    f = np.asarray(f, dtype=np.float64)
    g = np.abs(np.asarray(dc_last, dtype=np.float64))
    with np.errstate(divide="ignore"):
        ln_f = np.log(f[::-1])  # (T, H), row k is step T-1-k
        ln_g = np.log(g)
    # ln Π_{s=T-k}^{T-1} f_s: zero at k = 0, then the running sum of the later rows
    ln_prod = np.vstack([np.zeros((1, f.shape[1])), np.cumsum(ln_f[:-1], axis=0)])
    terms = 2.0 * (ln_prod + ln_g)  # ln of each unit's squared contribution
    top = terms.max(axis=1, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_sq = safe[:, 0] + np.log(np.exp(terms - safe).sum(axis=1))
    out = 0.5 * ln_sq / np.log(10.0)
    return np.where(np.isfinite(top[:, 0]), out, -np.inf)


def _geo_mean_abs(x: np.ndarray) -> np.ndarray:
    """Per column, the geometric mean of |x| over time: the typical per-step factor."""
    return np.exp(np.log(np.maximum(np.abs(x), 1e-300)).mean(axis=0))


def self_loop_factors(cell: str, layer: Any, params: dict[str, np.ndarray], H: int) -> np.ndarray:
    """(T, H) Hochreiter-Schmidhuber factor f'(net_j(t)) w_jj of each unit's self-connection.

    RNN: (1 - h_t²) W_hh[j, j]. LSTM: the cell path ∂c_t/∂c_{t-1} = f_t (a linear unit with
    self-weight f). GRU: the diagonal of ∂h_t/∂h_{t-1} with every path through the unit's own
    gates: z + (h_prev - n) z(1-z) W_hz[jj] + (1-z)(1-n²)(r W_hn[jj] + a r(1-r) W_hr[jj]),
    a = (W_hn h_prev + b_hn)_j.
    """
    W_hh = params["weight_hh_l0"]
    if cell == "rnn":
        return (1.0 - layer.h**2) * np.diag(W_hh)[None, :]
    if cell == "lstm":
        return np.asarray(layer.gates["f"], dtype=np.float64)
    r, z, n = (np.asarray(layer.gates[g], dtype=np.float64) for g in ("r", "z", "n"))
    h = np.asarray(layer.h, dtype=np.float64)
    h_prev = np.vstack([np.zeros((1, H)), h[:-1]])  # (T, H), h_{-1} = 0
    W_hr, W_hz, W_hn = W_hh[:H], W_hh[H : 2 * H], W_hh[2 * H :]
    a = h_prev @ W_hn.T + params["bias_hh_l0"][2 * H :]
    d = np.diag
    return (
        z
        + (h_prev - n) * z * (1 - z) * d(W_hz)
        + (1 - z) * (1 - n**2) * (r * d(W_hn) + a * r * (1 - r) * d(W_hr))
    )


def verdict(x: float, tol: float = 1e-6) -> str:
    if abs(x - 1.0) <= tol:
        return "constant"
    return "vanishing" if x < 1.0 else "exploding"


def hochreiter_condition(factors: np.ndarray) -> dict[str, Any]:
    """Per unit the typical |f'(net) w_jj| (geometric mean over steps); typical and max."""
    per_unit = _geo_mean_abs(np.asarray(factors, dtype=np.float64))
    typical = float(np.median(per_unit))
    worst = float(per_unit.max())
    return {"typical": typical, "max": worst, "verdict": verdict(worst)}


def pascanu_condition(cell: str, params: dict[str, np.ndarray], H: int) -> dict[str, Any]:
    """Largest singular value of the recurrent matrix against 1/γ (γ = 1 for tanh).

    Exact for the tanh RNN (W_hh). For the gated cells it is read off the tanh candidate's block
    (LSTM W_hg, GRU W_hn): the same bound then holds for that path alone.
    """
    W_hh = params["weight_hh_l0"]
    block = {"rnn": ("W_hh", W_hh), "lstm": ("W_hg", W_hh[2 * H : 3 * H]),
             "gru": ("W_hn", W_hh[2 * H :])}[cell]  # fmt: skip
    sigma = float(np.linalg.svd(block[1], compute_uv=False)[0])
    gamma = 1.0
    if sigma < 1.0 / gamma:
        says = "vanishing guaranteed"
    elif sigma > 1.0 / gamma:
        says = "exploding possible"
    else:
        says = "on the edge"
    return {"matrix": block[0], "sigma_max": sigma, "gamma": gamma, "threshold": 1.0 / gamma,
            "verdict": says, "exact": cell == "rnn"}  # fmt: skip


def first_crossing(log10_abs: np.ndarray, below: float | None = None, above: float | None = None):
    """The first k whose absolute log10 value is below / above a limit, else None."""
    y = np.asarray(log10_abs, dtype=np.float64)
    if below is not None:
        hit = y < below  # NaN compares False
    elif above is not None:
        hit = y > above
    else:
        raise ValueError("first_crossing needs a limit: below or above")
    return int(np.argmax(hit)) if hit.any() else None


def float_limits(log10_abs_by_k: np.ndarray) -> dict[str, dict[str, int | None]]:
    """Per dtype, the first k where a plain run's norm would have gone subnormal (lost
    precision), flushed to zero, or overflowed to infinity."""
    out = {}
    for dtype, lim in FLOAT_LIMITS.items():
        out[dtype] = {
            "subnormal": first_crossing(log10_abs_by_k, below=lim["normal"]),
            "underflow": first_crossing(log10_abs_by_k, below=lim["subnormal"]),
            "overflow": first_crossing(log10_abs_by_k, above=lim["overflow"]),
        }
    return out


def finite_or_nan(x: np.ndarray) -> np.ndarray:
    """float64 copy with every non-finite value as NaN (the serialiser sends NaN as null)."""
    arr = np.array(x, dtype=np.float64)
    arr[~np.isfinite(arr)] = np.nan
    return arr
