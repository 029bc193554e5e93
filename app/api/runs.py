"""From a validated request to an engine run: resolve the input, check the limits, prepare.

Everything here is cheap (no arrays of the requested size are allocated before the limits
pass); the heavy work happens in the engine, which callers run off the event loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import Run, prepare
from ..engine.training import tasks
from ..settings import Settings
from .errors import RequestError
from .limits import check_shape_limits
from .schemas import TraceRequest
from .textinput import text_through_vocab, uses_vocab


def resolve_input(req: TraceRequest, s: Settings) -> tuple[np.ndarray, str | None]:
    """The (T, D) input and, for text, its alphabet. Exactly one input kind must be given.
    For a model with an embedding, the token ids (T,) (checked against its vocabulary)."""
    inp = req.input
    if inp.text is not None and inp.alphabet is None and inp.vocab is None:
        inp.alphabet, inp.vocab = req.model.alphabet, req.model.vocab  # the model's symbols
    if uses_vocab(req):
        return text_through_vocab(req, s)
    given = [k for k in ("sequence", "text", "task", "tokens") if getattr(inp, k) is not None]
    if len(given) != 1:
        raise RequestError(
            ("body", "input"),
            "input needs exactly one of sequence, text, task or tokens; this one has "
            f"{given or 'none'}",
        )
    emb = req.model.embedding
    if (emb is None) != (inp.tokens is None):
        raise RequestError(
            ("body", "input", "tokens"),
            "a model with an embedding reads token ids: give input.tokens"
            if emb is not None
            else "input.tokens needs a model with an embedding (model.embedding)",
        )
    if inp.tokens is not None and emb is not None:
        check_shape_limits(req, len(inp.tokens), emb.embedding_dim, s)
        ids = np.asarray(inp.tokens, dtype=np.int64)
        bad = np.flatnonzero(ids >= emb.num_embeddings)
        if bad.size:
            n = int(bad[0])
            raise RequestError(
                ("body", "input", "tokens", n),
                f"token id {int(ids[n])} is not in the embedding: ids lie in "
                f"[0, {emb.num_embeddings - 1}]",
            )
        return ids, None
    if inp.task is not None:
        D = tasks.width(inp.task.name)
        check_shape_limits(req, inp.task.length, D, s)
        X, _ = tasks.generate(inp.task.name, inp.task.length, 1, inp.task.seed)
        return X[0], None
    if inp.text is not None:
        if len(inp.text) > s.max_text:
            raise RequestError(
                ("body", "input", "text"),
                f"text is longer than {s.max_text} characters (LSTMX_MAX_TEXT): shorten it",
            )
        alphabet = inp.alphabet if inp.alphabet is not None else "".join(sorted(set(inp.text)))
        repeats = sorted({ch for ch in alphabet if alphabet.count(ch) > 1})
        if not alphabet or repeats:
            why = f"repeats {repeats}" if repeats else "is empty"
            raise RequestError(
                ("body", "input", "alphabet"),
                f"alphabet {why}: list each character once, or leave alphabet out (it then "
                "follows from the text)",
            )
        missing = sorted(set(inp.text) - set(alphabet))
        if missing:
            raise RequestError(
                ("body", "input", "text"),
                f"text has characters not in the alphabet: {missing}; add them to alphabet, or "
                "leave alphabet out (it then follows from the text)",
            )
        check_shape_limits(req, len(inp.text), len(alphabet), s)
        index = {ch: k for k, ch in enumerate(alphabet)}
        X = np.zeros((len(inp.text), len(alphabet)))
        X[np.arange(len(inp.text)), [index[ch] for ch in inp.text]] = 1.0
        return X, alphabet
    seq = inp.sequence or []
    widths = {len(row) for row in seq}
    if len(widths) > 1:
        odd = next(t for t, row in enumerate(seq) if len(row) != len(seq[0]))
        raise RequestError(
            ("body", "input", "sequence"),
            f"every row of sequence must have the same width (the input size D): row 0 has "
            f"{len(seq[0])} numbers, row {odd} has {len(seq[odd])}",
        )
    D = widths.pop() if widths else (req.model.input_size or 1)
    if D == 0:
        raise RequestError(
            ("body", "input", "sequence"),
            "the rows of sequence are empty: each row holds the D input numbers of one step",
        )
    check_shape_limits(req, len(seq), D, s)
    return np.asarray(seq, dtype=np.float64).reshape(len(seq), D), None


def model_dict(req: TraceRequest, D: int) -> dict[str, Any]:
    """The engine's model dict; D the input's width (an embedding's embedding_dim)."""
    if req.model.input_size is not None and req.model.input_size != D:
        raise RequestError(
            ("body", "model", "input_size"),
            f"model.input_size is {req.model.input_size} but the input has width {D}: leave "
            f"model.input_size out (it follows from the input) or set it to {D}",
        )
    model = req.model.model_dump()
    model["input_size"] = D
    return model


def build_run(req: TraceRequest, s: Settings) -> tuple[Run, dict[str, Any]]:
    """Validate everything and prepare the run; return it with the answer's extra fields."""
    X, alphabet = resolve_input(req, s)
    if X.shape[0] == 0:
        raise RequestError(("body", "input"), "the input sequence is empty: give at least one step")
    emb = req.model.embedding
    D = X.shape[1] if emb is None else emb.embedding_dim
    model = model_dict(req, D)
    loss = req.loss.model_dump() if req.loss.kind != "sum_last" else None
    clamp = [c.model_dump() for c in req.clamp] if req.clamp else None
    try:
        run = prepare(model, X, loss, req.dtype, clamp)
    except ValueError as exc:  # the engine's own checks name the field
        raise RequestError(("body",), str(exc)) from None
    extra = {"input_size": D, "alphabet": alphabet, "dtype": req.dtype}
    if emb is not None:
        extra["tokens"] = X
    return run, extra
