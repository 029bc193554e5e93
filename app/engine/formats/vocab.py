"""Vocabularies: reading one from a file, and text -> token ids by characters or words.

A vocabulary is the list of tokens in id order (token k is row k of the embedding). Files:
a JSON list of strings, a JSON object {token: id} with ids 0..V-1 (Hugging Face's vocab.json),
or plain text with one token a line (PyTorch's word_language_model dictionary order).
An unknown token is an error naming it and its position, unless the vocabulary has an
unknown-token entry ("<unk>", "<UNK>", "[UNK]"), which it then maps to, as the model was
trained to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

UNKNOWN_TOKENS = ("<unk>", "<UNK>", "[UNK]")
LEVELS = ("char", "word")
MAX_TOKEN_CHARS = 100
VOCAB_SUFFIXES = (".txt", ".json", ".vocab")


class VocabError(ValueError):
    """A vocabulary or a text that cannot be used; the message names the token and why."""


def parse_vocab(data: bytes, filename: str, max_tokens: int, max_bytes: int) -> list[str]:
    """The tokens of a vocabulary file, in id order, checked (count, length, repeats)."""
    if not filename.lower().endswith(VOCAB_SUFFIXES):
        raise VocabError(
            f"unsupported vocabulary file {filename!r}: upload a {', '.join(VOCAB_SUFFIXES)} "
            "file (a JSON list or {token: id} object, or one token a line)"
        )
    if len(data) > max_bytes:
        raise VocabError(f"the vocabulary file is {len(data)} bytes, over the limit of {max_bytes}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise VocabError(f"the vocabulary file is not UTF-8 text: {exc}") from None
    if filename.lower().endswith(".json"):
        tokens = _from_json(text)
    else:
        tokens = text.split("\n")
        if tokens and tokens[-1] == "":  # the newline that ends the last line
            tokens.pop()
        tokens = [t.removesuffix("\r") for t in tokens]
    return check_vocab(tokens, max_tokens)


def _from_json(text: str) -> list[str]:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise VocabError(f"the vocabulary file is not valid JSON: {exc}") from None
    if isinstance(value, dict):
        ids = sorted(value.values()) if all(type(v) is int for v in value.values()) else None
        if ids != list(range(len(value))):
            raise VocabError(
                "a JSON vocabulary object must map each token to its id, the ids 0..V-1 once each"
            )
        return sorted(value, key=value.__getitem__)
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise VocabError("a JSON vocabulary must be a list of strings or an object {token: id}")
    return value


def check_vocab(tokens: Sequence[str], max_tokens: int) -> list[str]:
    if not tokens:
        raise VocabError("the vocabulary is empty")
    if len(tokens) > max_tokens:
        raise VocabError(f"the vocabulary has {len(tokens)} tokens, over the limit of {max_tokens}")
    seen: dict[str, int] = {}
    for k, token in enumerate(tokens):
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise VocabError(
                f"vocabulary token {k} is {'empty' if not token else f'{len(token)} characters'}"
                f"; tokens are 1 to {MAX_TOKEN_CHARS} characters"
            )
        if token in seen:
            raise VocabError(f"vocabulary token {token!r} appears twice (ids {seen[token]}, {k})")
        seen[token] = k
    return list(tokens)


def split(text: str, level: str) -> list[str]:
    """The text's tokens: its characters, or its words (split on whitespace)."""
    if level not in LEVELS:
        raise VocabError(f"level must be one of {LEVELS}, got {level!r}")
    return list(text) if level == "char" else text.split()


def tokenize(text: str, tokens: Sequence[str], level: str) -> list[int]:
    """Token ids of the text; an unknown token maps to the vocabulary's <unk>, or is an error."""
    index = {token: k for k, token in enumerate(tokens)}
    unknown = next((index[u] for u in UNKNOWN_TOKENS if u in index), None)
    ids = []
    for position, token in enumerate(split(text, level)):
        k = index.get(token, unknown)
        if k is None:
            raise VocabError(
                f"{'character' if level == 'char' else 'word'} {token!r} (token {position}) is "
                "not in the vocabulary, which has no <unk> entry to stand for it"
            )
        ids.append(k)
    if not ids:
        raise VocabError("the text holds no tokens")
    return ids
