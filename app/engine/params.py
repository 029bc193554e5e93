"""Model specification, parameter shapes and PyTorch-compatible initialisation.

A model is described by the same dict the JSON API takes:

    {"cell": "lstm" | "gru" | "rnn", "input_size": D, "hidden_size": H, "num_layers": L,
     "variant": "standard" | "no_forget_gate" | "peephole" | "coupled",   (LSTM only)
     "output_size": O | None,                                            (readout, optional)
     "init": {"seed": 0, "forget_bias": 0.0, "recurrent_init": "uniform" | "orthogonal",
              "recurrent_gain": 1.0},
     "weights": None | {name: array}}

Parameter names, shapes and gate order are PyTorch's (`torch.nn.LSTM/GRU/RNN` state_dict), so
a state_dict drops in unchanged:

    weight_ih_l{k}  (G*H, D_k)    G = 4 (LSTM, blocks [i|f|g|o]), 3 (GRU, [r|z|n]), 1 (RNN)
    weight_hh_l{k}  (G*H, H)      D_0 = D, D_k = H for k > 0
    bias_ih_l{k}    (G*H,)
    bias_hh_l{k}    (G*H,)
    weight_ci_l{k}, weight_cf_l{k}, weight_co_l{k}  (H,)   peephole variant only (Gers 2002)
    readout.weight  (O, H), readout.bias (O,)              when output_size is set

The `no_forget_gate` and `coupled` variants keep the four blocks so that weights stay
interchangeable with `nn.LSTM`; the forget rows are then unused and get zero gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CELLS = ("lstm", "gru", "rnn")
LSTM_VARIANTS = ("standard", "no_forget_gate", "peephole", "coupled")
GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn": ()}
N_BLOCKS = {"lstm": 4, "gru": 3, "rnn": 1}
RECURRENT_INITS = ("uniform", "orthogonal")


class ModelError(ValueError):
    """A model description or weight set that cannot be used; the message names the field."""


@dataclass(frozen=True)
class InitSpec:
    seed: int = 0  # numpy.random.default_rng(seed) draws every parameter
    forget_bias: float = 0.0  # added to the forget block of bias_ih (LSTM only)
    recurrent_init: str = "uniform"  # "uniform" (PyTorch's) or "orthogonal" (per gate block)
    recurrent_gain: float = 1.0  # multiplies W_hh after initialisation


@dataclass(frozen=True)
class ModelSpec:
    cell: str = "lstm"
    input_size: int = 1  # D
    hidden_size: int = 8  # H
    num_layers: int = 1  # L, stacked; layer k > 0 reads layer k-1's h
    variant: str = "standard"  # LSTM variant (Greff et al. 2017 names)
    output_size: int | None = None  # O, size of the optional linear readout on the top h
    init: InitSpec = field(default_factory=InitSpec)

    @property
    def n_blocks(self) -> int:
        return N_BLOCKS[self.cell]

    @property
    def gates(self) -> tuple[str, ...]:
        return GATES[self.cell]

    @property
    def peephole(self) -> bool:
        return self.cell == "lstm" and self.variant == "peephole"


def spec_from_dict(model: Mapping[str, Any]) -> ModelSpec:
    """Build a ModelSpec from the JSON-shaped dict, checking every field."""
    cell = model.get("cell", "lstm")
    if cell not in CELLS:
        raise ModelError(f"model.cell must be one of {CELLS}, got {cell!r}")
    variant = model.get("variant") or "standard"
    if cell == "lstm" and variant not in LSTM_VARIANTS:
        raise ModelError(f"model.variant must be one of {LSTM_VARIANTS}, got {variant!r}")
    if cell != "lstm" and variant != "standard":
        raise ModelError(f"model.variant {variant!r} applies to the LSTM only, not {cell!r}")
    ints = {}
    for name, default in (("input_size", 1), ("hidden_size", 8), ("num_layers", 1)):
        value = model.get(name, default)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ModelError(f"model.{name} must be a positive integer, got {value!r}")
        ints[name] = int(value)
    output_size = model.get("output_size")
    if output_size is not None and (not isinstance(output_size, int) or output_size < 1):
        raise ModelError(f"model.output_size must be a positive integer, got {output_size!r}")
    raw_init = dict(model.get("init") or {})
    unknown = set(raw_init) - set(InitSpec.__dataclass_fields__)
    if unknown:
        raise ModelError(f"model.init has unknown fields {sorted(unknown)}")
    init = InitSpec(**raw_init)
    if init.recurrent_init not in RECURRENT_INITS:
        raise ModelError(
            f"model.init.recurrent_init must be one of {RECURRENT_INITS}, "
            f"got {init.recurrent_init!r}"
        )
    return ModelSpec(cell=cell, variant=variant, output_size=output_size, init=init, **ints)


def param_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Every parameter's PyTorch name and shape, in state_dict order."""
    G, H = spec.n_blocks, spec.hidden_size
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(spec.num_layers):
        D_k = spec.input_size if k == 0 else H
        shapes[f"weight_ih_l{k}"] = (G * H, D_k)
        shapes[f"weight_hh_l{k}"] = (G * H, H)
        shapes[f"bias_ih_l{k}"] = (G * H,)
        shapes[f"bias_hh_l{k}"] = (G * H,)
        if spec.peephole:
            for gate in ("i", "f", "o"):
                shapes[f"weight_c{gate}_l{k}"] = (H,)
    if spec.output_size is not None:
        shapes["readout.weight"] = (spec.output_size, H)
        shapes["readout.bias"] = (spec.output_size,)
    return shapes


