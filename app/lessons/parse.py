"""Lesson files: a small line-oriented format a teacher can copy and edit (docs/lessons.md).

    title: Why RNNs forget
    slug: why-rnns-forget
    summary: One or two sentences for the list of lessons.

    stop: The plain RNN
    page: compare
    view: rinit=orthogonal&gain=0.9&len=60
    highlight: chart
    say: Ten steps back the RNN's gradient is {rnn.dL/dh[10] | power} of its size at the end.
    check: rnn.dL/dh[10] < 0.5
    question: Will it be larger or smaller twenty steps back?
    choice: larger when rnn.dL/dh[20] > rnn.dL/dh[10]
    choice: smaller when rnn.dL/dh[20] < rnn.dL/dh[10]

Every line is `key: value`; an indented line continues the one above; `#` starts a comment
line. parse_lesson() returns the lesson as plain data or raises LessonError naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import views, vocab

MAX_BYTES = 64_000
MAX_STOPS = 30
MAX_SAY_CHARS = 900
LIMITS = {"title": 80, "summary": 300, "stop": 80, "question": 300, "choice": 80}
LESSON_KEYS = ("title", "slug", "summary")
STOP_KEYS = ("stop", "page", "view", "highlight", "say", "check", "question", "choice", "answer",
             "hide")  # fmt: skip
HIDEABLE = ("i", "f", "g", "o", "r", "z", "n", "c", "h")  # hidden on every class screen
REPEATABLE = ("say", "check", "choice")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class LessonError(ValueError):
    """A malformed lesson file; `line` is 1-based (0 when the problem is the whole file)."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}" if line else message)


@dataclass
class _Field:
    key: str
    value: str
    line: int


@dataclass
class _Stop:
    line: int
    fields: list[_Field] = field(default_factory=list)

    def one(self, key: str) -> _Field | None:
        found = [f for f in self.fields if f.key == key]
        return found[0] if found else None

    def all(self, key: str) -> list[_Field]:
        return [f for f in self.fields if f.key == key]


def _lines(text: str) -> list[_Field]:
    """Raw `key: value` fields with their line numbers; continuation lines joined."""
    out: list[_Field] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if raw[0] in " \t":
            if not out:
                raise LessonError(n, "an indented line continues the line above, but there is none")
            out[-1].value += " " + raw.strip()
            continue
        key, colon, value = raw.partition(":")
        key = key.strip().lower()
        if not colon or not re.fullmatch(r"[a-z]+", key):
            raise LessonError(
                n,
                f"expected “key: value” (keys: {', '.join(LESSON_KEYS + STOP_KEYS)}), "
                f"got “{raw.strip()[:60]}”",
            )
        if key not in LESSON_KEYS + STOP_KEYS:
            raise LessonError(
                n, f"unknown key “{key}” (keys: {', '.join(LESSON_KEYS + STOP_KEYS)})"
            )
        out.append(_Field(key, value.strip(), n))
    return out


def parse_lesson(text: str) -> dict[str, Any]:
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise LessonError(0, f"the file is larger than {MAX_BYTES:,} bytes")
    head: dict[str, _Field] = {}
    stops: list[_Stop] = []
    for f in _lines(text):
        if f.key in LESSON_KEYS:
            if stops:
                raise LessonError(f.line, f"“{f.key}” belongs before the first stop")
            if f.key in head:
                raise LessonError(
                    f.line, f"“{f.key}” is given twice (first on line {head[f.key].line})"
                )
            head[f.key] = f
        elif f.key == "stop":
            stops.append(_Stop(f.line, [f]))
        elif not stops:
            raise LessonError(
                f.line, f"“{f.key}” belongs to a stop: start one with “stop: its title”"
            )
        else:
            prev = stops[-1].one(f.key)
            if prev and f.key not in REPEATABLE:
                raise LessonError(
                    f.line, f"“{f.key}” is given twice in this stop (first on line {prev.line})"
                )
            stops[-1].fields.append(f)
    for key in LESSON_KEYS:
        if key not in head:
            raise LessonError(0, f"the lesson needs a “{key}:” line before its first stop")
        _text(head[key], LIMITS.get(key, 80))
    slug = head["slug"]
    if slug.value in ("own", "parse"):  # /lessons/own/... and /api/lessons/parse are taken
        raise LessonError(slug.line, f"the slug “{slug.value}” is taken: choose another")
    if not _SLUG.match(slug.value) or len(slug.value) > 60:
        raise LessonError(
            slug.line,
            f"slug “{slug.value}” should be lowercase letters, digits and single dashes "
            "(at most 60)",
        )
    if not stops:
        raise LessonError(0, "the lesson has no stops: add one with “stop: its title”")
    if len(stops) > MAX_STOPS:
        raise LessonError(stops[MAX_STOPS].line, f"at most {MAX_STOPS} stops")
    return {
        "title": head["title"].value,
        "slug": slug.value,
        "summary": head["summary"].value,
        "stops": [_stop(s) for s in stops],
    }


