"""Interpretable cells on real text: train a character model, then ask which unit does what.

    .venv/bin/python bench/charlm.py [--minutes 4] [--hidden 128] [--svg docs/charlm.svg]

Trains an LSTM on the charlm task (Python standard-library source,
app/engine/training/charlm.py) for a wall-clock budget, prints the held-out bits per character
against the unigram baseline, then runs the unit search (app/engine/analysis/units.py) over a
held-out stretch of text for three targets:
inside quotes (a step set: AUC), bracket depth and position in the line (values: |r|). The
same search on the untrained network of the same seed is printed beside it: with H units,
the best of H random units scores well above 0.5 by chance alone, so that column is the floor
a trained unit has to beat. Writes, per target, an SVG of held-out text coloured by the best
unit (Karpathy, Johnson & Fei-Fei 2015, Fig. 2 style) for the README. Never fails on a time.
"""

from __future__ import annotations

import argparse
import html
import time
from pathlib import Path

import numpy as np

from app.engine import prepare
from app.engine.analysis import units
from app.engine.training import charlm, train_tasks
from app.engine.training.train import TrainConfig, Trainer

TARGETS = ("inside_quotes", "bracket_depth", "line_position")
FIELDS = ("c", "h")


def held_out_text(task: train_tasks.TrainTask, chars: int) -> str:
    corpus = charlm.make_corpus(charlm.default_text())
    text = "".join(corpus.alphabet[k] for k in corpus.held[:chars])
    assert task.alphabet == corpus.alphabet
    return text


def activations(model: dict, text: str, alphabet: str) -> dict[str, np.ndarray]:
    """field -> (T, H) over the text, layer 0."""
    X = np.eye(len(alphabet))[[alphabet.index(ch) for ch in text]]
    rec = prepare(model, X).forward()[0]
    return {"c": rec["c"], "h": rec["h"]}


def best_units(acts: dict[str, np.ndarray], text: str) -> dict[str, tuple[float, str, int, str]]:
    """target -> (score, field, unit, detail) of the best unit over both fields."""
    out = {}
    for name in TARGETS:
        target = units.builtin_target(name, text)
        best = (-1.0, "", -1, "")
        for field in FIELDS:
            A = acts[field]
            if target.dtype == bool:
                s = units.score_steps(A, target)
                n = int(np.argmax(s.score))
                row = (
                    float(s.score[n]),
                    field,
                    n,
                    f"AUC {s.auc[n]:.3f}, {s.direction[n]} inside, cut {s.threshold[n]:.2f}",
                )
            else:
                r = units.score_values(A, target)
                n = int(np.argmax(np.abs(r)))
                row = (float(abs(r[n])), field, n, f"r = {r[n]:+.3f}")
            best = max(best, row)
        out[name] = best
    return out


