"""The pages a lesson stop can show and their URL state, mirrored from the front end's tables
(static/js/state.js, static/js/compare-state.js, static/js/train.js FIELDS): a stop's `view`
is checked against the page's own properties, and written back the way the page writes its
URL (only values that differ from the defaults, in table order), so the page, reloading the
stop's URL, writes the same query again.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode


@dataclass(frozen=True)
class Kind:
    type: str  # int | float | enum | bool | string | unit
    lo: float = 0
    hi: float = 0
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.type in ("int", "float"):
            what = "a whole number" if self.type == "int" else "a number"
            return f"{what} from {js_number(self.lo)} to {js_number(self.hi)}"
        if self.type == "enum":
            return "one of " + ", ".join(self.choices)
        if self.type == "bool":
            return "1 or 0"
        if self.type == "unit":
            return "a unit number or mean"
        return f"text of at most {int(self.hi)} characters"


def int_(lo: int, hi: int) -> Kind:
    return Kind("int", lo, hi)


def num(lo: float, hi: float) -> Kind:
    return Kind("float", lo, hi)


def one_of(*choices: str) -> Kind:
    return Kind("enum", choices=choices)


def text(n: int) -> Kind:
    return Kind("string", hi=n)


BOOL, UNIT, SEED = Kind("bool"), Kind("unit"), int_(0, 2**31 - 1)
VARIANTS = one_of("standard", "no_forget_gate", "peephole", "coupled")

# page -> {key: (default, kind)}, in the order the page writes its URL.
PAGES: dict[str, dict[str, tuple[Any, Kind]]] = {
    "step": {
        "cell": ("lstm", one_of("lstm", "gru", "rnn")),
        "variant": ("standard", VARIANTS),
        "hidden": (8, int_(1, 512)),
        "layers": (1, int_(1, 4)),
        "seed": (0, SEED),
        "fbias": (0, num(-20, 20)),
        "rinit": ("uniform", one_of("uniform", "orthogonal")),
        "gain": (1, num(0, 10)),
        "kind": ("text", one_of("text", "sine", "random", "adding", "brackets", "custom")),
        "text": ("hello world", text(10000)),
        "live": (False, BOOL),
        "len": (24, int_(1, 10000)),
        "iseed": (0, SEED),
        "seq": ("", text(8000)),
        "t": (0, int_(0, 100000)),
        "unit": ("0", UNIT),
        "layer": (0, int_(0, 3)),
        "speed": (4, num(0.25, 60)),
        "lo": (0.01, num(0, 1)),
        "hi": (0.95, num(0, 1)),
        "hold": ("", text(2000)),  # gates held, "f:1@5-9/u2;i:0@*" (static/js/holds.js)
        "model": ("", text(64)),  # a gallery model's slug; "none": random weights
    },
    "compare": {
        "kind": (
            "random",
            one_of("random", "sine", "adding", "brackets", "latch", "text", "custom"),
        ),
        "seq": ("", text(60000)),
        "text": ("the quick brown fox jumps over the lazy dog", text(10000)),
        "len": (200, int_(1, 10000)),
        "iseed": (0, SEED),
        "scale": (1, num(0, 100)),
        "hidden": (16, int_(1, 512)),
        "seed": (0, SEED),
        "rinit": ("uniform", one_of("uniform", "orthogonal")),
        "gain": (1, num(0, 10)),
        "zerob": (False, BOOL),
        "fbias": (0, num(-50, 50)),
        "ibias": (0, num(-50, 50)),
        "variant": ("standard", VARIANTS),
        "clampf": ("", text(200)),
        "dtype": ("float64", one_of("float64", "float32")),
        "k": (0, int_(0, 9999)),
        "model": ("", text(64)),  # a gallery model: its trained LSTM and RNN
    },
    "train": {
        "task": (
            "adding",
            one_of(
                "adding",
                "adding_1997",
                "latch",
                "temporal_order",
                "embedded_reber_reset",
                "embedded_reber",
                "copy",
                "brackets",
                "sine",
                "charlm",
            ),
        ),
        "len": (50, int_(1, 1000)),
        "tseed": (0, SEED),
        "mode": ("single", one_of("single", "race")),
        "cell": ("lstm", one_of("lstm", "gru", "rnn")),
        "hidden": (16, int_(1, 256)),
        "fbias": (1, num(-10, 10)),
        "steps": (1200, int_(1, 20000)),
        "lr": (0.01, num(1e-6, 10)),
        "batch": (32, int_(1, 256)),
        "clip": (1, num(0, 1000)),
        "optimizer": ("adam", one_of("adam", "sgd")),
        "seed": (0, SEED),
        "temp": (0.8, num(0.1, 2)),  # temperature of a text model's samples
    },
}

PATHS = {"step": "/", "compare": "/compare", "train": "/train"}


def js_number(v: float) -> str:
    """A number as JavaScript's String(v) writes it (1 not 1.0; 0.9 as 0.9)."""
    if float(v).is_integer() and abs(v) < 1e21:
        return str(int(v))
    return repr(float(v))


