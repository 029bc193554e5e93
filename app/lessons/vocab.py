"""The fixed vocabulary of a lesson: named quantities, number formats, conditions and the
elements a stop can highlight, per page. Text in, plain dicts out (the JSON the lesson panel
evaluates on the page's own numbers, and app.lessons.evaluate evaluates on the API's).

Quantity   := [norm | ratio | reading] NAME [ "[" index ("," index)* "]" ]
index      := integer | ref | ref+integer | ref-integer      ref: t T u (step), k T (compare)
Format     := percent [N] | N decimals | N digits | power
Condition  := operand op operand    op: < <= > >= ~=    operand: quantity or number
"""

from __future__ import annotations

import re
from typing import Any

LSTM_GATES, GRU_GATES = ("i", "f", "g", "o"), ("r", "z", "n")
SIGMOID_GATES = ("i", "f", "o", "r", "z")
CELLS = ("rnn", "lstm", "gru")
GATE_NAMES = {"i": "input gate", "f": "forget gate", "g": "candidate", "o": "output gate",
              "r": "reset gate", "z": "update gate", "n": "candidate"}  # fmt: skip

# step page: per (t, unit) series and which cells have them
STEP_SERIES: dict[str, tuple[str, ...]] = {
    **{g: ("lstm",) for g in LSTM_GATES},
    **{g: ("gru",) for g in GRU_GATES},
    "c": ("lstm",),
    "h": CELLS,
    "tanh_c": ("lstm",),
    "kept": ("lstm", "gru"),
    "written": ("lstm", "gru"),
    "dL/dh": CELLS,
    "dL/dc": ("lstm",),
    "dL/dc_belt": ("lstm",),
    "dL/dc_out": ("lstm",),
    "x": CELLS,  # x[t, j]: input j at step t
}
STEP_SCALARS = ("loss", "T", "H", "t", "u", "lo", "hi")
STEP_NORMS = ("dL/dh", "dL/dc")

# compare page: per cell readouts of POST /api/compare
LAB_CURVES = {"dL/dh": CELLS, "dL/dc": ("lstm",), "belt": ("lstm",)}  # [k]
LAB_SCALARS = {
    "factor": CELLS, "half_life": CELLS, "hs": CELLS, "hs_max": CELLS, "sigma": CELLS,
    "factor_c": ("lstm",), "half_life_c": ("lstm",), "f_half_life": ("lstm",),
}  # fmt: skip
LAB_PLAIN = ("T", "H", "k")

TRAIN_SCALARS = ("metric", "loss", "step")  # per run: lstm.metric, ...
TRAIN_PLAIN = ("baseline",)

REFS = {"step": ("t", "T", "u"), "compare": ("k", "T"), "train": ()}

# name -> (CSS selector, what a screen reader hears)
HIGHLIGHTS: dict[str, dict[str, tuple[str, str]]] = {
    "step": {
        **{
            f"gate {g}": (f'#diagram [data-gate="{g}"]', f"the {GATE_NAMES[g]} {g}")
            for g in GATE_NAMES
        },
        "cell-state": ("#diagram .wire.belt", "the cell-state line"),
        "diagram": ("#diagram", "the cell diagram"),
        "equations": ("#equations", "the equations"),
        "gradient chart": ("#grad-chart", "the gradient chart"),
        "heatmaps": ("#heatmaps", "the heatmaps"),
        "reading": ("#reading", "the gate reading"),
        "player": (".player", "the player"),
        "scrubber": ("#scrubber", "the step slider"),
    },
    "compare": {
        "chart": ("#lab-chart", "the gradient chart"),
        "cursor": ("#cursor", "the steps-back slider"),
        "sweep": ("#btn-sweep", "the backward-pass button"),
        **{f"card {c}": (f"#card-{c}", f"the {c.upper()} card") for c in CELLS},
        "half-lives": ("#hl-chart", "the forget half-life chart"),
        "cell norm": ("#c-chart", "the cell-state norm chart"),
        "presets": ("#presets", "the presets"),
    },
    "train": {
        "start": ("#start", "the Start training button"),
        "progress": ("#runs", "the progress bars"),
        "loss chart": ("#loss-chart", "the training loss chart"),
        "metric chart": ("#metric-chart", "the held-out metric chart"),
        "heatmaps": ("#heatmaps", "the gate heatmaps"),
    },
}
CONTROLS = {
    "step": ("cell", "variant", "hidden", "seed", "fbias", "gain", "kind", "text", "len", "seq",
             "unit", "layer", "speed", "lo", "hi"),
    "compare": ("kind", "len", "scale", "hidden", "seed", "rinit", "gain", "zerob", "fbias",
                "ibias", "variant", "clampf", "dtype"),
    "train": ("task", "len", "mode", "cell", "hidden", "fbias", "steps", "lr", "batch", "clip"),
}  # fmt: skip


