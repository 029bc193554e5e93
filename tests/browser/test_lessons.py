"""Walk every stop of every lesson in Chromium: each stop shows its own view (the page's URL
state is the stop's, the highlight moves), every number in the panel equals the API's for that
view (the test sends the page's own request body again and evaluates the quantity on the
answer), zero console errors; screenshots at 1280x720 and 390x844; axe-core finds no WCAG 2.1
A/AA violation on the lesson pages."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from pagetools import artifact

from app.lessons import all_lessons, evaluate, views
from tests.lessons.texts import READING_QUESTION

ROOT = Path(__file__).resolve().parents[2]
FORMAT_JS = "([v, f]) => import('/static/js/lesson-eval.js').then((m) => m.formatValue(v, f))"


def spans(page):
    return page.eval_on_selector_all(
        "#lesson-text .lesson-q",
        "els => els.map(e => ({q: e.dataset.q, value: e.dataset.value, text: e.dataset.text}))",
    )


def api_context(request, base_url, stop, body):
    """POST the page's own body again: the API's answer for this view."""
    state = views.parse_view(stop["page"], stop["view"])
    path = "/api/trace" if stop["page"] == "step" else "/api/compare"
    r = request.post(f"{base_url}{path}", data=body, headers={"Content-Type": "application/json"})
    assert r.ok, r.text()
    make = evaluate.step_context if stop["page"] == "step" else evaluate.compare_context
    return make(state, r.json())


def train_run(state):
    """One training over WS /ws/train (tests/lessons/runs.py, loaded by path)."""
    spec = importlib.util.spec_from_file_location(
        "lesson_runs", ROOT / "tests" / "lessons" / "runs.py"
    )
    runs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runs)
    from fastapi.testclient import TestClient

    from app.main import app

    with TestClient(app) as client:
        return runs.train_run(client, state, "lstm")


def check_numbers(page, stop, ctx):
    quantities = [seg for para in stop["say"] for seg in para if "q" in seg]
    shown = spans(page)
    assert [s["q"] for s in shown] == [seg["q"]["src"] for seg in quantities]
    for s, seg in zip(shown, quantities, strict=True):
        want = evaluate.value(seg["q"], ctx)
        got = json.loads(s["value"])
        if isinstance(want, str):
            assert got == want, s
        else:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-300), s
        assert s["text"] == page.evaluate(FORMAT_JS, [want, seg["format"]]), s


def poll(page, expression: str, timeout: float) -> None:
    """Wait until a page expression is true. Not wait_for_function: its in-page polling uses
    eval, which the pages' Content-Security-Policy refuses; evaluate() goes through CDP."""
    waited = 0.0
    while not page.evaluate(expression):
        assert waited < timeout, f"still false after {timeout / 1000:.0f} s: {expression}"
        page.wait_for_timeout(200)
        waited += 200


def wait_complete(page, timeout=30_000):
    page.wait_for_selector("#lesson-panel[data-complete='true']", timeout=timeout)
    # the step page marks its body ready once the charts are drawn (the heatmaps' cursor too)
    poll(page, "!globalThis.lstmExplainer || document.body.dataset.ready === '1'", timeout)


@pytest.mark.slow
@pytest.mark.parametrize("lesson", [les for les in all_lessons()], ids=lambda les: les["slug"])
@pytest.mark.timeout(
    300
)  # a training lesson trains for real (a few seconds, more on a busy machine)
def test_walk_every_stop_numbers_equal_the_api(make_page, base_url, lesson):
    page = make_page(1280, 720)
    sent: list[str] = []
    page.on(
        "request", lambda r: sent.append(r.post_data) if r.url.endswith("/api/compare") else None
    )
    page.on(
        "websocket",
        lambda ws: ws.on("framesent", lambda f: sent.append(f) if isinstance(f, str) else None),
    )
    page.goto(f"{base_url}/lessons/{lesson['slug']}")
    previous = None
    for k, stop in enumerate(lesson["stops"], 1):
        page.wait_for_selector(f"#lesson-panel[data-stop='{k}']")
        assert page.evaluate("location.pathname") == f"/lessons/{lesson['slug']}/{k}"
        assert page.inner_text("#lesson-title") == stop["title"]
        if stop["page"] == "train":
            walk_train_stop(page, stop)
        else:
            wait_complete(page)
            assert (
                page.evaluate("location.search.slice(1)") == stop["view"]
            )  # the page kept the view
            # the step page's socket also asks for compact binary frames and says what it shows
            # (the exact numbers of that unit come with them): not part of the trace asked for
            shown = ("frames", "view")
            # the last request sent (only it is read: a gallery char LM's is 7.8 MB of weights)
            last = json.loads(next(b for b in reversed(sent) if b and '"input"' in b))
            body = json.dumps({k: v for k, v in last.items() if k not in shown})
            ctx = api_context(page.request, base_url, stop, body)
            want_body = (evaluate.step_body if stop["page"] == "step" else evaluate.compare_body)(
                views.parse_view(stop["page"], stop["view"])
            )
            assert json.loads(body) == want_body  # the page sent what the view means
            check_numbers(page, stop, ctx)
        marked = page.locator("[data-lesson-highlight='true']")
        assert marked.count() == 1
        assert "lesson-look" in marked.get_attribute("aria-describedby").split()
        here = (stop["page"], stop["view"], stop["highlight"]["name"])
        assert here != previous, "a stop must change the view or what it highlights"
        previous = here
        if stop["question"]:
            page.click("#lesson-choices button >> nth=0")
            page.click("#lesson-reveal")
            assert "Answer, computed from this run" in page.inner_text("#lesson-answer")
        if k < len(lesson["stops"]):
            page.click("#lesson-next")
    assert page.is_disabled("#lesson-next")


