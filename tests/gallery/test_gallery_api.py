"""GET /api/gallery and /api/gallery/{slug}: the list, the model objects /api/trace takes as
they are, the cards' required fields, a clear 404, and the gallery's size."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.gallery import cards as gallery_cards

from .runs import model, trace

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = {"slug", "title", "task", "cell", "metric", "look_for", "units", "step"}


def test_the_gallery_lists_at_least_six_models_with_their_cards(cards):
    assert len(cards) >= 6
    for slug, card in cards.items():
        assert SUMMARY <= set(card), slug
        assert {"name", "value", "baseline"} <= set(card["metric"]), slug
        assert card["units"] and {"layer", "unit", "field", "what"} <= set(card["units"][0])
        assert card["look_for"].strip(), slug
        # the command names a committed training script (engine-trained or torch-trained)
        script = next(w for w in card["training"]["command"].split() if w.endswith(".py"))
        assert script.startswith("gallery/train") and (ROOT / script).is_file(), slug


def test_every_model_opens_through_api_trace_on_its_example(client, cards):
    for slug, card in cards.items():
        m = model(client, slug)
        assert m["cell"] == card["cell"] and m["weights"], slug
        tr = trace(client, m, card["example"])
        u = card["units"][0]
        assert tr["hidden_size"] == card["hidden_size"] and u["unit"] < tr["hidden_size"], slug
        assert 0 <= card["step"] < tr["steps"], slug


def test_a_text_model_carries_its_alphabet_and_reads_text_with_it(client, cards):
    text_models = [s for s, c in cards.items() if "text" in c["example"]]
    assert text_models, "the gallery has models that read text (a^n b^n, Reber)"
    for slug in text_models:
        m = model(client, slug)
        assert m["alphabet"] == cards[slug]["alphabet"]
        assert set(cards[slug]["example"]["text"]) <= set(m["alphabet"])
        tr = trace(client, m, {"text": cards[slug]["example"]["text"]})  # no alphabet given
        if "embedding" not in m:  # one-hot rows in the model's own order, not the text's sorted
            assert tr["alphabet"] == m["alphabet"]
        else:  # token ids: the rows of the embedding, in the alphabet's order
            assert tr["steps"] == len(cards[slug]["example"]["text"])


def test_an_unknown_slug_is_a_404_naming_the_known_ones(client, cards):
    r = client.get("/api/gallery/no-such-model")
    assert r.status_code == 404
    msg = r.json()["detail"][0]["msg"]
    assert "no-such-model" in msg and all(slug in msg for slug in cards)


def test_the_gallery_is_small():
    size = sum(p.stat().st_size for p in gallery_cards.MODELS.rglob("*") if p.is_file())
    assert size < 20 * 2**20


def test_cards_load_from_the_package_wherever_the_process_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    gallery_cards.all_cards.cache_clear()
    try:
        assert len(gallery_cards.all_cards()) >= 6
    finally:
        gallery_cards.all_cards.cache_clear()
    assert os.getcwd() == str(tmp_path)


def test_a_card_whose_weights_do_not_fit_is_refused(tmp_path):
    src = gallery_cards.MODELS / "latch-lstm"
    folder = tmp_path / "latch-lstm"
    folder.mkdir()
    (folder / "card.json").write_text((src / "card.json").read_text().replace('"lstm"', '"gru"'))
    (folder / "weights.npz").write_bytes((src / "weights.npz").read_bytes())
    with pytest.raises(gallery_cards.GalleryError, match="card says 'gru'"):
        gallery_cards._read(folder)


def test_a_dropped_in_folder_is_a_model_torch_names_and_embedding_included(
    client, tmp_path, monkeypatch
):
    """Adding a model is dropping a folder: a torch state_dict as it is (module prefixes, an
    nn.Embedding, an nn.Linear head) in .safetensors beside a card with an alphabet; the text
    is read through the model's own alphabet, with no vocabulary given."""
    import json

    import numpy as np
    import safetensors.numpy

    rng = np.random.default_rng(3)
    V, D, H = 5, 3, 4
    G = 4 * H
    sd = {"embed.weight": rng.normal(size=(V, D)), "lstm.weight_ih_l0": rng.normal(size=(G, D)),
          "lstm.weight_hh_l0": rng.normal(size=(G, H)), "lstm.bias_ih_l0": rng.normal(size=G),
          "lstm.bias_hh_l0": rng.normal(size=G), "fc.weight": rng.normal(size=(V, H)),
          "fc.bias": rng.normal(size=V)}  # fmt: skip
    folder = tmp_path / "toy-charlm"
    folder.mkdir()
    safetensors.numpy.save_file({k: v.astype(np.float32) for k, v in sd.items()},
                                str(folder / "model.safetensors"))  # fmt: skip
    card = {"slug": "toy-charlm", "title": "A toy", "task": "charlm", "cell": "lstm",
            "weights": "model.safetensors", "alphabet": "ab c\n", "step": 2,
            "metric": {"name": "bpc", "value": 2.0, "baseline": 2.3}, "look_for": "nothing yet",
            "units": [{"layer": 0, "unit": 1, "field": "c", "what": "a toy"}],
            "training": {"command": "python gallery/train_charlm.py", "seed": 0},
            "example": {"text": "ab c\nba"}}  # fmt: skip
    (folder / "card.json").write_text(json.dumps(card))
    monkeypatch.setattr(gallery_cards, "MODELS", tmp_path)
    gallery_cards.all_cards.cache_clear()
    try:
        listed = client.get("/api/gallery").json()
        assert [c["slug"] for c in listed] == ["toy-charlm"] and listed[0]["lab"] is False
        m = model(client, "toy-charlm")
        assert m["embedding"] == {"num_embeddings": V, "embedding_dim": D}
        assert m["output_size"] == V and m["alphabet"] == "ab c\n"
        tr = trace(client, m, card["example"])
        assert tr["steps"] == 7 and len(tr["outputs"][0]) == V
        # the same ids as the alphabet's order: "b" is row 1 of the embedding
        x = np.array(tr["inputs"])
        np.testing.assert_allclose(x[1], sd["embed.weight"][1].astype(np.float32), rtol=1e-6)
    finally:
        gallery_cards.all_cards.cache_clear()


@pytest.mark.parametrize("coding", ["zstd", "gzip", "identity"])
def test_a_gallery_model_is_encoded_once_and_revalidates_with_304(client, coding):
    slug = "charlm-python"  # 7.8 MB of JSON: what a lesson's every stop would fetch again
    first = client.get(f"/api/gallery/{slug}", headers={"Accept-Encoding": coding})
    assert first.status_code == 200
    assert first.headers.get("content-encoding") == (None if coding == "identity" else coding)
    assert first.headers["cache-control"] == "no-cache"  # kept, but asked again after an upgrade
    assert first.json() == gallery_cards.get_card(slug).model
    etag = first.headers["etag"]
    again = client.get(
        f"/api/gallery/{slug}", headers={"Accept-Encoding": coding, "If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b""
    other = client.get(
        "/api/gallery/latch-lstm", headers={"Accept-Encoding": coding, "If-None-Match": etag}
    )
    assert other.status_code == 200 and other.headers["etag"] != etag