class VocabError(ValueError):
    pass


def highlight(page: str, name: str) -> dict[str, str]:
    name = " ".join(name.split())
    if name.startswith("control "):
        key = name[len("control ") :]
        if key not in CONTROLS[page]:
            raise VocabError(
                f"“{name}”: the {page} page's controls are {', '.join(CONTROLS[page])}"
            )
        return {"name": name, "selector": f"#{key}", "label": f"the {key} control"}
    if name not in HIGHLIGHTS[page]:
        names = ", ".join([*HIGHLIGHTS[page], "control NAME"])
        raise VocabError(f"“{name}” is not an element of the {page} page (it has {names})")
    selector, label = HIGHLIGHTS[page][name]
    return {"name": name, "selector": selector, "label": label}


_INDEX = re.compile(r"^(?:(-?\d+)|([A-Za-z])(?:([+-])(\d+))?)$")
_QUANTITY = re.compile(r"^(?:(norm|ratio|reading)\s+)?([A-Za-z_][\w./]*)\s*(?:\[([^\]]*)\])?$")


def _index(page: str, text: str) -> dict[str, Any]:
    m = _INDEX.match(text.strip())
    if not m:
        raise VocabError(
            f"index “{text}” should be a number, or one of "
            f"{', '.join(REFS[page]) or '(none on this page)'} plus or minus a number"
        )
    if m.group(1) is not None:
        return {"ref": None, "add": int(m.group(1))}
    ref = m.group(2)
    if ref not in REFS[page]:
        raise VocabError(f"index “{text}”: {ref} means nothing on the {page} page"
                         + (f" (use {', '.join(REFS[page])})" if REFS[page] else ""))  # fmt: skip
    add = int(m.group(4) or 0) * (-1 if m.group(3) == "-" else 1)
    return {"ref": ref, "add": add}


def _arity(text: str, args: list, n: int) -> None:
    if len(args) != n:
        what = "no index" if n == 0 else f"{n} ind{'ex' if n == 1 else 'ices'}"
        raise VocabError(f"“{text}” takes {what}, not {len(args)}")


def quantity(
    page: str, text: str, view: dict[str, Any], view_kinds: dict[str, Any]
) -> dict[str, Any]:
    """Parse one quantity for a page; view: the stop's state (which cell it shows)."""
    text = " ".join(text.split())
    m = _QUANTITY.match(text)
    if not m:
        raise VocabError(
            f"“{text}” is not a quantity (a name such as f[13,2], norm dL/dc[t], loss)"
        )
    prefix, name, inside = m.group(1), m.group(2), m.group(3)
    args = [_index(page, a) for a in inside.split(",")] if inside is not None else []
    q: dict[str, Any] = {"src": text, "prefix": prefix, "name": name, "args": args}
    if name.startswith("view."):
        key = name[5:]
        if key not in view_kinds:
            raise VocabError(f"“{text}”: the {page} page has no property {key}")
        _arity(text, args, 0)
        q["kind"] = "view"
        q["numeric"] = view_kinds[key].type in ("int", "float")
        return q
    if page == "step":
        return _step(q, text, view)
    if page == "compare":
        return _lab(q, text)
    return _train(q, text)


def _step(q: dict[str, Any], text: str, view: dict[str, Any]) -> dict[str, Any]:
    prefix, name, args, cell = q["prefix"], q["name"], q["args"], view["cell"]
    if prefix in ("norm", "ratio"):
        if name not in STEP_NORMS:
            raise VocabError(f"“{text}”: {prefix} takes dL/dh or dL/dc")
        _arity(text, args, 1 if prefix == "norm" else 2)
        q["kind"], q["numeric"] = prefix, True
    elif prefix == "reading":
        if name not in SIGMOID_GATES:
            raise VocabError(f"“{text}”: reading takes a sigmoid gate ({', '.join(SIGMOID_GATES)})")
        _arity(text, args, 2)
        q["kind"], q["numeric"] = "reading", False
    elif name in STEP_SERIES:
        _arity(text, args, 2)
        q["kind"], q["numeric"] = "series", True
    elif name in STEP_SCALARS:
        _arity(text, args, 0)
        q["kind"], q["numeric"] = "scalar", True
        return q
    else:
        raise VocabError(f"“{text}”: unknown quantity {name} (the step page has "
                         f"{', '.join([*STEP_SERIES, *STEP_SCALARS])}, "
                         "norm, ratio, reading, view.KEY)")  # fmt: skip
    series = "dL/dc" if q["kind"] in ("norm", "ratio") and name == "dL/dc" else name
    cells = STEP_SERIES.get(series, CELLS)
    if cell not in cells:
        raise VocabError(
            f"“{text}”: a {cell.upper()} has no {name} (the stop's view shows cell={cell})"
        )
    if cell == "lstm" and view["variant"] == "peephole" and name in ("dL/dc_out", "dL/dc_belt"):
        raise VocabError(f"“{text}”: the split of dL/dc is for cells without peepholes")
    return q


