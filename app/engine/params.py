"""Model specification, parameter shapes and PyTorch-compatible initialisation.

A model is described by the same dict the JSON API takes:

    {"cell": "lstm" | "gru" | "rnn", "input_size": D, "hidden_size": H, "num_layers": L,
     "variant": "standard" | "no_forget_gate" | "peephole" | "coupled",   (LSTM only)
     "output_size": O | None,                                            (readout, optional)
     "readout": "every_step" | "final",      the readout reads every step's top h, or h_n only
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

Models from the wild (DESIGN.md), all optional, defaults as above:

    "hidden_size": [H_0, H_1, ...]   one width per layer (a list of length num_layers)
    "bidirectional": true            every layer also runs backwards in time: its parameters
                                     carry the suffix "_reverse" (weight_ih_l0_reverse, ...)
    "proj_size": P                   LSTM with projections (0: none; 0 < P < every H_k,
                                     standard variant): h_t = W_hr (o ⊙ tanh c_t),
                                     weight_hr_l{k} (P, H_k); weight_hh_l{k} is then (G*H_k, P)
    "nonlinearity": "relu"           RNN only (PyTorch nn.RNN(nonlinearity="relu"))
    "embedding": {"num_embeddings": V, "embedding_dim": D}
                                     an nn.Embedding in front, embedding.weight (V, D); the
                                     input is then token ids, and input_size is D

With R_k the width of layer k's output per direction (P, or H_k) and N the number of
directions (1 or 2), layer k reads D_k = D (k = 0) or N·R_{k-1} (k > 0), so in general
weight_ih_l{k} is (G*H_k, D_k), weight_hh_l{k} (G*H_k, R_k), and the readout (O, N·R_{L-1}).

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
NONLINEARITIES = ("tanh", "relu")
READOUTS = ("every_step", "final")


class ModelError(ValueError):
    """A model description or weight set that cannot be used; the message names the field."""


@dataclass(frozen=True)
class InitSpec:
    seed: int = 0  # numpy.random.default_rng(seed) draws every parameter
    forget_bias: float = 0.0  # added to the forget block of bias_ih (LSTM only)
    recurrent_init: str = "uniform"  # "uniform" (PyTorch's) or "orthogonal" (per gate block)
    recurrent_gain: float = 1.0  # multiplies W_hh after initialisation


@dataclass(frozen=True)
class EmbeddingSpec:
    num_embeddings: int  # V, the vocabulary size
    embedding_dim: int  # D, the width of a row (the network's input size)


@dataclass(frozen=True)
class ModelSpec:
    cell: str = "lstm"
    input_size: int = 1  # D
    hidden_size: int | tuple[int, ...] = 8  # H, or one H_k per layer
    num_layers: int = 1  # L, stacked; layer k > 0 reads layer k-1's h
    variant: str = "standard"  # LSTM variant (Greff et al. 2017 names)
    output_size: int | None = None  # O, size of the optional linear readout on the top h
    init: InitSpec = field(default_factory=InitSpec)
    bidirectional: bool = False
    proj_size: int = 0  # P, LSTM projections (0: none)
    nonlinearity: str = "tanh"  # RNN: "tanh" | "relu"
    embedding: EmbeddingSpec | None = None
    # "final": the readout reads h_n, [h_fwd at T-1 | h_rev at 0] (torch's h_n of a classifier)
    readout: str = "every_step"

    @property
    def n_blocks(self) -> int:
        return N_BLOCKS[self.cell]

    @property
    def gates(self) -> tuple[str, ...]:
        return GATES[self.cell]

    @property
    def peephole(self) -> bool:
        return self.cell == "lstm" and self.variant == "peephole"

    @property
    def widths(self) -> tuple[int, ...]:
        """H_k, the number of units (cells) of layer k."""
        H = self.hidden_size
        return H if isinstance(H, tuple) else (H,) * self.num_layers

    @property
    def directions(self) -> tuple[str, ...]:
        return ("forward", "reverse") if self.bidirectional else ("forward",)

    def out_width(self, k: int) -> int:
        """R_k, the width of layer k's h in one direction (what W_hh reads)."""
        return self.proj_size or self.widths[k]

    def in_width(self, k: int) -> int:
        """D_k, the width of what layer k reads."""
        return self.input_size if k == 0 else len(self.directions) * self.out_width(k - 1)

    @property
    def top_width(self) -> int:
        """The width of the network's output (what the readout and the loss see)."""
        return len(self.directions) * self.out_width(self.num_layers - 1)

    @property
    def entries(self) -> list[tuple[int, str, str]]:
        """(layer, direction, parameter-name suffix) of every recorded layer, in trace order:
        [l0 forward, l0 reverse, l1 forward, ...]."""
        return [
            (k, d, "" if d == "forward" else "_reverse")
            for k in range(self.num_layers)
            for d in self.directions
        ]

    @property
    def plain(self) -> bool:
        """One width, one direction, no projection, tanh, no embedding (the fast kernels)."""
        return (
            isinstance(self.hidden_size, int)
            and not self.bidirectional
            and not self.proj_size
            and self.nonlinearity == "tanh"
            and self.embedding is None
        )


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ModelError(f"model.{name} must be a positive integer, got {value!r}")
    return int(value)