def walk_train_stop(page, stop):
    state = views.parse_view("train", stop["view"])
    assert page.evaluate("location.search.slice(1)") == stop["view"]
    if page.evaluate("globalThis.lstmxTrain.runs.length") == 0:
        page.click("#start")
    poll(page, "globalThis.lstmxTrain.runs.every(r => r.done)", 240_000)
    wait_complete(page, 10_000)
    runs = page.evaluate(
        "globalThis.lstmxTrain.runs.map(r => [r.cell, r.doneMetric, r.losses.at(-1)[1]])"
    )
    assert [r[0] for r in runs] == evaluate.train_cells(state)
    for s in spans(page):
        if s["q"] == "lstm.metric":
            assert json.loads(s["value"]) == runs[0][1]
        if s["q"] == "lstm.loss":
            assert json.loads(s["value"]) == runs[0][2]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_training_stop_shows_the_numbers_of_the_same_run_over_the_socket(make_page, base_url):
    """The training lesson's numbers equal a run of WS /ws/train with the page's own body."""
    lesson = next(les for les in all_lessons() if any(s["page"] == "train" for s in les["stops"]))
    k, stop = next((k, s) for k, s in enumerate(lesson["stops"], 1) if s["checks"])
    page = make_page(1280, 720)
    page.goto(f"{base_url}/lessons/{lesson['slug']}/{k}")
    page.click("#start")
    poll(page, "globalThis.lstmxTrain.runs.every(r => r.done)", 240_000)
    wait_complete(page, 10_000)
    state = views.parse_view("train", stop["view"])
    run, baseline = train_run(state)
    ctx = evaluate.train_context(state, {"lstm": run}, baseline)
    check_numbers(page, stop, ctx)


LOOK = ("inside-the-cell", 4)  # the output gate stop: text, numbers, a question, a gate outlined


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (390, 844)])
def test_lesson_stop_screenshot(make_page, base_url, width, height):
    page = make_page(width, height)
    page.goto(f"{base_url}/lessons/{LOOK[0]}/{LOOK[1]}")
    wait_complete(page)
    page.wait_for_timeout(300)
    page.screenshot(path=artifact(f"lesson-stop-{width}x{height}.png"))


@pytest.mark.parametrize(
    "url",
    [
        "/lessons",
        f"/lessons/{LOOK[0]}/{LOOK[1]}",
        "/lessons/why-rnns-forget/1",
        "/lessons/training-the-gates/1",
    ],
)
def test_lesson_pages_have_no_wcag_violation(make_page, base_url, assert_accessible, url):
    page = make_page(1280, 720)
    page.goto(f"{base_url}{url}")
    if url == "/lessons":
        page.screenshot(path=artifact("lessons-list.png"), full_page=True)
    elif "training" in url:  # its numbers wait for Start training: the panel as it first is
        page.wait_for_selector("#lesson-panel[data-stop='1'] .lesson-q")
    else:
        wait_complete(page)
    assert_accessible(page)  # axe-core, WCAG 2.1 A and AA (tests/browser/accessibility.py)


OWN = (
    """\
title: My lesson
slug: my-lesson
summary: A teacher's own file.

stop: The forget gate
page: step
view: hidden=3&text=hey&t=1
highlight: gate f
say: Here f = {f[t,u] | 3 digits}.
"""
    + READING_QUESTION
    + """
stop: The lab
page: compare
view: len=20&hidden=4
highlight: chart
say: The RNN keeps {rnn.dL/dh[10] | power} ten steps back.
"""
)