def _cell_name(text: str, name: str) -> tuple[str, str]:
    cell, dot, rest = name.partition(".")
    if not dot or cell not in CELLS:
        raise VocabError(f"“{text}”: name the network first, as in lstm.{name}")
    return cell, rest


def _lab(q: dict[str, Any], text: str) -> dict[str, Any]:
    name, args = q["name"], q["args"]
    if q["prefix"]:
        raise VocabError(f"“{text}”: {q['prefix']} is for the step page")
    if name in LAB_PLAIN:
        _arity(text, args, 0)
        return {**q, "kind": "scalar", "numeric": True}
    cell, rest = _cell_name(text, name)
    table = LAB_CURVES if rest in LAB_CURVES else LAB_SCALARS if rest in LAB_SCALARS else None
    if table is None:
        raise VocabError(f"“{text}”: unknown lab quantity {rest} (per network: "
                         f"{', '.join([*LAB_CURVES, *LAB_SCALARS])}; "
                         f"also {', '.join(LAB_PLAIN)})")  # fmt: skip
    if cell not in table[rest]:
        raise VocabError(f"“{text}”: only the {', '.join(table[rest]).upper()} has {rest}")
    _arity(text, args, 1 if table is LAB_CURVES else 0)
    return {**q, "kind": "lab_curve" if table is LAB_CURVES else "lab_scalar", "cell": cell,
            "field": rest, "numeric": True}  # fmt: skip


def _train(q: dict[str, Any], text: str) -> dict[str, Any]:
    name, args = q["name"], q["args"]
    if q["prefix"]:
        raise VocabError(f"“{text}”: {q['prefix']} is for the step page")
    _arity(text, args, 0)
    if name in TRAIN_PLAIN:
        return {**q, "kind": "scalar", "numeric": True}
    cell, rest = _cell_name(text, name)
    if rest not in TRAIN_SCALARS:
        raise VocabError(f"“{text}”: per run the train page has {', '.join(TRAIN_SCALARS)}")
    return {**q, "kind": "train", "cell": cell, "field": rest, "numeric": True}


_FORMAT = re.compile(r"^(?:percent(?:\s+(\d))?|(\d)\s+decimals?|(\d)\s+digits?|power)$")


def number_format(text: str) -> dict[str, Any]:
    t = " ".join(text.split())
    m = _FORMAT.match(t)
    if not m:
        raise VocabError(
            f"format “{text}” should be percent, percent 1, 2 decimals, 3 digits or power"
        )
    if t.startswith("percent"):
        return {"style": "percent", "n": int(m.group(1) or 0)}
    if m.group(2):
        return {"style": "decimals", "n": int(m.group(2))}
    if m.group(3):
        n = int(m.group(3))
        if n < 1:
            raise VocabError("digits: at least 1")
        return {"style": "digits", "n": n}
    return {"style": "power", "n": 3}


DEFAULT_FORMAT = {"style": "digits", "n": 3}
OPS = ("<=", ">=", "~=", "<", ">")
_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def operand(page: str, text: str, view: dict[str, Any], kinds: dict[str, Any]) -> dict[str, Any]:
    t = text.strip()
    if _NUMBER.match(t):
        return {"kind": "number", "value": float(t), "src": t, "numeric": True}
    q = quantity(page, t, view, kinds)
    if not q["numeric"]:
        raise VocabError(f"“{t}” is a word, not a number: it cannot be compared")
    return q


def condition(page: str, text: str, view: dict[str, Any], kinds: dict[str, Any]) -> dict[str, Any]:
    for op in OPS:
        a, sep, b = text.partition(f" {op} ")
        if sep:
            left, right = operand(page, a, view, kinds), operand(page, b, view, kinds)
            return {"a": left, "op": op, "b": right, "src": " ".join(text.split())}
    raise VocabError(f"“{text}” is not a condition: write A op B with op one of "
                     "< <= > >= ~= (spaces around it)")  # fmt: skip
