"""A lesson's numbers, evaluated on the API's answers for a stop's view: the request a page
sends for its URL state (as static/js/main.js, compare-state.js and train-socket.js build it)
and every quantity and condition of the vocabulary (as static/js/lesson-eval.js evaluates
them on the page's own trace). Tests use it to check that every claim of every lesson is
true for its view, and that the panel shows the API's numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..gallery import all_cards, get_card
from . import views

# --- the request bodies ------------------------------------------------------------------------


def _mulberry32(seed: int) -> Callable[[], float]:
    """inputs.js' seeded generator, bit for bit (unsigned 32-bit arithmetic)."""
    a = seed & 0xFFFFFFFF
    M = 0xFFFFFFFF

    def nxt() -> float:
        nonlocal a
        a = (a + 0x6D2B79F5) & M
        t = a
        t = ((t ^ (t >> 15)) * (t | 1)) & M
        t ^= (t + (((t ^ (t >> 7)) * (t | 61)) & M)) & M
        return ((t ^ (t >> 14)) & M) / 4294967296

    return nxt


def _round4(v: float) -> float:
    return math.floor(v * 1e4 + 0.5) / 1e4


def _rows(state: dict[str, Any]) -> list[list[float]]:
    kind, n, seed = state["kind"], state["len"], state["iseed"]
    if kind == "custom":
        return [[float(v) for v in row.split()] for row in state["seq"].split(";") if row.strip()]
    r = _mulberry32(seed)
    if kind == "sine":
        phase = r() * 2 * math.pi
        return [[_round4(math.sin(2 * math.pi * t / 12 + phase))] for t in range(n)]
    if kind == "random":
        return [[_round4(2 * r() - 1), _round4(2 * r() - 1)] for _ in range(n)]
    rows = [[_round4(r()), 0.0] for _ in range(n)]  # adding
    half = max(1, n // 2)
    a = math.floor(r() * half)
    b = min(n - 1, half + math.floor(r() * (n - half)))
    rows[a][1] = 1.0
    rows[b][1] = 1.0
    return rows


def _brackets(n_len: int, seed: int) -> str:
    r = _mulberry32(seed)
    n = max(2, n_len - n_len % 2)
    out, depth = "", 0
    for k in range(n):
        left = n - k
        if depth == 0 or (depth < left and r() < 0.5):
            out, depth = out + "(", depth + 1
        else:
            out, depth = out + ")", depth - 1
    return out


def step_body(state: dict[str, Any]) -> dict[str, Any]:
    """The /api/trace body of a step-page view (main.js requestBody)."""
    if state["kind"] == "text":
        inp: dict[str, Any] = {"text": state["text"]}
    elif state["kind"] == "brackets":
        inp = {"text": _brackets(state["len"], state["iseed"]), "alphabet": "()"}
    else:
        inp = {"sequence": _rows(state)}
    model: dict[str, Any] = {
        "cell": state["cell"], "hidden_size": state["hidden"], "num_layers": state["layers"],
        "variant": state["variant"] if state["cell"] == "lstm" else "standard",
        "init": {"seed": state["seed"], "forget_bias": state["fbias"],
                 "recurrent_init": state["rinit"], "recurrent_gain": state["gain"]},
        "weights": None,
    }  # fmt: skip
    if "sequence" in inp:
        model["input_size"] = len(inp["sequence"][0])
    if state.get("model") not in ("", "none", None):  # a gallery model (step-gallery.js)
        model, alphabet, vocab = gallery_model(state["model"])
        if "text" in inp and (vocab is not None or "embedding" in model):
            inp.update(vocab=vocab if vocab is not None else list(alphabet or ""), level="char")
        if "text" in inp and alphabet is not None:
            inp["alphabet"] = alphabet
    return {"model": model, "input": inp, "loss": {"kind": "sum_last"}, "dtype": "float64"}


# The fields of a model object the step page sends (static/js/imported.js MODEL_FIELDS).
MODEL_FIELDS = ("cell", "input_size", "hidden_size", "num_layers", "variant", "output_size", "init",
                "weights", "bidirectional", "proj_size", "nonlinearity", "embedding")  # fmt: skip


def gallery_model(slug: str) -> tuple[dict[str, Any], str | None, list[str] | None]:
    """A gallery model as the step page sends it, its alphabet and vocabulary (step-gallery.js);
    ValueError if unknown."""
    card = get_card(slug)
    if card is None:
        raise ValueError(f"no gallery model {slug!r}")
    m = card.model
    return {k: m[k] for k in MODEL_FIELDS if k in m}, m.get("alphabet"), m.get("vocab")


def compare_body(state: dict[str, Any]) -> dict[str, Any]:
    """The /api/compare body of a lab view (compare-state.js requestBody)."""
    T = views.compare_length(state)
    if state["kind"] == "text":
        inp: dict[str, Any] = {"text": state["text"]}
    elif state["kind"] == "custom":
        inp = {"sequence": _rows(state)}
    else:
        inp = {"task": {"name": state["kind"], "length": state["len"], "seed": state["iseed"]}}
    body: dict[str, Any] = {
        "input": inp, "hidden_size": state["hidden"], "seed": state["seed"],
        "recurrent_init": state["rinit"], "recurrent_gain": state["gain"],
        "forget_bias": state["fbias"], "input_bias": state["ibias"],
        "zero_biases": state["zerob"], "input_scale": state["scale"],
        "lstm_variant": state["variant"], "dtype": state["dtype"],
    }  # fmt: skip
    steps: set[int] = set()
    for part in filter(None, (p.strip() for p in state["clampf"].split(","))):
        a, _, b = part.replace("–", "-").partition("-")
        steps.update(range(int(a), int(b or a) + 1))
    if steps:
        body["clamp"] = [{"t": sorted(T - 1 - k for k in steps), "gate": "f", "value": 1.0}]
    if state.get("model"):  # the gallery's trained networks (static/js/compare-gallery.js)
        body["weights"] = gallery_weights(state["model"], state["hidden"])
    return body


def gallery_weights(slug: str, hidden: int) -> dict[str, Any]:
    """The weights the lab puts in for ?model=<slug>: the model's, and the same task's trained
    partner of the other cell (LSTM beside RNN) when it has the same hidden size."""
    card = get_card(slug)
    if card is None:
        raise ValueError(f"no gallery model {slug!r}")
    out = {card.card["cell"]: card.model["weights"]}
    for other in all_cards():
        c = other.card
        if (c["task"] == card.card["task"] and c["cell"] not in out and c["cell"] != "gru"
                and other.model["hidden_size"] == hidden):  # fmt: skip
            out[c["cell"]] = other.model["weights"]
    return out


def eval_every(steps: int) -> int:
    raw = max(1, round(steps / 24))
    return next((n for n in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000) if n >= raw), raw)