def test_a_bad_lesson_file_is_refused_naming_its_line(browser, base_url, tmp_path):
    """Its own context: Chromium logs the 422 answer as a failed load, the one console error
    this test expects (make_page's pages allow none)."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on(
            "console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None
        )
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base_url}/lessons")
        text = OWN.replace("highlight: chart", "highlight: the chart")
        line = next(n for n, s in enumerate(text.splitlines(), 1) if s == "highlight: the chart")
        bad = tmp_path / "bad.txt"
        bad.write_text(text)
        page.set_input_files("#lesson-file", str(bad))
        page.wait_for_selector("#lesson-file-error:not(:empty)")
        shown = page.inner_text("#lesson-file-error")
        assert f"line {line}: highlight: “the chart” is not an element of the compare page" in shown
        assert page.url == f"{base_url}/lessons"  # nothing is played
        assert len(errors) == 1 and "status of 422" in errors[0], errors
    finally:
        context.close()


def test_load_your_own_lesson_plays_it(make_page, base_url, tmp_path):
    page = make_page(1280, 720)
    page.goto(f"{base_url}/lessons")
    good = tmp_path / "good.txt"
    good.write_text(OWN)
    page.set_input_files("#lesson-file", str(good))
    page.wait_for_url("**/lessons/own/step/1?hidden=3&text=hey&t=1")
    wait_complete(page)
    assert page.inner_text("#lesson-title") == "The forget gate"
    page.click("#lesson-next")
    page.wait_for_url("**/lessons/own/compare/2?len=20&hidden=4")
    wait_complete(page)
    assert page.inner_text("#lesson-progress") == "Stop 2 of 2"


def test_keys_move_stops_without_stealing_the_players_arrows(make_page, base_url):
    from urllib.parse import parse_qs

    # stops 1 and 2 of the lesson share one view (the next stop then applies in place)
    stops = next(les for les in all_lessons() if les["slug"] == "inside-the-cell")["stops"]
    assert stops[0]["view"] == stops[1]["view"]
    t1 = int(parse_qs(stops[0]["view"]).get("t", ["0"])[0])
    page = make_page(1280, 720)
    page.goto(f"{base_url}/lessons/inside-the-cell/1")
    wait_complete(page)
    page.keyboard.press("ArrowRight")  # focus on the page: the player steps, the lesson stays
    poll(page, f"globalThis.lstmExplainer.state.t === {t1 + 1}", 10_000)
    assert page.get_attribute("#lesson-panel", "data-stop") == "1"
    poll(page, "!document.getElementById('lesson-moved').hidden", 5_000)  # left the stop's view
    page.click("#lesson-return")  # back to the stop's own view
    page.wait_for_url(f"**/lessons/inside-the-cell/1?*t={t1}*")
    wait_complete(page)
    page.evaluate("globalThis.samePage = true")
    page.focus("#lesson-next")
    page.keyboard.press("ArrowRight")  # inside the panel: the next stop, same view: in place
    page.wait_for_selector("#lesson-panel[data-stop='2']")
    assert page.evaluate("location.pathname") == "/lessons/inside-the-cell/2"
    same = f"globalThis.samePage === true && globalThis.lstmExplainer.state.t === {t1}"
    assert page.evaluate(same)
    page.keyboard.press("PageDown")
    page.wait_for_selector("#lesson-panel[data-stop='3']")
    page.keyboard.press("PageUp")
    page.wait_for_selector("#lesson-panel[data-stop='2']")


def test_a_stops_question_becomes_the_class_poll(make_page, base_url):
    page = make_page(1280, 720)
    page.add_init_script(
        "globalThis.lstmxClass = { ask(q, c) { globalThis.asked = [q, c]; return true; } };"
    )
    page.goto(f"{base_url}/lessons/reading-gates/3")
    wait_complete(page)
    poll(page, "Array.isArray(globalThis.asked)", 5_000)
    stop = next(les for les in all_lessons() if les["slug"] == "reading-gates")["stops"][2]
    q = stop["question"]
    assert page.evaluate("globalThis.asked") == [q["text"], [c["text"] for c in q["choices"]]]
    assert page.is_visible("#lesson-class")
    page.click("#lesson-reveal")
    assert page.get_attribute("#lesson-answer", "data-answer") == "partly open"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_in_a_class_students_follow_the_stops_and_answer_the_stops_question(make_page, base_url):
    teacher, student = make_page(1280, 720), make_page(390, 844)
    teacher.goto(f"{base_url}/lessons/reading-gates/2")
    wait_complete(teacher)
    teacher.get_by_role("button", name="Start a class").click()
    code = teacher.locator(".class-code[data-class-code]").get_attribute("data-class-code")
    student.goto(f"{base_url}/c/{code}")
    student.wait_for_url("**/lessons/reading-gates/2?*")
    teacher.keyboard.press("PageDown")  # (the class panel covers the page) stop 3 asks a question
    student.wait_for_url("**/lessons/reading-gates/3?*")
    wait_complete(student)
    assert student.inner_text("#lesson-title") == teacher.inner_text("#lesson-title")
    teacher.wait_for_selector("#lesson-class:not([hidden])")
    student.locator(".class-poll").get_by_role("button", name="partly open").click()
    teacher.wait_for_selector(".class-counts[data-answered='1']")