def svg_figure(text: str, values: np.ndarray, title: str, cols: int = 80) -> str:
    """The text, one cell per character, coloured by `values` against their median (orange
    above it, blue below, stronger further away): a cell state drifts, its swings matter."""
    values = values - np.median(values)
    scale = max(float(np.abs(values).max()), 1e-12)
    cw, ch, top = 9.6, 19.0, 48.0
    lines, x, y, cells = [], 0, 0, []
    for k, c in enumerate(text):
        if c == "\n" or x >= cols:
            x, y = 0, y + 1
            if c == "\n":
                continue
        v = float(np.clip(values[k] / scale, -1, 1))
        end = (230, 159, 0) if v >= 0 else (86, 180, 233)
        rgb = ",".join(str(round(255 + (e - 255) * abs(v))) for e in end)
        cells.append(f'<rect x="{x * cw:.1f}" y="{top + y * ch:.1f}" width="{cw:.1f}" '
                     f'height="{ch:.1f}" fill="rgb({rgb})"/>')  # fmt: skip
        if c != " ":
            lines.append(f'<text x="{x * cw + cw / 2:.1f}" y="{top + y * ch + 14:.1f}">'
                         f"{html.escape(c)}</text>")  # fmt: skip
        x += 1
    width, height = cols * cw, top + (y + 1) * ch + 6
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans Mono, monospace" '
        f'font-size="14" text-anchor="middle">\n<rect width="100%" height="100%" fill="white"/>\n'
        f'<text x="4" y="18" text-anchor="start" font-family="DejaVu Sans, sans-serif" '
        f'font-size="15" font-weight="bold">{html.escape(title)}</text>\n'
        f'<text x="4" y="38" text-anchor="start" font-family="DejaVu Sans, sans-serif" '
        f'font-size="13">Held-out Python source. Orange: above the unit\'s median; blue: below.'
        f"</text>\n" + "\n".join(cells + lines) + "\n</svg>\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=4.0, help="wall-clock training budget")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--length", type=int, default=100, help="T, characters per sequence")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.005)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chars", type=int, default=3000, help="held-out characters searched")
    ap.add_argument("--svg", default="docs/charlm.svg", help="figures: <stem>-<target>.svg")
    args = ap.parse_args()

    config = TrainConfig(task="charlm", length=args.length, steps=10**9, batch_size=args.batch,
                         lr=args.lr, clip=1.0, seed=args.seed, eval_size=64)  # fmt: skip
    model = {"cell": "lstm", "hidden_size": args.hidden,
             "init": {"seed": args.seed, "forget_bias": 1.0}}  # fmt: skip
    trainer = Trainer(config, model)
    task = trainer.task
    untrained = trainer.model_dict()  # weights copied out as lists, before any step
    print(f"charlm: LSTM H={args.hidden}, T={args.length}, batch {args.batch}, Adam lr {args.lr}, "
          f"alphabet {task.input_size} characters; unigram baseline {task.baseline_metric:.3f} "
          f"bits/char on held-out text")  # fmt: skip
    t0 = last = time.perf_counter()
    budget = args.minutes * 60
    while time.perf_counter() - t0 < budget:
        trainer.train_steps(10)
        if time.perf_counter() - last > 30:
            last = time.perf_counter()
            bpc = trainer.evaluate()["bpc"]
            print(f"  {last - t0:6.0f} s  step {trainer.step:6d}  held-out {bpc:.3f} bits/char")
    elapsed = time.perf_counter() - t0
    bpc = trainer.evaluate()["bpc"]
    rate = trainer.step / elapsed
    base = task.baseline_metric
    print(f"trained {trainer.step} steps in {elapsed:.0f} s ({rate:.1f} steps/s): held-out "
          f"{bpc:.3f} bits/char, unigram {base:.3f}, ratio {bpc / base:.2f}")  # fmt: skip

    text = held_out_text(task, args.chars)
    trained = trainer.model_dict()
    assert task.alphabet is not None
    after = best_units(activations(trained, text, task.alphabet), text)
    before = best_units(activations(untrained, text, task.alphabet), text)
    print(f"\nunit search over {len(text)} held-out characters, fields c and h, best of "
          f"{args.hidden} units each:")  # fmt: skip
    print(f"{'target':15s} {'trained':>8s} {'untrained':>10s}  best trained unit")
    for name in TARGETS:
        s, field, n, detail = after[name]
        print(f"{name:15s} {s:8.3f} {before[name][0]:10.3f}  {field}[{n}]: {detail}")

    svg = Path(args.svg)
    svg.parent.mkdir(parents=True, exist_ok=True)
    for name in TARGETS:  # one figure per target: <svg stem>-<target>.svg
        s, field, n, _ = after[name]
        acts = activations(trained, text, task.alphabet)[field]
        quote = text.find('"', 200)
        start = text.rfind("\n", 0, max(0, text.rfind("\n", 0, quote) - 1)) + 1  # a line before
        shown = text[start : start + 1200]
        label = name.replace("_", " ").capitalize()
        title = f"{label}: {field}[{n}] scores {s:.3f} (LSTM H={args.hidden}, {trainer.step} steps)"
        path = svg.with_name(f"{svg.stem}-{name}.svg")
        path.write_text(svg_figure(shown, acts[start : start + len(shown), n], title))
        print(f"wrote {path}: {field}[{n}] over {len(shown)} characters")


if __name__ == "__main__":
    main()
