"""MODEL and INPUT of `lstm-explainer trace` / `html`: from a file, a gallery slug or the
command line to the `model` and `input` objects of POST /api/trace (DESIGN.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

TEXT_KEYS = ("alphabet", "vocab")  # a text model's symbols may travel with its model object
ARRAY_SUFFIXES = (".npy", ".json")
IDS = re.compile(r"\s*\d+(\s*[,\s]\s*\d+)*\s*")


class CLIError(Exception):
    """A problem with what the command was given; the message says which argument and why."""


def load_model(ref: str, nonlinearity: str | None = None) -> dict[str, Any]:
    """The model object: a model JSON file (the `model` object of /api/trace, or a body that
    holds one under "model"), a weight file, or the slug of a gallery model."""
    path = Path(ref)
    if path.is_file():
        if path.suffix.lower() == ".json":
            return _model_json(path)
        return _weight_file(path, nonlinearity)
    model = _gallery_model(ref)
    if model is None:
        raise CLIError(
            f"MODEL {ref!r}: no such file, and no gallery model of that name{_gallery_names()}"
        )
    return model


def _model_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CLIError(f"MODEL {str(path)!r} is not a JSON file: {exc}") from None
    if isinstance(value, dict) and isinstance(value.get("model"), dict):
        value = value["model"]  # a whole /api/trace body, or a saved answer with its model
    if not isinstance(value, dict):
        raise CLIError(
            f"MODEL {str(path)!r} must hold a JSON object: the model, as POST /api/trace takes "
            f'it ({{"cell": "lstm", "hidden_size": 8, "weights": {{...}}}})'
        )
    return value


def _weight_file(path: Path, nonlinearity: str | None) -> dict[str, Any]:
    from ..engine.formats.weights import WeightsError, load_weights
    from ..settings import get_settings

    limit = get_settings().max_upload_bytes
    if path.stat().st_size > limit:
        raise CLIError(
            f"MODEL {str(path)!r} is {path.stat().st_size} bytes, over the limit of {limit} "
            "(raise it with LSTMX_MAX_UPLOAD_BYTES)"
        )
    try:
        return load_weights(path.read_bytes(), path.name, limit, nonlinearity=nonlinearity)
    except WeightsError as exc:
        raise CLIError(f"MODEL {str(path)!r}: {exc}") from None


def _gallery_model(slug: str) -> dict[str, Any] | None:
    try:
        from ..gallery import get_card  # type: ignore[attr-defined, unused-ignore]
    except ImportError:  # a build without the gallery
        return None
    card = get_card(slug)
    return None if card is None else dict(card.model)


def _gallery_names() -> str:
    try:
        from ..gallery import all_cards  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        return ""
    return f" (the gallery has: {', '.join(c.slug for c in all_cards())})"


def load_vocab(ref: str) -> list[str]:
    """A vocabulary file: a JSON list or {token: id} object, or one token a line."""
    from ..engine.formats.vocab import VocabError, parse_vocab
    from ..settings import get_settings

    path = Path(ref)
    if not path.is_file():
        raise CLIError(f"--vocab {ref!r}: no such file")
    try:
        return parse_vocab(path.read_bytes(), path.name, get_settings().max_vocab, 64 * 2**20)
    except VocabError as exc:
        raise CLIError(f"--vocab {ref!r}: {exc}") from None


def read_input(ref: str, tokens: bool) -> str | list[int] | np.ndarray:
    """INPUT as text, token ids or an array: a .npy or .json file holds a sequence (T, D) or
    token ids (T,); a .txt file holds text; with `tokens`, INPUT is ids like "3,1,4"; anything
    else is the text itself."""
    if not ref:
        raise CLIError("INPUT is empty: give text, a .npy/.json/.txt file, or token ids")
    path = Path(ref)
    suffix = path.suffix.lower()
    if suffix in ARRAY_SUFFIXES and path.is_file():
        array = _array_file(path)
        if tokens and array.dtype.kind not in "iu":
            raise CLIError(f"INPUT {ref!r}: --tokens wants integer token ids, got {array.dtype}")
        return array
    if suffix == ".txt" and path.is_file():
        return path.read_text(encoding="utf-8")
    if tokens:
        if not IDS.fullmatch(ref):
            raise CLIError(
                f"INPUT {ref[:40]!r}: with --tokens, give token ids separated by commas or "
                'spaces ("3,1,4,1"), or a .npy/.json file of them'
            )
        return [int(x) for x in re.split(r"[,\s]+", ref.strip())]
    return ref


def _array_file(path: Path) -> np.ndarray:
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
        else:
            array = np.asarray(json.loads(path.read_text(encoding="utf-8-sig")))
    except (ValueError, OSError, RecursionError) as exc:
        raise CLIError(f"INPUT {str(path)!r} cannot be read as an array: {exc}") from None
    if array.ndim not in (1, 2) or array.size == 0 or array.dtype.kind not in "iuf":
        raise CLIError(
            f"INPUT {str(path)!r} must hold numbers: a sequence of T rows of D numbers, T "
            f"numbers (D = 1) or T token ids; got shape {array.shape} of {array.dtype}"
        )
    return array


def input_object(
    inputs: str | list[int] | np.ndarray,
    model: dict[str, Any],
    alphabet: str | None = None,
    vocab: list[str] | None = None,
    level: str | None = None,
) -> dict[str, Any]:
    """The `input` object of POST /api/trace. Text reads through --vocab / --alphabet, else
    through the model's own alphabet or vocabulary when it carries one, else one-hot over its
    characters. Integer arrays are token ids for a model with an embedding."""
    if isinstance(inputs, str):
        out: dict[str, Any] = {"text": inputs}
        if vocab is None and alphabet is None:
            vocab, alphabet = model.get("vocab"), model.get("alphabet")
        if vocab is not None:
            out["vocab"] = list(vocab)
        elif alphabet is not None:
            out["alphabet"] = alphabet if isinstance(alphabet, str) else "".join(alphabet)
        if level is not None:
            out["level"] = level
        return out
    if alphabet is not None or vocab is not None:
        raise CLIError("--alphabet and --vocab apply to a text INPUT only")
    array = np.asarray(inputs)
    if model.get("embedding") is not None:
        if array.ndim != 1 or array.dtype.kind not in "iu":
            raise CLIError(
                f"the model has an embedding: INPUT must be token ids (T integers) or text, "
                f"got an array of shape {array.shape} of {array.dtype}"
            )
        return {"tokens": array.astype(np.int64).tolist()}
    if isinstance(inputs, list):
        raise CLIError("--tokens needs a model with an embedding; this one reads rows of numbers")
    rows = array[:, None] if array.ndim == 1 else array
    return {"sequence": rows.astype(np.float64).tolist()}


def model_object(model: dict[str, Any]) -> dict[str, Any]:
    """The model without the fields the request's model object does not take (a gallery
    model's alphabet or vocabulary goes into the input instead)."""
    from ..api.schemas import ModelIn

    return {k: v for k, v in model.items() if k in ModelIn.model_fields or k not in TEXT_KEYS}