def _text(f: _Field, limit: int) -> str:
    if not f.value:
        raise LessonError(f.line, f"“{f.key}” is empty")
    if len(f.value) > limit:
        raise LessonError(f.line, f"“{f.key}” is {len(f.value)} characters; at most {limit}")
    if "{" in f.value or "}" in f.value:
        if f.key not in ("say",):
            raise LessonError(f.line, f"numbers in braces belong in “say:” lines, not in “{f.key}”")
    return f.value


def _need(stop: _Stop, key: str) -> _Field:
    f = stop.one(key)
    if f is None:
        raise LessonError(stop.line, f"this stop has no “{key}:” line")
    return f


def _stop(stop: _Stop) -> dict[str, Any]:
    title = _text(stop.fields[0], LIMITS["stop"])
    page_f = _need(stop, "page")
    page = page_f.value
    if page not in views.PAGES:
        raise LessonError(page_f.line, f"page “{page}” should be one of {', '.join(views.PAGES)}")
    view_f = _need(stop, "view")
    try:
        state = views.parse_view(page, view_f.value)
    except views.ViewError as exc:
        raise LessonError(view_f.line, f"view: {exc}") from None
    kinds = {k: kind for k, (_, kind) in views.PAGES[page].items()}
    _check_view(page, state, view_f)
    hl_f = _need(stop, "highlight")
    try:
        hl = vocab.highlight(page, hl_f.value)
    except vocab.VocabError as exc:
        raise LessonError(hl_f.line, f"highlight: {exc}") from None
    says = stop.all("say")
    if not says:
        raise LessonError(stop.line, "this stop has no “say:” line")
    if sum(len(f.value) for f in says) > MAX_SAY_CHARS:
        raise LessonError(
            says[-1].line,
            f"the stop says more than {MAX_SAY_CHARS} characters: keep it to 2–4 sentences",
        )
    query = views.serialise(page, state)
    out: dict[str, Any] = {
        "title": title,
        "page": page,
        "view": query,
        "path": views.PATHS[page],
        "highlight": hl,
        "say": [_say(page, f, state, kinds) for f in says],
        "checks": [_cond(page, f, state, kinds) for f in stop.all("check")],
        "question": _question(page, stop, state, kinds),
    }
    _bounds(out, state, page, stop)
    return out


def _check_view(page: str, state: dict[str, Any], f: _Field) -> None:
    if page == "step":
        _check_step_index(f, state, "t", views.step_length(state))
        if state["unit"] != "mean" and int(state["unit"]) >= state["hidden"]:
            raise LessonError(f.line, f"view: unit={state['unit']} but hidden={state['hidden']}")
        if state["layer"] >= state["layers"]:
            raise LessonError(f.line, f"view: layer={state['layer']} but layers={state['layers']}")
        if state["live"]:
            raise LessonError(f.line, "view: live typing cannot be a lesson's view")
    if page == "compare":
        _check_step_index(f, state, "k", views.compare_length(state))


def _check_step_index(f: _Field, state: dict[str, Any], key: str, T: int) -> None:
    """The view's step index state[key] (t, k) lies in a sequence of T >= 1 steps."""
    if T < 1:
        raise LessonError(f.line, "view: the sequence is empty")
    if state[key] >= T:
        raise LessonError(
            f.line, f"view: {key}={state[key]} but the sequence has {T} steps ({key} < {T})"
        )


def _say(
    page: str, f: _Field, state: dict[str, Any], kinds: dict[str, Any]
) -> list[dict[str, Any]]:
    text = f.value
    if not text:
        raise LessonError(f.line, "“say” is empty")
    stripped = _PLACEHOLDER.sub("", text)
    if "{" in stripped or "}" in stripped:
        raise LessonError(
            f.line, "a “{” or “}” without its pair (numbers are written {name | format})"
        )
    segments: list[dict[str, Any]] = []
    at = 0
    for m in _PLACEHOLDER.finditer(text):
        if m.start() > at:
            segments.append({"text": text[at : m.start()]})
        inside, bar, fmt = m.group(1).partition("|")
        try:
            q = vocab.quantity(page, inside, state, kinds)
            number = vocab.number_format(fmt) if bar else dict(vocab.DEFAULT_FORMAT)
        except vocab.VocabError as exc:
            raise LessonError(f.line, f"{{{m.group(1).strip()}}}: {exc}") from None
        if bar and not q["numeric"]:
            raise LessonError(f.line, f"{{{m.group(1).strip()}}}: a word takes no number format")
        segments.append({"q": q, "format": number})
        at = m.end()
    if at < len(text):
        segments.append({"text": text[at:]})
    return segments


def _cond(page: str, f: _Field, state: dict[str, Any], kinds: dict[str, Any]) -> dict[str, Any]:
    try:
        return vocab.condition(page, f.value, state, kinds)
    except vocab.VocabError as exc:
        raise LessonError(f.line, f"{f.key}: {exc}") from None


READINGS = ("closed", "partly open", "open")


