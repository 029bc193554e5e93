"""What each gallery model's card says: the unit, the step and the words worth a card, found on
the card's example input by the same scores the app's Find-the-unit search uses
(app/engine/analysis/units.py). gallery/train.py calls LOOK[task](model, recipe) after
training; tests/gallery/ checks every figure these functions put on a card, through the API.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.engine.analysis import units
from app.engine.runner import prepare
from app.engine.training import train_tasks

EXAMPLE_STREAM = 0xCA4D  # the card's example input: default_rng((task seed, EXAMPLE_STREAM))


def forward(model: dict[str, Any], X: np.ndarray) -> dict[str, Any]:
    """The top layer's record (gates, c, h) and the readout's outputs for one (T, D) input."""
    run = prepare(model, X)
    rec = run.forward()[-1]
    assert run.net is not None
    return {**rec, "outputs": run.net.Y[:, 0]}


def one_hot(symbols: str, alphabet: str) -> np.ndarray:
    return np.eye(len(alphabet))[[alphabet.index(ch) for ch in symbols]]


def example_batch(task: train_tasks.TrainTask, T: int, B: int, task_seed: int) -> tuple:
    return task.batch(T, B, np.random.default_rng((task_seed, EXAMPLE_STREAM)))


# ---- per task: the unit, the step and the words worth a card ------------------------------------


def look_latch(model: dict, r: dict) -> dict:
    task = train_tasks.get("latch")
    X, _ = example_batch(task, r["length"], 1, 0)
    x = np.round(X[:, 0], 2)  # (T, 1), short enough for a link
    if r["cell"] == "rnn":
        return look_forgetting(model, x, r)
    rec = forward(model, x)
    i, f = rec["gates"]["i"], rec["gates"]["f"]
    hold = f[1:].min(axis=0)  # (H,) the forget gate's lowest value after step 0
    hold = np.where(i[0] >= 0.5, hold, -1.0)  # only units whose input gate opens at step 0
    u = int(np.argmax(hold))
    flipped = x.copy()
    flipped[0] = -x[0]
    c_end = {float(x[0, 0]): rec["c"][-1, u], float(-x[0, 0]): forward(model, flipped)["c"][-1, u]}
    T = len(x)
    f_min = np.floor(hold[u] * 1000) / 1000
    return {
        "unit": u, "field": "f", "step": 0,
        "example": {"sequence": x.tolist()},
        "look_for": (
            f"Unit {u}: at step 0 its input gate is open (i = {i[0, u]:.2f}) and writes the first "
            f"value's sign into its cell; from step 1 to {T - 1} its forget gate stays at or "
            f"above {f_min:.3f}, so nothing written is lost, and what it keeps adding follows the "
            f"sign the cell already holds: c ends at {c_end[-1.0]:.1f} after a −1, "
            f"{c_end[1.0]:+.1f} after a +1.".replace("-", "−")
        ),
        "units": [
            {"layer": 0, "unit": u, "field": "f",
             "what": f"forget gate ≥ {f_min:.3f} from step 1 to the end: the cell keeps "
                     "what step 0 wrote"},
            {"layer": 0, "unit": u, "field": "i",
             "what": f"input gate {i[0, u]:.2f} at step 0: the first value goes in"},
            {"layer": 0, "unit": u, "field": "c",
             "what": "the cell runs away from zero in the first value's direction"},
        ],
        "gates": {"unit": u, "f_min_after_0": float(hold[u]), "i_at_0": float(i[0, u]),
                  "c_end": {"-1": float(c_end[-1.0]), "+1": float(c_end[1.0])}},
        "search": {"field": "c", "target": {"values": list(range(T))},
                   "why": "the cell that grows steadily through the sequence"},
    }  # fmt: skip


def look_forgetting(model: dict, x: np.ndarray, r: dict) -> dict:
    """A tanh RNN: which unit carries the first value longest, and when that is gone."""
    flipped = x.copy()
    flipped[0] = -flipped[0] if r["task"] == "latch" else flipped[0]
    if r["task"] == "adding":  # move the first marked value: change it by 0.5
        first = int(np.flatnonzero(x[:, 1])[0])
        flipped[first, 0] = (x[first, 0] + 0.5) % 1.0
    else:
        first = 0
    a, b = forward(model, x)["h"], forward(model, flipped)["h"]
    diff = np.abs(a - b)  # (T, H) what the first value still changes
    gone = np.array([_first_below(diff[:, n], 0.01, first) for n in range(diff.shape[1])])
    u = int(np.argmax(gone))
    k = int(gone[u])
    what = "first value" if first == 0 else "first marked value"
    return {
        "unit": u, "field": "h", "step": first,
        "example": {"sequence": x.tolist()},
        "look_for": (
            f"Unit {u} is the one that carries the {what} "
            f"longest, and by step {k} even its h no longer depends on it: change that value and "
            f"h changes by less than 0.01 from step {k} on. The readout at the end cannot know it."
        ),
        "units": [{"layer": 0, "unit": u, "field": "h",
                   "what": f"forgets step {first}'s value by step {k} (|Δh| < 0.01 after)"}],
        "forgets": {"unit": u, "changed_step": first, "gone_by": k, "tolerance": 0.01,
                    "flipped": flipped.tolist()},
    }  # fmt: skip


def _first_below(d: np.ndarray, tol: float, start: int) -> int:
    """The first step from which d stays below tol (len(d) if never)."""
    above = np.flatnonzero(d[start:] >= tol)
    return start + (int(above[-1]) + 1 if above.size else 0)


def look_adding(model: dict, r: dict) -> dict:
    task = train_tasks.get("adding")
    X, _ = example_batch(task, r["length"], 1, 0)
    x = np.round(X[:, 0], 2)  # (T, 2), short enough for a link
    if r["cell"] == "rnn":
        return look_forgetting(model, x, r)
    marks = np.flatnonzero(x[:, 1])
    rec = forward(model, x)
    rs = units.score_values(rec["gates"]["i"], x[:, 1])  # (H,) r with the marker
    u = int(np.argmax(rs))  # the input gate most in step with the marks (r > 0: opens there)
    i = rec["gates"]["i"][:, u]
    rest = np.delete(i, marks)
    return {
        "unit": u, "field": "i", "step": int(marks[0]),
        "example": {"sequence": x.tolist()},
        "look_for": (
            f"Unit {u}'s input gate rises at the two marked steps ({marks[0]} and {marks[1]}: "
            f"i = {i[marks[0]]:.2f} and {i[marks[1]]:.2f}) and stays at or below {rest.max():.2f} "
            f"on the other {len(rest)} steps: of all the input gates, it follows the markers "
            f"most closely (r = {rs[u]:.2f})."
        ),
        "units": [{"layer": 0, "unit": u, "field": "i",
                   "what": f"input gate up at the marked steps (≥ {min(i[marks]):.2f}), "
                           f"≤ {rest.max():.2f} elsewhere"}],
        "gates": {"unit": u, "i_at_marks": [float(v) for v in i[marks]],
                  "i_max_elsewhere": float(rest.max())},
        "search": {"field": "i", "target": {"values": x[:, 1].tolist()},
                   "why": "the input gate most in step with the marker"},
    }  # fmt: skip


def reber_boundaries(symbols: str) -> np.ndarray:
    """(T,) bool: the steps that read the last E of an embedded string (the next symbol is the
    B of a new string)."""
    return np.array([t + 1 < len(symbols) and symbols[t + 1] == "B" and ch == "E"
                     for t, ch in enumerate(symbols)])  # fmt: skip


def look_reber(model: dict, r: dict) -> dict:
    task = train_tasks.get("embedded_reber")
    X, _ = example_batch(task, r["length"], 1, 0)
    alphabet = train_tasks.REBER
    symbols = "".join(alphabet[k] for k in X[:, 0].argmax(-1))
    rec = forward(model, X[:, 0])
    on_e = np.array([ch == "E" for ch in symbols])
    ends = reber_boundaries(symbols)  # the last E of each string
    s = units.score_steps(rec["gates"]["f"], on_e)
    u = int(np.argmax(np.where(s.direction == "low", s.score, 0.0)))  # the gate that shuts on E
    f, c = rec["gates"]["f"][:, u], rec["c"][:, u]
    at = np.flatnonzero(ends)
    kept = f[at] * c[at - 1]  # what of the old cell survives the end of a string
    return {
        "unit": u, "field": "f", "step": int(at[0]),
        "example": {"text": symbols},
        "alphabet": alphabet,
        "look_for": (
            f"Unit {u}'s forget gate shuts on every E (at most {f[on_e].max():.3f} here, and at "
            f"least {f[~on_e].min():.2f} on every other symbol). At the last E of a string it "
            f"wipes the cell (|f·c| at most {np.abs(kept).max():.3f} is kept), so every string "
            f"starts afresh, at c between {c[at].min():.2f} and {c[at].max():.2f} whatever came "
            "before; it also shuts on the inner string's E, just before the symbol to recall."
        ),
        "units": [{"layer": 0, "unit": u, "field": "f",
                   "what": "forget gate shut on every E: the cell resets between strings"}],
        "gates": {"unit": u, "f_max_on_e": float(f[on_e].max()),
                  "f_min_elsewhere": float(f[~on_e].min()),
                  "kept_max_at_end": float(np.abs(kept).max()),
                  "string_ends": [int(t) for t in at]},
        "search": {"field": "f",
                   "target": {"steps": [[int(t), int(t) + 1] for t in np.flatnonzero(on_e)]},
                   "why": "the forget gate that shuts on E"},
    }  # fmt: skip


def anbn_count(n: int) -> np.ndarray:
    """+1 per a, -1 per b, after each symbol of S a^n b^n T."""
    steps = np.array([0] + [1] * n + [-1] * n + [0])
    return np.cumsum(steps).astype(float)


def anbn_run(model: dict, n: int) -> dict:
    return forward(model, one_hot("S" + "a" * n + "b" * n + "T", train_tasks.ANBN))


def anbn_right(model: dict, n: int) -> bool:
    """Every predictable next symbol right (after S and after each b)."""
    text = "S" + "a" * n + "b" * n + "T"
    out = anbn_run(model, n)["outputs"]
    return all(out[t].argmax() == train_tasks.ANBN.index(text[t + 1])
               for t in range(len(text) - 1) if text[t] in "Sb")  # fmt: skip


def look_anbn(model: dict, r: dict) -> dict:
    n_train = train_tasks.anbn_max_n(r["length"])
    n_far = int(np.ceil(1.5 * n_train))
    ns = range(1, n_far + 1)
    C = np.vstack([anbn_run(model, n)["c"] for n in ns])  # every string's steps, pooled
    counts = np.concatenate([anbn_count(n) for n in ns])
    pooled = np.abs(units.score_values(C, counts))
    u = int(np.argmax(pooled))
    per_n = {n: float(abs(units.score_values(anbn_run(model, n)["c"][:, u : u + 1],
                                             anbn_count(n))[0]))
             for n in range(n_train, n_far + 1)}  # fmt: skip
    n_right = next((n for n in range(1, 201) if not anbn_right(model, n)), 201) - 1
    example = "S" + "a" * n_train + "b" * n_train + "T"
    c = anbn_run(model, n_train)["c"][:, u]
    return {
        "unit": u, "field": "c", "step": n_train,
        "example": {"text": example},
        "alphabet": train_tasks.ANBN,
        "train_max_n": n_train,
        "look_for": (
            f"Unit {u}'s cell counts: it moves about {abs(c[n_train] - c[n_train - 1]):.2f} per "
            f"a and back per b (c = {c[0]:.2f} at S, {c[n_train]:.2f} after the last a), and "
            f"the b's end when it is back near where it started. Trained on n ≤ {n_train}, it "
            f"predicts every string right up to n = {n_right}; over all strings up to n = "
            f"{n_far} its c follows the count with |r| = {pooled[u]:.3f}."
        ),
        "units": [{"layer": 0, "unit": u, "field": "c",
                   "what": "the count: up one notch per a, down one per b"}],
        "search": {"field": "c", "target": {"values": anbn_count(n_train).tolist()},
                   "why": "the cell that follows the count"},
        "counts": {"unit": u, "n_max": n_far, "pooled_abs_r": float(pooled[u]),
                   "abs_r_per_n": {str(n): v for n, v in per_n.items()},
                   "right_up_to_n": n_right},
    }  # fmt: skip


def search_rank(model: dict, example: dict, alphabet: str | None, search: dict, u: int) -> dict:
    """Where unit u comes in the Find-the-unit search the card names (as /api/units/search
    ranks: score descending, then unit), and its score."""
    if "text" in example:
        X = one_hot(example["text"], alphabet or "")
    else:
        X = np.asarray(example["sequence"], dtype=float)
    rec = forward(model, X)
    field = search["field"]
    A = rec[field] if field in ("h", "c") else rec["gates"][field]
    target = search["target"]
    if "values" in target:
        score = np.abs(units.score_values(A, np.asarray(target["values"], dtype=float)))
    else:
        score = units.score_steps(A, units.step_mask(len(X), target["steps"])).score
    order = sorted(range(len(score)), key=lambda n: (-score[n], n))
    return {"rank": order.index(u) + 1, "score": float(score[u])}


LOOK = {"latch": look_latch, "adding": look_adding, "embedded_reber": look_reber,
        "anbn": look_anbn}  # fmt: skip