def train_body(state: dict[str, Any], cell: str) -> dict[str, Any]:
    """The WS /ws/train request of a training-page view for one cell (train-socket.js)."""
    return {
        "task": {"name": state["task"], "length": state["len"], "seed": state["tseed"]},
        "model": {"cell": cell, "hidden_size": state["hidden"], "num_layers": 1,
                  "variant": "standard",
                  "init": {"seed": state["seed"], "forget_bias": state["fbias"],
                           "recurrent_init": "uniform", "recurrent_gain": 1}},
        "train": {"steps": state["steps"], "batch_size": state["batch"],
                  "optimizer": state["optimizer"], "lr": state["lr"], "clip": state["clip"],
                  "seed": state["seed"], "eval_every": eval_every(state["steps"]),
                  "temperature": state["temp"]},
    }  # fmt: skip


def train_cells(state: dict[str, Any]) -> list[str]:
    return ["rnn", "lstm", "gru"] if state["mode"] == "race" else [state["cell"]]


# --- the quantities ------------------------------------------------------------------------------


def _index(a: dict[str, Any], ctx: dict[str, Any]) -> int | None:
    if a["ref"] is None:
        return a["add"]
    base = ctx["refs"].get(a["ref"])
    return None if base is None else base + a["add"]


def _get(rows: Any, t: int | None, u: int | None) -> float | None:
    if rows is None or t is None or not 0 <= t < len(rows):
        return None
    row = rows[t]
    if u is None:  # the mean over units
        return None if any(v is None for v in row) else sum(row) / len(row)
    return row[u] if 0 <= u < len(row) else None


def _series(
    name: str, L: dict[str, Any], cell: str, t: int | None, u: int | None, H: int
) -> float | None:
    if u is None:
        vals = [_series(name, L, cell, t, j, H) for j in range(H)]
        return None if any(v is None for v in vals) else sum(vals) / H  # type: ignore[arg-type]
    if t is None:
        return None
    g = L.get("gates") or {}
    if name in g:
        return _get(g[name], t, u)
    if name in ("c", "h"):
        return _get(L[name], t, u)
    if name == "dL/dh":
        return _get(L["grad_h"], t, u)
    if name == "dL/dc":
        return _get(L["grad_c"], t, u)
    if name == "tanh_c":
        c = _get(L["c"], t, u)
        return None if c is None else math.tanh(c)
    if name in ("kept", "written"):
        if not 0 <= t < len(L["h"]):
            return None
        if cell == "lstm":
            c_prev = _get(L["c"], t - 1, u) if t > 0 else 0.0
            parts = (g["f"][t][u], c_prev) if name == "kept" else (g["i"][t][u], g["g"][t][u])
            return _mul(*parts)
        h_prev = _get(L["h"], t - 1, u) if t > 0 else 0.0
        z = g["z"][t][u]
        return _mul(z, h_prev) if name == "kept" else _mul(1 - z, g["n"][t][u])
    if name == "dL/dc_belt":
        T = len(L["h"])
        if not 0 <= t < T:
            return None
        return 0.0 if t == T - 1 else _mul(g["f"][t + 1][u], L["grad_c"][t + 1][u])
    if name == "dL/dc_out":
        c, o, dh = _get(L["c"], t, u), _get(g["o"], t, u), _get(L["grad_h"], t, u)
        if c is None or o is None or dh is None:
            return None
        return o * (1 - math.tanh(c) ** 2) * dh
    return None


