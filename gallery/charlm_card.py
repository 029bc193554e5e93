"""Measure the gallery char LM's card with the app's own engine (no torch): run it after
gallery/train_charlm.py, from the clone's root, with the app's venv:

    .venv/bin/python gallery/charlm_card.py /tmp/charlm app/gallery/models/charlm-python

It reads the trained weights (charlm.safetensors) and the training log's facts (charlm.json),
then measures what the card claims, exactly as tests/gallery/test_charlm_card.py checks them:
- bits per character over the default charlm text's held-out last tenth (chunks of 3,000
  characters, each from a zero state: the API's budgets), against the unigram baseline;
- the string-literal cell: labels from Python's tokenizer (app/engine/analysis/pysource.py)
  over the 3,000 held-out characters richest in string literals; the unit search's best unit
  (h and c of every unit) and its AUC, beside the best unit of an untrained network of the
  same size (seed 0, the default initialisation);
- cells for the position in the line, the indentation and the bracket depth (|r|).
It writes card.json and copies the weights into the gallery folder.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.engine import trace  # noqa: E402
from app.engine.analysis import units  # noqa: E402
from app.engine.analysis.pysource import string_literal_mask  # noqa: E402
from app.engine.formats.weights import load_weights  # noqa: E402
from app.engine.training import charlm  # noqa: E402

CHUNK = 3000
SLUG = "charlm-python"


def heldout(text: str) -> tuple[str, int]:
    cut = int(len(text) * (1 - charlm.HELD_OUT))
    return text[cut:], cut


def richest_window(mask: np.ndarray, n: int = CHUNK) -> int:
    """The start of the n-character window with the most marked characters (first if tied)."""
    c = np.concatenate([[0], np.cumsum(mask)])
    return int(np.argmax(c[n:] - c[:-n]))


def indentation(text: str) -> np.ndarray:
    """(T,) the leading spaces of the line each character is on."""
    out = np.zeros(len(text))
    pos = 0
    for line in text.splitlines(keepends=True):
        out[pos : pos + len(line)] = len(line) - len(line.lstrip(" "))
        pos += len(line)
    return out


def ranges(mask: np.ndarray) -> list[list[int]]:
    """Half-open [a, b) runs of True in mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2], strict=True)]


def training_facts(meta: dict) -> dict:
    """The card's training entry: the command(s) that made the weights, from the run's facts
    (a run that continued another, --init, names both and sums their steps and time)."""
    runs = [meta] if not meta.get("first") else [meta["first"], meta]
    py = "/tmp/torchvenv/bin/python gallery/train_charlm.py"
    commands = []
    for k, r in enumerate(runs):
        init = f" --init /tmp/charlm{k}/charlm.safetensors" if k else ""
        ckpt = r.get("checkpoint")  # a --keep run: the checkpoint chosen by validation
        extra = f" --seed {r['seed']} --keep" if ckpt else ""
        minutes = ckpt["run_minutes"] if ckpt else r["minutes"]
        commands.append(f"{py} --minutes {minutes:.0f} --batch {r['batch']} --lr {r['lr']}"
                        f"{extra} --out /tmp/charlm{k + 1}{init}")  # fmt: skip
        if ckpt:
            commands.append(f"cp /tmp/charlm{k + 1}/ckpt-{r['steps']}.safetensors "
                            f"/tmp/charlm{k + 1}/charlm.safetensors")  # fmt: skip
    total = sum(r["minutes"] for r in runs)
    return {"trainer": f"torch {meta['torch']} (gallery/train_charlm.py)",
            "command": " && ".join(commands),
            "card": f"python gallery/charlm_card.py /tmp/charlm{len(runs)} "
                    "app/gallery/models/charlm-python",
            "seed": meta["seed"], "steps": sum(r["steps"] for r in runs),
            "characters_seen": sum(r["characters_seen"] for r in runs), "minutes": total,
            "seconds": round(total * 60),
            "runs": [{**{k: r[k] for k in ("minutes", "steps", "lr", "batch", "seq")},
                      **({"checkpoint": r["checkpoint"]} if r.get("checkpoint") else {})}
                     for r in runs],
            **{k: meta[k] for k in ("hidden_size", "threads", "torch")}}  # fmt: skip


def longest_string_middle(mask: np.ndarray) -> int:
    """A step in the middle of the window's longest string literal: the step worth opening at."""
    runs = ranges(mask)
    a, b = max(runs, key=lambda r: r[1] - r[0]) if runs else (0, 1)
    return (a + b) // 2


def one_hot(text: str, alphabet: str) -> np.ndarray:
    index = {ch: k for k, ch in enumerate(alphabet)}
    X = np.zeros((len(text), len(alphabet)))
    X[np.arange(len(text)), [index[ch] for ch in text]] = 1.0
    return X


def best(A_by_field: dict[str, np.ndarray], score) -> dict:
    rows = []
    for field, A in A_by_field.items():
        s = score(A)
        for unit in range(A.shape[1]):
            rows.append((float(s[unit]), field, unit))
    rows.sort(key=lambda r: -r[0])
    return {"score": rows[0][0], "field": rows[0][1], "unit": rows[0][2]}


