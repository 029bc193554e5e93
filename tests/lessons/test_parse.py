"""The lesson format: a good file parses into plain data; every kind of malformed line is
refused with an error that names its line and says what is wrong."""

from __future__ import annotations

import pytest

from app.lessons import LessonError, all_lessons, parse_lesson

from .texts import READING_QUESTION

GOOD = (
    """\
# a comment
title: A small lesson
slug: a-small-lesson
summary: Two stops.

stop: The forget gate
page: step
view: hidden=4&text=hello&t=2&unit=1
highlight: gate f
say: f is {f[t,u] | percent}, and
  ‖dL/dc‖ is {norm dL/dc[T-1] | power}.
check: f[t,u] > 0.1
"""
    + READING_QUESTION
    + """
stop: The lab
page: compare
view: len=30&k=5
highlight: card lstm
say: {rnn.dL/dh[k] | 2 digits} against {lstm.dL/dc[k]}.
question: Which keeps more?
choice: RNN when rnn.dL/dh[k] > lstm.dL/dc[k]
choice: LSTM when lstm.dL/dc[k] >= rnn.dL/dh[k]
"""
)


def test_good_file_parses_into_stops_with_placeholders():
    lesson = parse_lesson(GOOD)
    assert (lesson["title"], lesson["slug"], len(lesson["stops"])) == (
        "A small lesson",
        "a-small-lesson",
        2,
    )
    step, lab = lesson["stops"]
    assert step["page"] == "step" and step["path"] == "/"
    assert step["view"] == "hidden=4&text=hello&t=2&unit=1"  # in the page's own order
    assert step["highlight"]["selector"] == '#diagram [data-gate="f"]'
    segments = step["say"][0]
    assert [s.get("text") for s in segments] == ["f is ", None, ", and ‖dL/dc‖ is ", None, "."]
    assert segments[1]["q"]["kind"] == "series" and segments[1]["format"] == {
        "style": "percent",
        "n": 0,
    }
    assert segments[3]["q"]["args"] == [{"ref": "T", "add": -1}]
    assert step["checks"][0]["op"] == ">"
    assert step["question"]["answer"]["kind"] == "reading"
    assert [c["when"]["op"] for c in lab["question"]["choices"]] == [">", ">="]


def test_the_gru_lessons_question_about_the_update_gate_hides_it():
    from app.lessons import all_lessons

    gru = next(les for les in all_lessons() if les["slug"] == "gru-beside-lstm")
    assert gru["stops"][0]["question"]["hide"] == ["z"]  # it was [], the answer on show


def test_a_question_says_what_to_hide_in_a_class():
    """By default the gate whose reading answers it; `hide:` names others; bad names refused."""
    step, lab = parse_lesson(GOOD)["stops"]
    assert step["question"]["hide"] == ["f"]
    assert lab["question"]["hide"] == []
    own = GOOD.replace("choice: LSTM when", "hide: h, c h\nchoice: LSTM when")
    assert parse_lesson(own)["stops"][1]["question"]["hide"] == ["h", "c"]
    for bad in ("hide: x", "hide: "):
        text = GOOD.replace("choice: LSTM when", f"{bad}\nchoice: LSTM when")
        with pytest.raises(LessonError, match="hide: name what to hide") as err:
            parse_lesson(text)
        assert err.value.line == line_of(text, bad.strip())
    stray = GOOD.replace("highlight: card lstm\n", "highlight: card lstm\nhide: i\n").replace(
        "question: Which keeps more?\n", ""
    )
    with pytest.raises(LessonError, match="“hide” without a “question:” line"):
        parse_lesson(
            stray.replace("choice: RNN when rnn.dL/dh[k] > lstm.dL/dc[k]\n", "").replace(
                "choice: LSTM when lstm.dL/dc[k] >= rnn.dL/dh[k]\n", ""
            )
        )


def test_view_is_written_as_the_page_writes_it():
    lesson = parse_lesson(GOOD.replace("view: len=30&k=5", "view: k=5&len=30&gain=1.0&seed=0"))
    assert lesson["stops"][1]["view"] == "len=30&k=5"  # defaults dropped, table order


def line_of(text: str, marker: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if marker in line)