def parse_kind(kind: Kind, raw: str) -> Any:
    """One raw URL value -> its value, or None when invalid (as urlstate.js parseKind)."""
    if kind.type == "int":
        if not re.fullmatch(r"-?\d+", raw):
            return None
        n = int(raw)
        return n if kind.lo <= n <= kind.hi else None
    if kind.type == "float":
        try:
            x = float(raw)
        except ValueError:
            return None
        if raw.strip() == "" or not math.isfinite(x) or not kind.lo <= x <= kind.hi:
            return None
        return int(x) if x.is_integer() else x
    if kind.type == "enum":
        return raw if raw in kind.choices else None
    if kind.type == "bool":
        return {"1": True, "true": True, "0": False, "false": False}.get(raw)
    if kind.type == "unit":
        return raw if raw == "mean" or re.fullmatch(r"\d{1,3}", raw) else None
    return raw if len(raw) <= kind.hi else None


class ViewError(ValueError):
    pass


def parse_view(page: str, query: str) -> dict[str, Any]:
    """A stop's view (a query string) -> the page's whole state; ViewError naming the key."""
    table = PAGES[page]
    state = {key: default for key, (default, _) in table.items()}
    seen: set[str] = set()
    query = query.strip().lstrip("?")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ViewError(f"“{query}” is not a URL query (key=value joined by &)") from None
    for key, raw in pairs:
        if key not in table:
            raise ViewError(f"the {page} page has no property “{key}” "
                            f"(it has {', '.join(table)})")  # fmt: skip
        if key in seen:
            raise ViewError(f"“{key}” is given twice")
        seen.add(key)
        value = parse_kind(table[key][1], raw)
        if value is None:
            raise ViewError(f"{key}={raw} is not valid: {key} is {table[key][1].describe()}")
        state[key] = value
    return state


def serialise(page: str, state: dict[str, Any]) -> str:
    """The query the page itself writes for this state (urlstate.js serialise)."""
    out = []
    for key, (default, kind) in PAGES[page].items():
        v = state[key]
        if v == default:
            continue
        if kind.type == "bool":
            out.append((key, "1" if v else "0"))
        elif kind.type in ("int", "float"):
            out.append((key, js_number(v)))
        else:
            out.append((key, str(v)))
    # URLSearchParams keeps "*" and escapes "~"; quote_plus does the opposite
    return urlencode(out, safe="*").replace("~", "%7E")


def step_length(state: dict[str, Any]) -> int:
    """T of a step-page view (inputs.js: brackets are rounded down to an even length >= 2)."""
    kind = state["kind"]
    if kind == "text":
        return len(state["text"])
    if kind == "brackets":
        return max(2, state["len"] - state["len"] % 2)
    if kind == "custom":
        return len([row for row in state["seq"].split(";") if row.strip()])
    return state["len"]


def compare_length(state: dict[str, Any]) -> int:
    if state["kind"] == "text":
        return len(state["text"])
    if state["kind"] == "custom":
        return len([row for row in state["seq"].split(";") if row.strip()])
    return state["len"]