def _hidden(model: Mapping[str, Any]) -> tuple[int | tuple[int, ...], int]:
    """hidden_size (an int, or a tuple of one width per layer) and num_layers."""
    H = model.get("hidden_size", 8)
    if isinstance(H, (list, tuple, np.ndarray)):
        widths = tuple(_positive_int(f"hidden_size[{k}]", h) for k, h in enumerate(H))
        L = _positive_int("num_layers", model.get("num_layers", len(widths)))
        if len(widths) != L:
            raise ModelError(
                f"model.hidden_size lists {len(widths)} widths but num_layers is {L}: "
                "give one width per layer"
            )
        return widths, L
    return _positive_int("hidden_size", H), _positive_int("num_layers", model.get("num_layers", 1))


def _embedding(model: Mapping[str, Any]) -> EmbeddingSpec | None:
    raw = model.get("embedding")
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) - {"num_embeddings", "embedding_dim"}:
        raise ModelError(
            f"model.embedding must be {{'num_embeddings': V, 'embedding_dim': D}}, got {raw!r}"
        )
    return EmbeddingSpec(
        _positive_int("embedding.num_embeddings", raw.get("num_embeddings")),
        _positive_int("embedding.embedding_dim", raw.get("embedding_dim")),
    )


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
    hidden_size, num_layers = _hidden(model)
    embedding = _embedding(model)
    input_size = model.get("input_size")
    if embedding is not None:
        if input_size is not None and input_size != embedding.embedding_dim:
            raise ModelError(
                f"model.input_size is {input_size} but the embedding's rows have "
                f"embedding_dim = {embedding.embedding_dim}"
            )
        input_size = embedding.embedding_dim
    input_size = _positive_int("input_size", 1 if input_size is None else input_size)
    output_size = model.get("output_size")
    if output_size is not None and (not isinstance(output_size, int) or output_size < 1):
        raise ModelError(f"model.output_size must be a positive integer, got {output_size!r}")
    bidirectional = model.get("bidirectional", False)
    if not isinstance(bidirectional, (bool, np.bool_)):
        raise ModelError(f"model.bidirectional must be true or false, got {bidirectional!r}")
    nonlinearity = model.get("nonlinearity") or "tanh"
    if nonlinearity not in NONLINEARITIES:
        raise ModelError(
            f"model.nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}"
        )
    if nonlinearity != "tanh" and cell != "rnn":
        raise ModelError(
            f"model.nonlinearity {nonlinearity!r} applies to the RNN only, not {cell!r}"
        )
    proj_size = model.get("proj_size") or 0
    if not isinstance(proj_size, (int, np.integer)) or isinstance(proj_size, bool) or proj_size < 0:
        raise ModelError(f"model.proj_size must be an integer >= 0, got {proj_size!r}")
    if proj_size:
        widths = hidden_size if isinstance(hidden_size, tuple) else (hidden_size,)
        if cell != "lstm" or variant != "standard":
            raise ModelError("model.proj_size applies to the standard LSTM only")
        if proj_size >= min(widths):
            raise ModelError(
                f"model.proj_size must be below every hidden size (as in PyTorch), "
                f"got {proj_size} with hidden_size {hidden_size}"
            )
    readout = model.get("readout") or "every_step"
    if readout not in READOUTS:
        raise ModelError(f"model.readout must be one of {READOUTS}, got {readout!r}")
    if readout == "final" and output_size is None:
        raise ModelError("model.readout 'final' needs a readout layer (model.output_size)")
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
    return ModelSpec(
        cell=cell, variant=variant, output_size=output_size, init=init, input_size=input_size,
        hidden_size=hidden_size, num_layers=num_layers, bidirectional=bool(bidirectional),
        proj_size=int(proj_size), nonlinearity=nonlinearity, embedding=embedding,
        readout=readout,
    )  # fmt: skip