def main(src: Path, dest: Path) -> None:
    meta = json.loads((src / "charlm.json").read_text())
    if meta.get("init"):  # a continued run: the first run's facts sit beside its weights
        meta["first"] = json.loads((Path(meta["init"]).parent / "charlm.json").read_text())
    alphabet = meta["alphabet"]
    weights = load_weights((src / "charlm.safetensors").read_bytes(), "charlm.safetensors")
    model = {k: v for k, v in weights.items() if k != "weights"}
    model["weights"] = weights["weights"]
    H = model["hidden_size"]
    text = charlm.default_text()
    held, cut = heldout(text)

    # bits per character, chunk by chunk as a client of /api/trace would
    total, count = 0.0, 0
    for a in range(0, len(held) - 1, CHUNK):
        seg = held[a : a + CHUNK + 1]
        tr = trace(model, one_hot(seg[:-1], alphabet))
        Y = tr.outputs
        Z = Y - Y.max(axis=1, keepdims=True)
        logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
        ids = [alphabet.index(ch) for ch in seg[1:]]
        total += -logp[np.arange(len(ids)), ids].sum()
        count += len(ids)
    bits = total / count / np.log(2)
    corpus = charlm.make_corpus(text)
    unigram = charlm.unigram_bits(corpus)
    print(f"held-out {bits:.4f} bits/char over {count} characters (unigram {unigram:.4f})")

    mask_all = string_literal_mask(text)[cut:]
    start = richest_window(mask_all)
    window = held[start : start + CHUNK]
    mask = mask_all[start : start + CHUNK]
    untrained = {"cell": "lstm", "input_size": len(alphabet), "hidden_size": H,
                 "output_size": len(alphabet), "init": {"seed": 0}}  # fmt: skip
    found = {}
    for name, m in (("trained", model), ("untrained", untrained)):
        tr = trace(m, one_hot(window, alphabet))
        A = {"h": tr.layers[0].h, "c": tr.layers[0].c}
        targets = {
            "line_position": units.line_position(window),
            "indentation": indentation(window),
            "bracket_depth": units.bracket_depth(window),
        }
        found[name] = {"string": best(A, lambda X: units.score_steps(X, mask).score)}
        for key, values in targets.items():
            found[name][key] = best(A, lambda X, v=values: np.abs(units.score_values(X, v)))
        print(name, json.dumps(found[name]))
    t = found["trained"]
    seen = meta["characters_seen"] + meta.get("first", {}).get("characters_seen", 0)
    s = t["string"]
    card = {
        "slug": SLUG,
        "title": "Python source, one character at a time: cells you can read",
        "task": "charlm",
        "task_summary": "predict the next character of Python source code",
        "cell": "lstm",
        "model": {"output_size": len(alphabet)},
        "weights": "charlm.safetensors",
        "alphabet": alphabet,
        "order": 7,
        "training": training_facts(meta),
        "metric": {
            "name": "bpc",
            "value": round(float(bits), 4),
            "baseline": round(float(unigram), 4),
            "baseline_name": "unigram",
            "untrained_string_auc": round(found["untrained"]["string"]["score"], 4),
            "lower_is_better": True,
        },
        "trained_on": (
            f"{meta['train_files']} .py files of Python {sys.version.split()[0]}'s "
            f"standard library (tests included, site-packages excluded), "
            f"{seen:,} characters seen; none of the default "
            f"charlm text's files ({', '.join(meta['excluded_files'])})"
        ),
        "heldout": (
            f"the default charlm text's last tenth ({count + 1:,} characters), scored "
            f"in chunks of {CHUNK} from a zero state"
        ),
        "step": longest_string_middle(mask),
        "example": {"text": window},
        "look_for": (
            f"Unit {s['unit']} ({s['field']}) is a string cell: over held-out code it "
            f"separates the characters inside string literals from the rest with AUC "
            f"{s['score']:.3f} (an untrained network's best unit: "
            f"{found['untrained']['string']['score']:.3f})."
        ),
        "units": [
            {
                "layer": 0,
                "unit": s["unit"],
                "field": s["field"],
                "what": "inside a string literal (Python's tokenizer labels)",
            },
            {
                "layer": 0,
                "unit": t["line_position"]["unit"],
                "field": t["line_position"]["field"],
                "what": "position in the line",
            },
            {
                "layer": 0,
                "unit": t["indentation"]["unit"],
                "field": t["indentation"]["field"],
                "what": "indentation of the line",
            },
            {
                "layer": 0,
                "unit": t["bracket_depth"]["unit"],
                "field": t["bracket_depth"]["field"],
                "what": "bracket depth",
            },
        ],
        # the generic card test runs this search over `example` and checks rank and score
        "search": {
            "field": s["field"],
            "target": {"steps": ranges(mask)},
            "rank": 1,
            "score": s["score"],
            "why": "the characters inside string literals, by Python's tokenizer",
        },
        "window": {"start": start, "chars": CHUNK, "marked": int(mask.sum())},
        "cells": {"trained": t, "untrained": found["untrained"]},
    }
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "charlm.safetensors", dest / "charlm.safetensors")
    (dest / "card.json").write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {dest / 'card.json'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
