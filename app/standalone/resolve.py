"""What a notebook hands lx.show / lx.trace, as the engine's model dict and inputs.

A model is the model dict itself (as /api/trace and /api/gallery/{slug} have it; its
`alphabet` or `vocab` is read too), a weight file path (.safetensors, .npz, .keras,
.weights.h5: the upload's reader), a torch.nn.Module holding an LSTM/GRU/RNN (its state_dict's
arrays go through that same reader; torch is never imported here, the module is recognised from
its class), or a Keras 3 model (saved with its own `model.save` into a temporary .keras file and
read back as data, as an upload is: Keras' config as JSON, the weights as arrays).
Inputs are text (one-hot over an alphabet, or token ids through a vocabulary for a model with an
embedding), token ids, or an array (T, D) (or (T,) when D = 1).
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..engine.formats.model_object import NonlinearityNeededError
from ..engine.formats.vocab import check_vocab, split, tokenize
from ..engine.formats.weights import load_weights
from ..engine.params import ModelError, spec_from_dict
from ..settings import get_settings

TEXT_KEYS = ("alphabet", "vocab", "level")


@dataclass
class Resolved:
    model: dict[str, Any]  # the engine's model dict (input_size set)
    inputs: np.ndarray  # (T, D) float64, or token ids (T,) for a model with an embedding
    labels: list[str] | None  # what each step reads, for a text input or token ids with a vocab


def _is_torch_module(obj: Any) -> bool:
    torch = sys.modules.get("torch")  # never imported here: an nn.Module means torch is loaded
    return torch is not None and isinstance(obj, torch.nn.Module)


def _is_keras_model(obj: Any) -> bool:
    return any(c.__module__.split(".")[0] in ("keras", "tf_keras") for c in type(obj).__mro__)


def _read(data: bytes, filename: str, nonlinearity: str | None) -> dict[str, Any]:
    s = get_settings()
    limit = max(s.max_upload_bytes, len(data))  # a local file: the user's own, any size
    try:
        return load_weights(data, filename, max_bytes=limit, nonlinearity=nonlinearity)
    except NonlinearityNeededError:
        raise ModelError(
            "this model is a plain RNN (nn.RNN or Keras SimpleRNN) and its weights cannot say "
            "whether it computes tanh or relu: pass nonlinearity='tanh' or nonlinearity='relu'"
        ) from None


def _from_torch(module: Any, nonlinearity: str | None) -> dict[str, Any]:
    stated = {
        m.nonlinearity
        for m in module.modules()
        if hasattr(m, "nonlinearity") and hasattr(m, "weight_hh_l0")
    }
    if nonlinearity is None and len(stated) == 1:
        nonlinearity = stated.pop()  # an nn.RNN says what it computes; a state_dict cannot
    arrays = {
        name: np.asarray(t.detach().cpu().double().numpy(), dtype=np.float64)
        for name, t in module.state_dict().items()
        if t.is_floating_point()
    }
    buffer = io.BytesIO()
    # the upload's reader: the same names, checks and messages
    np.savez(buffer, **cast(dict[str, Any], arrays))
    return _read(buffer.getvalue(), "state_dict.npz", nonlinearity)


def _from_keras(model: Any, nonlinearity: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lstmx-") as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)  # Keras 3's own file; read back as JSON and arrays, never executed
        return _read(path.read_bytes(), path.name, nonlinearity)


def model_dict(model: Any, nonlinearity: str | None = None) -> dict[str, Any]:
    """Any accepted model as the engine's model dict (weights as arrays or nested lists)."""
    if isinstance(model, Mapping):
        return dict(model)
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"model: no file at {str(path)!r}")
        return _read(path.read_bytes(), path.name, nonlinearity)
    if _is_torch_module(model):
        return _from_torch(model, nonlinearity)
    if _is_keras_model(model):
        return _from_keras(model, nonlinearity)
    raise TypeError(
        "model must be a model dict, a weight file path (.safetensors, .npz, .keras, "
        ".weights.h5), a torch.nn.Module holding an LSTM/GRU/RNN, or a Keras model; got "
        f"{type(model).__name__}"
    )


