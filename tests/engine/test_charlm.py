"""charlm: the text, its windows, bits per character, a small model that learns, sampling."""

from __future__ import annotations

import numpy as np
import pytest

from app.engine.training import charlm, train_tasks
from app.engine.training.train import TrainConfig, Trainer


def test_default_text_is_python_source_normalised_to_a_small_alphabet():
    text = charlm.default_text()
    assert len(text) > 50_000
    assert "def " in text and '"""' in text and "(" in text
    assert "\t" not in text and "\r" not in text
    task = train_tasks.get("charlm")
    assert task.input_size == task.output_size == len(task.alphabet) <= 100
    assert set(text) == set(task.alphabet)


def test_windows_target_the_next_character_and_held_out_is_the_texts_end():
    corpus = charlm.make_corpus("abcdefghij" * 30)
    assert len(corpus.held) == 30 and (corpus.held == corpus.train[:30]).all()
    X, y = charlm.windows(corpus.train, 7, 5, corpus.size, np.random.default_rng(0))
    assert X.shape == (7, 5, 10) and y.shape == (7, 5)
    ids = X.argmax(-1)
    assert ((ids + 1) % 10 == y).all()  # "b" follows "a", ..., "a" follows "j"
    with pytest.raises(ValueError, match="longer than the text part"):
        charlm.windows(corpus.held, 30, 1, corpus.size, np.random.default_rng(0))


def test_bits_per_char_is_cross_entropy_in_bits():
    rng = np.random.default_rng(1)
    Y = rng.normal(size=(4, 3, 5))
    target = rng.integers(0, 5, size=(4, 3))
    p = np.exp(Y) / np.exp(Y).sum(-1, keepdims=True)
    want = -np.mean(np.log2(np.take_along_axis(p, target[..., None], -1)))
    assert charlm.bits_per_char(Y, target) == pytest.approx(want, rel=1e-12)
    # a uniform prediction over V symbols costs log2 V bits
    assert charlm.bits_per_char(np.zeros((2, 2, 8)), target[:2, :2] % 8) == pytest.approx(3.0)


def test_unigram_baseline_scores_the_held_out_part_with_training_frequencies():
    corpus = charlm.make_corpus("a" * 270 + "b" * 30, held_out=0.1)  # held-out: 30 b
    p_b = (0 + 1) / (270 + 2)  # add-one smoothing
    assert charlm.unigram_bits(corpus) == pytest.approx(-np.log2(p_b))


def test_a_small_model_beats_the_unigram_baseline_on_held_out_text():
    config = TrainConfig(task="charlm", length=24, steps=150, batch_size=16, lr=0.02, seed=0)
    trainer = Trainer(config, {"cell": "lstm", "hidden_size": 16})
    before = trainer.evaluate()["bpc"]
    trainer.train_steps(config.steps)
    after = trainer.evaluate()["bpc"]
    baseline = trainer.task.baseline_metric
    assert before > baseline  # an untrained model is worse than counting characters
    assert after < baseline - 0.3, (before, after, baseline)


def test_sampling_is_seeded_draws_from_the_alphabet_and_follows_temperature():
    config = TrainConfig(task="charlm", length=8, steps=1)
    trainer = Trainer(config, {"cell": "gru", "hidden_size": 8})
    alphabet = trainer.task.alphabet
    draw = lambda temp, seed: charlm.sample(  # noqa: E731
        trainer.spec, trainer.params, alphabet, "def ", 60, temp, np.random.default_rng(seed)
    )
    a, b = draw(1.0, 3), draw(1.0, 3)
    assert a == b and len(a) == 60 and set(a) <= set(alphabet)
    assert draw(1.0, 4) != a
    # near-zero temperature: every draw is the most likely character, whatever the seed
    assert draw(1e-4, 5) == draw(1e-4, 6)
    with pytest.raises(ValueError, match="temperature must be above 0"):
        draw(0.0, 1)
