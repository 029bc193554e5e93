"""Train the gallery's models with the engine's own trainer and write their cards.

    python gallery/train.py                 every model below, one after the other
    python gallery/train.py latch-lstm      one (or several) by slug
    make gallery                            the same as the first line

Each model lands in app/gallery/models/<slug>/: weights.npz (PyTorch names, float64) and
card.json (what it is, how it was trained, its held-out metric against the baseline, the unit
worth looking at and an example input). The unit and the step are found by gallery/looks.py
with the same scores the app's Find-the-unit search uses; tests/gallery/
checks every claim of every card through the API. Nothing in the tests or CI runs this file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from looks import LOOK, search_rank  # noqa: E402  (gallery/looks.py, beside this file)

from app.engine.training.train import TrainConfig, Trainer  # noqa: E402

OUT = ROOT / "app" / "gallery" / "models"

# slug -> task, length, model, trainer settings (steps, lr, ...) and the card's words
RECIPES: dict[str, dict[str, Any]] = {
    "latch-lstm": {
        "order": 1,
        "title": "Latch: an LSTM keeps one bit through 100 steps of noise",
        "task": "latch", "length": 100, "cell": "lstm", "hidden_size": 8, "forget_bias": 3.0,
        "steps": 1500, "lr": 0.01, "seed": 0,
    },
    "latch-rnn": {
        "order": 2,
        "title": "Latch: a tanh RNN forgets the bit",
        "task": "latch", "length": 100, "cell": "rnn", "hidden_size": 8, "forget_bias": 0.0,
        "steps": 1500, "lr": 0.01, "seed": 0,
    },
    "adding-lstm": {
        "order": 3,
        "title": "Adding problem: an LSTM adds two marked numbers 100 steps apart",
        "task": "adding", "length": 100, "cell": "lstm", "hidden_size": 16, "forget_bias": 2.0,
        "steps": 2000, "lr": 0.01, "seed": 1,
    },
    "adding-rnn": {
        "order": 4,
        "title": "Adding problem: a tanh RNN guesses the average",
        "task": "adding", "length": 100, "cell": "rnn", "hidden_size": 16, "forget_bias": 0.0,
        "steps": 1500, "lr": 0.01, "seed": 0,
    },
    "reber-lstm": {
        "order": 5,
        "title": "Continual embedded Reber: the forget gate resets the cell between strings",
        "task": "embedded_reber", "length": 100, "cell": "lstm", "hidden_size": 16,
        "forget_bias": 2.0, "steps": 2500, "lr": 0.01, "seed": 0,
    },
    "anbn-lstm": {
        "order": 6,
        "title": "a\u207fb\u207f: a cell that counts",
        "task": "anbn", "length": 21, "cell": "lstm", "hidden_size": 4, "forget_bias": 2.0,
        "steps": 4000, "lr": 0.01, "seed": 0,
    },
}  # fmt: skip


def train_one(slug: str, steps: int | None, seed: int | None, card_only: bool = False) -> None:
    r = dict(RECIPES[slug])
    if steps is not None:
        r["steps"] = steps
    if seed is not None:
        r["seed"] = seed
    cfg = TrainConfig(task=r["task"], length=r["length"], steps=r["steps"], lr=r["lr"],
                      seed=r["seed"], batch_size=32, clip=1.0)  # fmt: skip
    init = {"seed": r["seed"], "forget_bias": r["forget_bias"]}
    model_in: dict[str, Any] = {"cell": r["cell"], "hidden_size": r["hidden_size"], "init": init}
    old = json.loads((OUT / slug / "card.json").read_text()) if card_only else None
    if old is not None:  # the shipped weights, as they are
        with np.load(OUT / slug / "weights.npz") as z:
            model_in["weights"] = {k: z[k] for k in z.files}
    tr = Trainer(cfg, model_in)
    t0 = time.perf_counter()
    while not tr.finished and old is None:
        losses_, _ = tr.train_steps(100)
        ev = tr.evaluate()
        print(f"{slug} step {tr.step}: loss {np.mean(losses_):.4f} held-out {ev}", flush=True)
    seconds = time.perf_counter() - t0
    ev = tr.evaluate()
    task = tr.task
    base_loss, base_metric = task.baselines(r["length"])
    model = tr.model_dict()
    look = LOOK[r["task"]](model, r)
    look.pop("_mask", None)
    if "search" in look:
        look["search"].update(search_rank(model, look["example"], look.get("alphabet"),
                                          look["search"], look["unit"]))  # fmt: skip
    out = OUT / slug
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "weights.npz", **{k: np.asarray(v) for k, v in model["weights"].items()})
    spec = {k: v for k, v in model.items() if k not in ("weights", "init")}
    spec["init"] = init
    card = {
        "slug": slug,
        "order": r["order"],
        "title": r["title"],
        "task": r["task"],
        "task_summary": task.summary,
        "cell": r["cell"],
        "model": spec,
        "weights": "weights.npz",
        "training": {
            "command": f"python gallery/train.py {slug}",
            "trainer": "app.engine.training.train.Trainer",
            "seed": r["seed"], "task_seed": cfg.task_seed, "length": r["length"],
            "steps": cfg.steps, "batch_size": cfg.batch_size, "optimizer": cfg.optimizer,
            "lr": cfg.lr, "clip": cfg.clip, "forget_bias": r["forget_bias"],
            "seconds": old["training"]["seconds"] if old else round(seconds, 1),
        },
        "metric": {
            "name": task.metric, "value": ev[task.metric], "baseline": base_metric,
            "loss": ev["loss"], "baseline_loss": base_loss, "solved_at": task.solved,
        },
        "heldout": f"{cfg.eval_size} sequences of length {r['length']} from the task's "
                   "held-out stream (default_rng((task seed, 0x5EED)))",
        "trained_on": f"{cfg.steps * cfg.batch_size} sequences of length {r['length']}, "
                      f"generated by the task with seed ({cfg.task_seed}, {r['seed']})",
        **{k: v for k, v in look.items() if k not in ("unit", "field")},
    }  # fmt: skip
    (out / "card.json").write_text(dumps(card))
    print(f"{slug}: {task.metric} {ev[task.metric]:.4f} (baseline {base_metric:.4f}) in "
          f"{card['training']['seconds']:.0f} s; {card['look_for']}", flush=True)  # fmt: skip


def dumps(card: dict) -> str:
    """JSON with one line per list of numbers (an example sequence stays readable)."""
    text = json.dumps(card, indent=1, ensure_ascii=False)
    flat = re.compile(r"\[\s*([-+0-9.eE,\s]*?)\s*\]")
    while True:
        new = flat.sub(lambda m: "[" + re.sub(r"\s+", " ", m.group(1)).strip() + "]", text)
        if new == text:
            return text + "\n"
        text = new


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("slugs", nargs="*", help=f"models to train (default all): {list(RECIPES)}")
    ap.add_argument("--steps", type=int, help="override the optimiser steps (a quick try)")
    ap.add_argument("--seed", type=int, help="override the seed (weights and batch order)")
    ap.add_argument(
        "--card-only",
        action="store_true",
        help="keep the weights and the training figures, write the card again",
    )
    args = ap.parse_args()
    for slug in args.slugs or list(RECIPES):
        train_one(slug, args.steps, args.seed, args.card_only)


if __name__ == "__main__":
    main()