def spec_to_dict(spec: ModelSpec) -> dict[str, Any]:
    """The JSON `model` object of a spec (without init and weights): the fields of the
    original model, plus those of the wild only when they differ from their defaults, so a
    plain model's dict is what it always was."""
    H = spec.hidden_size
    out: dict[str, Any] = {
        "cell": spec.cell, "input_size": spec.input_size,
        "hidden_size": list(H) if isinstance(H, tuple) else H, "num_layers": spec.num_layers,
        "variant": spec.variant, "output_size": spec.output_size,
    }  # fmt: skip
    if spec.bidirectional:
        out["bidirectional"] = True
    if spec.proj_size:
        out["proj_size"] = spec.proj_size
    if spec.nonlinearity != "tanh":
        out["nonlinearity"] = spec.nonlinearity
    if spec.embedding is not None:
        out["embedding"] = {"num_embeddings": spec.embedding.num_embeddings,
                            "embedding_dim": spec.embedding.embedding_dim}  # fmt: skip
    if spec.readout != "every_step":
        out["readout"] = spec.readout
    return out


def param_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Every parameter's PyTorch name and shape, in state_dict order."""
    G = spec.n_blocks
    shapes: dict[str, tuple[int, ...]] = {}
    if spec.embedding is not None:
        shapes["embedding.weight"] = (spec.embedding.num_embeddings, spec.embedding.embedding_dim)
    for k, _, sfx in spec.entries:
        H = spec.widths[k]
        shapes[f"weight_ih_l{k}{sfx}"] = (G * H, spec.in_width(k))
        shapes[f"weight_hh_l{k}{sfx}"] = (G * H, spec.out_width(k))
        shapes[f"bias_ih_l{k}{sfx}"] = (G * H,)
        shapes[f"bias_hh_l{k}{sfx}"] = (G * H,)
        if spec.proj_size:
            shapes[f"weight_hr_l{k}{sfx}"] = (spec.proj_size, H)
        if spec.peephole:
            for gate in ("i", "f", "o"):
                shapes[f"weight_c{gate}_l{k}{sfx}"] = (H,)
    if spec.output_size is not None:
        shapes["readout.weight"] = (spec.output_size, spec.top_width)
        shapes["readout.bias"] = (spec.output_size,)
    return shapes


def _orthogonal(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """A Haar-random n x m matrix with orthonormal columns (n >= m; QR of a Gaussian with the
    sign fix): orthogonal when n = m."""
    q, r = np.linalg.qr(rng.standard_normal((n, m)))
    return q * np.sign(np.diag(r))


def _layer_of(name: str) -> int | None:
    """k of a per-layer parameter name (weight_ih_l{k}[_reverse]), None for the others."""
    if "_l" not in name or "." in name:
        return None
    return int(name.rsplit("_l", 1)[1].removesuffix("_reverse"))


def init_params(spec: ModelSpec) -> dict[str, np.ndarray]:
    """PyTorch's default initialisation, U(-1/sqrt(H), 1/sqrt(H)), drawn from the seed.

    Parameters are drawn in state_dict order. With `orthogonal`, each H x H gate block of
    W_hh is an independent orthogonal matrix, so after `recurrent_gain` every singular value
    of each block equals the gain (a tanh RNN's gradient then decays exactly like gain^k).
    With one width per layer, layer k's bound is 1/sqrt(H_k) and the readout's that of the top
    layer; an embedding is drawn N(0, 1) (nn.Embedding's default); with projections the
    orthogonal blocks are H_k x P with orthonormal columns.
    """
    rng = np.random.default_rng(spec.init.seed)
    widths = spec.widths
    params: dict[str, np.ndarray] = {}
    for name, shape in param_shapes(spec).items():
        if name == "embedding.weight":
            params[name] = rng.standard_normal(shape)
            continue
        k = _layer_of(name)
        bound = 1.0 / np.sqrt(widths[-1] if k is None else widths[k])
        params[name] = rng.uniform(-bound, bound, size=shape)
    for k, _, sfx in spec.entries:
        H = widths[k]
        W_hh = params[f"weight_hh_l{k}{sfx}"]
        if spec.init.recurrent_init == "orthogonal":
            W_hh = np.concatenate(
                [_orthogonal(rng, H, spec.out_width(k)) for _ in range(spec.n_blocks)]
            )
        params[f"weight_hh_l{k}{sfx}"] = spec.init.recurrent_gain * W_hh
        if spec.cell == "lstm":
            params[f"bias_ih_l{k}{sfx}"][H : 2 * H] += spec.init.forget_bias
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
