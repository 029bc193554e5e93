"""Model cards: one folder per model under models/, found by listing (drop a folder in to add
a model). A folder holds

    card.json       what the model is and what to look for (fields below)
    <weights file>  named by the card's "weights": .npz or .safetensors, PyTorch names (a
                    torch state_dict as it is: one common dotted prefix is stripped, the
                    readout may be called readout/fc/linear/head/out/decoder)

card.json (required fields first):
    slug, title, task, cell     the slug is the folder's name and the URL's ?model=<slug>
    weights                     the weight file's name, beside the card
    metric                      {"name", "value", "baseline", ...}: held-out, against the
                                baseline a constant guess (or an untrained network) scores
    look_for                    one sentence: which unit, which gate, which steps
    units                       [{"layer", "unit", "field", "what"}]: the units worth seeing
    step                        the step worth opening at
    training                    {"command", "seed", "seconds", ...}: how it was trained
    model (optional)            what the weights cannot say: variant, init, nonlinearity
    alphabet | vocab (optional) a text model's characters (one-hot or embedding rows) in order
    example (optional)          an input as the model reads it: {"text"} or {"sequence"}
    trained_on, heldout, train_max_n, search, ... (optional) task facts and the claims'
                                details, passed through to GET /api/gallery/{slug}'s card

The weights are read once per process (they are small) through the same safe reader as an
upload (app/engine/formats/weights.py: no pickle), and checked against the model's shapes.
Paths are relative to this file, so the package works wherever it is installed.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.formats.weights import load_weights
from ..engine.params import model_params

MODELS = Path(__file__).resolve().parent / "models"
REQUIRED = ("slug", "title", "task", "cell", "weights", "metric", "look_for", "units", "step")
TEXT_KEYS = ("alphabet", "vocab")  # a text model's symbols travel with the model object
SPEC_KEYS = ("variant", "init", "nonlinearity", "output_size")  # what a weight file can't say


class GalleryError(ValueError):
    """A card or weight file that cannot be used; the message names the folder and field."""


@dataclass(frozen=True)
class Card:
    card: dict[str, Any]  # card.json as written
    model: dict[str, Any]  # the model object /api/trace takes: weights inline, alphabet/vocab

    @property
    def slug(self) -> str:
        return str(self.card["slug"])


def _read(folder: Path) -> Card:
    where = f"gallery model {folder.name!r}"
    try:
        card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GalleryError(f"{where}: card.json cannot be read: {exc}") from None
    missing = [k for k in REQUIRED if k not in card]
    if missing:
        raise GalleryError(f"{where}: card.json lacks {missing}")
    if card["slug"] != folder.name:
        raise GalleryError(f"{where}: card.json's slug {card['slug']!r} is not the folder's name")
    path = folder / str(card["weights"])
    if path.parent != folder or path.suffix not in (".npz", ".safetensors"):
        raise GalleryError(f"{where}: weights must name a .npz or .safetensors file beside it")
    given = card.get("model") or {}
    # a plain RNN's file cannot say tanh or relu: the card does (tanh when it does not)
    nonlinearity = given.get("nonlinearity", "tanh") if card["cell"] == "rnn" else None
    try:
        model = load_weights(path.read_bytes(), path.name, nonlinearity=nonlinearity)
    except (OSError, ValueError) as exc:
        raise GalleryError(f"{where}: {path.name}: {exc}") from None
    model.update({k: given[k] for k in SPEC_KEYS if k in given})
    if model.get("cell") != card["cell"]:
        raise GalleryError(
            f"{where}: the card says {card['cell']!r}, the weights {model.get('cell')!r}"
        )
    try:
        model_params(model)  # shapes, finiteness: a card that cannot run never ships
    except ValueError as exc:
        raise GalleryError(f"{where}: {exc}") from None
    model.update({k: card[k] for k in TEXT_KEYS if k in card})
    return Card(card, model)


@functools.lru_cache(maxsize=1)
def all_cards() -> tuple[Card, ...]:
    """Every model of the gallery, ordered by the card's "order" (then slug)."""
    folders = sorted(p for p in MODELS.iterdir() if (p / "card.json").is_file())
    cards = [_read(folder) for folder in folders]
    return tuple(sorted(cards, key=lambda c: (c.card.get("order", 100), c.slug)))


def get_card(slug: str) -> Card | None:
    return next((c for c in all_cards() if c.slug == slug), None)


def summary(card: Card) -> dict[str, Any]:
    """The list entry of GET /api/gallery: the card (its claims' details included) without the
    file name and spec, plus the model's hidden size."""
    out = {k: v for k, v in card.card.items() if k not in ("weights", "model")}
    m = card.model
    out["hidden_size"] = m.get("hidden_size")
    # the gradient lab runs one layer of one width on a short input (not an embedding)
    example = card.card.get("example") or {}
    steps = len(example.get("text") or example.get("sequence") or [])
    out["lab"] = (m.get("num_layers", 1) == 1 and not m.get("embedding")
                  and not m.get("bidirectional") and isinstance(m.get("hidden_size"), int)
                  and m.get("cell") in ("lstm", "rnn", "gru") and 0 < steps <= 400)  # fmt: skip
    return out