def _orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A Haar-random n x n orthogonal matrix (QR of a Gaussian with the sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def init_params(spec: ModelSpec) -> dict[str, np.ndarray]:
    """PyTorch's default initialisation, U(-1/sqrt(H), 1/sqrt(H)), drawn from the seed.

    Parameters are drawn in state_dict order. With `orthogonal`, each H x H gate block of
    W_hh is an independent orthogonal matrix, so after `recurrent_gain` every singular value
    of each block equals the gain (a tanh RNN's gradient then decays exactly like gain^k).
    """
    rng = np.random.default_rng(spec.init.seed)
    H = spec.hidden_size
    bound = 1.0 / np.sqrt(H)
    params: dict[str, np.ndarray] = {}
    for name, shape in param_shapes(spec).items():
        params[name] = rng.uniform(-bound, bound, size=shape)
    for k in range(spec.num_layers):
        W_hh = params[f"weight_hh_l{k}"]
        if spec.init.recurrent_init == "orthogonal":
            W_hh = np.concatenate([_orthogonal(rng, H) for _ in range(spec.n_blocks)])
        params[f"weight_hh_l{k}"] = spec.init.recurrent_gain * W_hh
        if spec.cell == "lstm":
            params[f"bias_ih_l{k}"][H : 2 * H] += spec.init.forget_bias
    return params


def check_params(spec: ModelSpec, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Check names, shapes and finiteness of given weights; return them as float64 arrays."""
    shapes = param_shapes(spec)
    missing = [n for n in shapes if n not in params]
    if missing:
        raise ModelError(f"model.weights is missing {missing}")
    extra = [n for n in params if n not in shapes]
    if extra:
        raise ModelError(
            f"model.weights has names this {spec.cell} model does not use: {extra} "
            f"(expected {list(shapes)})"
        )
    out = {}
    for name, shape in shapes.items():
        try:
            array = np.asarray(params[name], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"model.weights.{name} is not a numeric array: {exc}") from None
        if array.shape != shape:
            raise ModelError(f"model.weights.{name} has shape {array.shape}, expected {shape}")
        if not np.all(np.isfinite(array)):
            raise ModelError(f"model.weights.{name} contains NaN or infinity")
        out[name] = array
    return out


def model_params(model: Mapping[str, Any]) -> tuple[ModelSpec, dict[str, np.ndarray]]:
    """The spec and its parameters: the given `weights`, or a seeded initialisation."""
    spec = spec_from_dict(model)
    weights = model.get("weights")
    params = init_params(spec) if weights is None else check_params(spec, weights)
    return spec, params
