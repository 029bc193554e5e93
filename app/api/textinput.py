"""Text through a vocabulary: input {"text": ..., "vocab": [...], "level": "char" | "word"}.

For a model with an embedding the text becomes token ids (its alphabet, if given instead of a
vocabulary, is a vocabulary of characters); for one without, one-hot rows over the vocabulary.
The tokeniser is app/engine/formats/vocab.py; the errors name the unknown token and its position.
"""

from __future__ import annotations

import numpy as np

from ..engine.formats.vocab import VocabError, check_vocab, tokenize
from ..settings import Settings
from .errors import RequestError
from .limits import check_shape_limits
from .schemas import TraceRequest


def uses_vocab(req: TraceRequest) -> bool:
    inp = req.input
    return inp.vocab is not None or (req.model.embedding is not None and inp.text is not None)


def text_through_vocab(req: TraceRequest, s: Settings) -> tuple[np.ndarray, str | None]:
    inp, emb = req.input, req.model.embedding
    others = [k for k in ("sequence", "tokens", "task") if getattr(inp, k) is not None]
    if inp.text is None or others:
        raise RequestError(
            ("body", "input", "vocab"), "a vocabulary goes with input.text, and only with it"
        )
    tokens = inp.vocab if inp.vocab is not None else list(inp.alphabet or "")
    if not tokens:
        raise RequestError(
            ("body", "input", "vocab"),
            "a model with an embedding reads token ids: give input.tokens, or input.text with "
            "input.vocab (the tokens in id order) or an alphabet",
        )
    if inp.vocab is None and inp.level == "word":
        raise RequestError(("body", "input", "level"), "an alphabet is characters: level 'char'")
    try:
        ids = tokenize(inp.text, check_vocab(tokens, s.max_vocab), inp.level)
    except VocabError as exc:
        raise RequestError(("body", "input", "text"), str(exc)) from None
    if emb is not None:
        if len(tokens) > emb.num_embeddings:
            raise RequestError(
                ("body", "input", "vocab"),
                f"the vocabulary has {len(tokens)} tokens, the embedding only "
                f"{emb.num_embeddings} rows",
            )
        check_shape_limits(req, len(ids), emb.embedding_dim, s)
        return np.asarray(ids, dtype=np.int64), None
    check_shape_limits(req, len(ids), len(tokens), s)
    X = np.zeros((len(ids), len(tokens)))
    X[np.arange(len(ids)), ids] = 1.0
    return X, None