def _mul(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a * b


def _pow10(v: float | None) -> float | None:
    return None if v is None else 10.0**v


def reading(value: float | None, lo: float, hi: float) -> str | None:
    if value is None:
        return None
    return "closed" if value < lo else "open" if value > hi else "partly open"


def step_context(state: dict[str, Any], trace: dict[str, Any]) -> dict[str, Any]:
    unit = None if state["unit"] == "mean" else int(state["unit"])
    return {"page": "step", "state": state, "trace": trace,
            "refs": {"t": state["t"], "u": unit, "T": trace["steps"], "k": None}}  # fmt: skip


def compare_context(state: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    return {"page": "compare", "state": state, "answer": answer,
            "refs": {"k": state["k"], "T": answer["steps"]}}  # fmt: skip


def train_context(
    state: dict[str, Any], runs: dict[str, dict[str, Any]], baseline: float | None
) -> dict[str, Any]:
    return {"page": "train", "state": state, "runs": runs, "baseline": baseline, "refs": {}}


def value(q: dict[str, Any], ctx: dict[str, Any]) -> Any:
    """One quantity's value (a float, a word, or None when the run does not have it)."""
    if q["kind"] == "number":
        return q["value"]
    if q["kind"] == "view":
        return ctx["state"][q["name"][5:]]
    args = [_index(a, ctx) for a in q["args"]]
    page = ctx["page"]
    if page == "step":
        return _step_value(q, ctx, args)
    if page == "compare":
        return _lab_value(q, ctx, args)
    if q["kind"] == "scalar":
        return ctx["baseline"]
    return (ctx["runs"].get(q["cell"]) or {}).get(q["field"])


def _step_value(q: dict[str, Any], ctx: dict[str, Any], args: list[int | None]) -> Any:
    tr, state = ctx["trace"], ctx["state"]
    L = tr["layers"][state["layer"]]
    name = q["name"]
    if q["kind"] == "scalar":
        return {"loss": tr.get("loss"), "T": tr["steps"], "H": tr["hidden_size"], "t": state["t"],
                "u": ctx["refs"]["u"], "lo": state["lo"], "hi": state["hi"]}[name]  # fmt: skip
    logs = L.get("grad_h_log10_norm" if name == "dL/dh" else "grad_c_log10_norm")
    if q["kind"] == "norm":
        return _pow10(_get1(logs, args[0]))
    if q["kind"] == "ratio":
        a, b = _get1(logs, args[0]), _get1(logs, args[1])
        return None if a is None or b is None else 10.0 ** (a - b)
    if name == "x":
        t, j = args
        return _get(tr["inputs"], t, j) if j is not None else None
    v = _series(name, L, tr["cell"], args[0], args[1], tr["hidden_size"])
    if q["kind"] == "reading":
        return reading(v, state["lo"], state["hi"])
    return v


def _get1(arr: Any, i: int | None) -> float | None:
    if arr is None or i is None or not 0 <= i < len(arr):
        return None
    return arr[i]


LAB_FIELDS = {
    "dL/dh": "grad_h_log10", "dL/dc": "grad_c_log10", "belt": "belt_log10",
    "factor": ("fit_h", "factor"), "half_life": ("fit_h", "half_life"),
    "factor_c": ("fit_c", "factor"), "half_life_c": ("fit_c", "half_life"),
    "hs": ("hochreiter", "typical"), "hs_max": ("hochreiter", "max"),
    "sigma": ("pascanu", "sigma_max"), "f_half_life": ("forget_half_life", "median"),
}  # fmt: skip


def _lab_value(q: dict[str, Any], ctx: dict[str, Any], args: list[int | None]) -> Any:
    ans = ctx["answer"]
    if q["kind"] == "scalar":
        return {"T": ans["steps"], "H": ans["hidden_size"], "k": ctx["state"]["k"]}[q["name"]]
    data = ans["cells"].get(q["cell"])
    if data is None:
        return None
    where = LAB_FIELDS[q["field"]]
    if q["kind"] == "lab_curve":
        return _pow10(_get1(data.get(str(where)), args[0]))
    group, key = where
    return (data.get(group) or {}).get(key)


def holds(cond: dict[str, Any], ctx: dict[str, Any]) -> bool | None:
    """A condition on the run: True, False, or None when a number is missing."""
    a, b = value(cond["a"], ctx), value(cond["b"], ctx)
    if a is None or b is None:
        return None
    op = cond["op"]
    if op == "~=":
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def answer(question: dict[str, Any], ctx: dict[str, Any]) -> list[str]:
    """The choices that are right for this run (a well-made question has exactly one)."""
    if question["answer"] is not None:
        word = value(question["answer"], ctx)
        return [word] if word else []
    return [c["text"] for c in question["choices"] if holds(c["when"], ctx)]