# lines of GOOD that several cases below change
STEP_VIEW = "view: hidden=4&text=hello&t=2&unit=1"
LAB_SAY = "say: {rnn.dL/dh[k] | 2 digits}"
RNN_CHOICE = "choice: RNN when rnn.dL/dh[k] > lstm.dL/dc[k]"
LSTM_CHOICE = "choice: LSTM when lstm.dL/dc[k] >= rnn.dL/dh[k]"
CARD = "highlight: card lstm"

BAD = [
    ("highlight: gate f", "highlight: gate q", "not an element of the step page"),
    ("page: compare", "page: lab", "page “lab” should be one of step, compare, train"),
    ("view: len=30&k=5", "view: len=30&k=5&colour=red", "has no property “colour”"),
    ("view: len=30&k=5", "view: len=30&k=50", "k=50 but the sequence has 30 steps"),
    (STEP_VIEW, "view: hidden=4&text=hello&t=2&unit=9", "unit=9 but hidden=4"),
    (STEP_VIEW, "view: hidden=four&text=hello", "hidden=four is not valid"),
    ("check: f[t,u] > 0.1", "check: f[t,u] is big", "is not a condition"),
    ("check: f[t,u] > 0.1", "check: z[t,u] > 0.1", "a LSTM has no z"),
    ("check: f[t,u] > 0.1", "check: reading f[t,u] > 0.1", "is a word, not a number"),
    (LAB_SAY, "say: {rnn.dL/dh[k] | in bold}", "should be percent"),
    (LAB_SAY, "say: {dL/dh[k]}", "name the network first"),
    (LAB_SAY, "say: {rnn.dL/dh[40]}", "steps back k 40 is outside 0–29"),
    (LAB_SAY, "say: {rnn.dL/dh[k] | 2 digits", "without its pair"),
    (LAB_SAY, "say: {rnn.dL/dh[t]}", "t means nothing on the compare page"),
    (LAB_SAY, "say: {rnn.dL/dh}", "takes 1 index, not 0"),
    ("answer: reading f[t,u]", "answer: open", "write “reading GATE[t,u]”"),
    (LSTM_CHOICE, "choice: LSTM", "every choice needs “when CONDITION”"),
    ("choice: closed", "choice: shut", "needs the choices closed, partly open and open"),
    (RNN_CHOICE, "choice: RNN when lstm.hs_max > 1 > 2", "is not a quantity"),
    (CARD, f"{CARD}\nhighlight: chart", "is given twice in this stop"),
    (CARD, "colour: red", "unknown key “colour”"),
    (CARD, "this line has no colon", "expected “key: value”"),
    (LAB_SAY, "title: Late", "belongs before the first stop"),
    ("slug: a-small-lesson", "slug: A Small Lesson", "should be lowercase letters"),
    ("slug: a-small-lesson", "slug: own", "the slug “own” is taken"),
]


@pytest.mark.parametrize(("find", "replace", "message"), BAD, ids=[b[2][:30] for b in BAD])
def test_malformed_line_is_named_with_what_is_wrong(find, replace, message):
    text = GOOD.replace(find, replace, 1)
    assert text != GOOD
    with pytest.raises(LessonError) as err:
        parse_lesson(text)
    first = replace.splitlines()[-1] if "given twice" in message else replace.splitlines()[0]
    assert err.value.line == line_of(text, first), str(err.value)
    assert message in err.value.message, str(err.value)
    assert str(err.value).startswith(f"line {err.value.line}: ")


def test_stop_without_a_required_line_names_the_stop():
    text = GOOD.replace("highlight: card lstm\n", "")
    with pytest.raises(LessonError) as err:
        parse_lesson(text)
    assert err.value.line == line_of(text, "stop: The lab")
    assert "no “highlight:” line" in err.value.message


def test_missing_title_and_empty_lesson_are_refused():
    with pytest.raises(LessonError, match="needs a “title:” line"):
        parse_lesson(GOOD.replace("title: A small lesson\n", ""))
    with pytest.raises(LessonError, match="has no stops"):
        parse_lesson("title: t\nslug: s\nsummary: x\n")


def test_repository_lessons_tell_the_story_in_seven_lessons():
    lessons = all_lessons()
    assert len(lessons) >= 7
    assert len({les["slug"] for les in lessons}) == len(lessons)
    pages = {s["page"] for les in lessons for s in les["stops"]}
    assert pages == {"step", "compare", "train"}
    for les in lessons:
        for stop in les["stops"]:
            assert any("q" in seg for para in stop["say"] for seg in para), (
                les["slug"],
                stop["title"],
            )