def _text(model: dict[str, Any], text: str, alphabet: Any, vocab: Any, level: str) -> Resolved:
    spec_model = {k: v for k, v in model.items() if k not in TEXT_KEYS}
    has_embedding = model.get("embedding") is not None
    tokens = vocab if vocab is not None else model.get("vocab")
    chars = alphabet if alphabet is not None else model.get("alphabet")
    if has_embedding or tokens is not None:
        vocab_list = list(tokens) if tokens is not None else list(chars or "")
        if not vocab_list:
            raise ModelError(
                "a model with an embedding reads tokens: give vocab= (tokens in id order) or "
                "alphabet="
            )
        ids = tokenize(text, check_vocab(vocab_list, get_settings().max_vocab), level)
        labels = split(text, level) if level == "word" else list(text)
        if has_embedding:
            return Resolved(spec_model, np.asarray(ids, dtype=np.int64), labels)
        X = np.zeros((len(ids), len(vocab_list)))
        X[np.arange(len(ids)), ids] = 1.0
        return Resolved({**spec_model, "input_size": len(vocab_list)}, X, labels)
    D = spec_model.get("input_size")
    if chars is None:
        if D is not None or spec_model.get("weights") is not None:
            raise ModelError(
                "text for a model with weights needs its alphabet: alphabet= the characters of "
                "its one-hot columns, in order"
            )
        chars = "".join(sorted(set(text)))  # a freshly initialised model: the text's own
    chars = "".join(chars)
    if len(set(chars)) != len(chars) or not chars:
        raise ModelError("alphabet must list each character once")
    missing = sorted(set(text) - set(chars))
    if missing:
        raise ModelError(f"text has characters not in the alphabet: {missing}")
    index = {ch: k for k, ch in enumerate(chars)}
    X = np.zeros((len(text), len(chars)))
    X[np.arange(len(text)), [index[ch] for ch in text]] = 1.0
    return Resolved({**spec_model, "input_size": len(chars)}, X, list(text))


def resolve(
    model: Any,
    inputs: Any,
    *,
    alphabet: str | Sequence[str] | None = None,
    vocab: Sequence[str] | None = None,
    level: str = "char",
    nonlinearity: str | None = None,
) -> Resolved:
    """The model dict and the inputs the engine takes, with a label per step for text."""
    m = model_dict(model, nonlinearity)
    if isinstance(inputs, str):
        return _text(m, inputs, alphabet, vocab, level)
    spec_model = {k: v for k, v in m.items() if k not in TEXT_KEYS}
    if m.get("embedding") is not None:
        ids = np.asarray(inputs)
        tokens = vocab if vocab is not None else m.get("vocab")
        labels = None
        if tokens is not None and ids.ndim == 1 and ids.dtype.kind in "iu":
            labels = [str(tokens[i]) if 0 <= i < len(tokens) else "?" for i in ids.tolist()]
        return Resolved(spec_model, ids, labels)
    X = np.asarray(inputs, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ModelError(f"inputs must be (T, D) rows, got an array of shape {X.shape}")
    spec_model.setdefault("input_size", X.shape[1])
    return Resolved(spec_model, X, None)


def check_limits(res: Resolved) -> None:
    """The server's limits (app/settings.py, LSTMX_* variables) before any work: a notebook
    asking for hours of compute gets an error naming the limit, not a frozen kernel."""
    s = get_settings()
    spec = spec_from_dict(res.model)
    T = int(res.inputs.shape[0])
    D = spec.input_size
    dirs = 2 if spec.bidirectional else 1
    widths = list(spec.widths)
    out = [spec.proj_size or H for H in widths]
    ins = [D] + [dirs * R for R in out[:-1]]
    work = T * dirs * sum(H * (R + Dk) for H, R, Dk in zip(widths, out, ins, strict=True))
    for what, value, limit, name in (
        ("sequence length T", T, s.max_steps, "MAX_STEPS"),
        ("hidden size H", max(widths), s.max_hidden, "MAX_HIDDEN"),
        ("work T·Σ H_k·(R_k + D_k)", work, s.max_work, "MAX_WORK"),
    ):
        if value > limit:
            raise ModelError(f"{what} is {value:,}, above the limit of {limit:,} (LSTMX_{name})")