def _question(
    page: str, stop: _Stop, state: dict[str, Any], kinds: dict[str, Any]
) -> dict[str, Any] | None:
    q_f, choices, ans_f = stop.one("question"), stop.all("choice"), stop.one("answer")
    hide_f = stop.one("hide")
    if q_f is None:
        stray = choices[0] if choices else ans_f or hide_f
        if stray:
            raise LessonError(stray.line, f"“{stray.key}” without a “question:” line")
        return None
    text = _text(q_f, LIMITS["question"])
    if not 2 <= len(choices) <= 4:  # a class poll takes 2 to 4
        raise LessonError(q_f.line, f"a question needs 2 to 4 “choice:” lines, not {len(choices)}")
    parsed: list[dict[str, Any]] = []
    for c in choices:
        label, when, cond = c.value.partition(" when ")
        label = label.strip()
        if not label:
            raise LessonError(c.line, "the choice has no text")
        if len(label) > LIMITS["choice"]:
            raise LessonError(c.line, f"a choice is at most {LIMITS['choice']} characters")
        if label in [p["text"] for p in parsed]:
            raise LessonError(c.line, f"the choice “{label}” is given twice")
        entry: dict[str, Any] = {"text": label, "when": None}
        if when:
            entry["when"] = _cond(page, _Field("choice", cond, c.line), state, kinds)
        parsed.append(entry)
    conditional = [p["when"] is not None for p in parsed]
    answer = None
    if ans_f is not None:
        if any(conditional):
            raise LessonError(
                ans_f.line, "give either “answer:” or a “when” on every choice, not both"
            )
        reading = re.fullmatch(r"reading\s+(.+)", ans_f.value)
        if not reading:
            raise LessonError(
                ans_f.line,
                "answer: write “reading GATE[t,u]”, or put “when CONDITION” on each choice",
            )
        try:
            answer = vocab.quantity(page, ans_f.value, state, kinds)
        except vocab.VocabError as exc:
            raise LessonError(ans_f.line, f"answer: {exc}") from None
        if sorted(p["text"] for p in parsed) != sorted(READINGS):
            raise LessonError(
                choices[0].line,
                "an answer by reading needs the choices closed, partly open and open",
            )
    elif not all(conditional):
        bad = choices[conditional.index(False)]
        raise LessonError(
            bad.line, "every choice needs “when CONDITION” (or give “answer: reading GATE[t,u]”)"
        )
    return {"text": text, "choices": parsed, "answer": answer, "hide": _hide(hide_f, answer)}


def _hide(f: _Field | None, answer: dict[str, Any] | None) -> list[str]:
    """What the question is about, hidden on every class screen while it is the class poll:
    `hide: i` (gates and states, i f g o r z n c h, space-separated); by default the gate whose
    reading answers it."""
    if f is None:
        return [answer["name"]] if answer and answer.get("name") in HIDEABLE else []
    words = f.value.replace(",", " ").split()
    bad = [w for w in words if w not in HIDEABLE]
    if bad or not words:
        raise LessonError(f.line, f"hide: name what to hide among {' '.join(HIDEABLE)}")
    return list(dict.fromkeys(words))


def _bounds(out: dict[str, Any], state: dict[str, Any], page: str, stop: _Stop) -> None:
    """Every index, resolved at the stop's view, must fall inside the run."""
    if page != "step" and page != "compare":
        return
    T = views.step_length(state) if page == "step" else views.compare_length(state)
    H = state["hidden"]
    refs = {"t": state.get("t", 0), "T": T, "k": state.get("k", 0)}
    unit = state.get("unit", "0")
    for f, q in _quantities_with_lines(out, stop):
        for n, a in enumerate(q.get("args", [])):
            if a["ref"] == "u":
                if unit == "mean":
                    continue
                v = int(unit) + a["add"]
            else:
                v = (refs[a["ref"]] if a["ref"] else 0) + a["add"]
            second = n == 1 and q["kind"] in ("series", "reading")
            if second and q["name"] == "x":
                continue  # the input width is known only once the input is built
            limit, what = (
                (H, "unit") if second else (T, "step" if page == "step" else "steps back k")
            )
            if not 0 <= v < limit:
                raise LessonError(
                    f.line,
                    f"{{{q['src']}}}: {what} {v} is outside 0–{limit - 1} in this stop's view",
                )


def _quantities_with_lines(out: dict[str, Any], stop: _Stop):
    for f, segs in zip(stop.all("say"), out["say"], strict=True):
        for s in segs:
            if "q" in s:
                yield f, s["q"]
    conds = [(f, c) for f, c in zip(stop.all("check"), out["checks"], strict=True)]
    q = out["question"]
    if q:
        conds += [
            (f, c["when"])
            for f, c in zip(stop.all("choice"), q["choices"], strict=True)
            if c["when"]
        ]
        if q["answer"]:
            yield _need(stop, "answer"), q["answer"]
    for f, c in conds:
        for side in (c["a"], c["b"]):
            if side["kind"] != "number":
                yield f, side
