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

from app.lessons import all_lessons, evaluate, views

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
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
            bodies = [b for b in sent if b and ('"input"' in b)]
            ctx = api_context(page.request, base_url, stop, bodies[-1])
            want_body = (evaluate.step_body if stop["page"] == "step" else evaluate.compare_body)(
                views.parse_view(stop["page"], stop["view"])
            )
            assert json.loads(bodies[-1]) == want_body  # the page sent what the view means
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
    ARTIFACTS.mkdir(exist_ok=True)
    page = make_page(width, height)
    page.goto(f"{base_url}/lessons/{LOOK[0]}/{LOOK[1]}")
    wait_complete(page)
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"lesson-stop-{width}x{height}.png"))


@pytest.mark.parametrize(
    "url", ["/lessons", f"/lessons/{LOOK[0]}/{LOOK[1]}", "/lessons/why-rnns-forget/1"]
)
def test_lesson_pages_have_no_wcag_violation(make_page, base_url, url):
    axe_mod = pytest.importorskip("axe_playwright_python.sync_playwright")
    page = make_page(1280, 720)
    page.goto(f"{base_url}{url}")
    if url == "/lessons":
        page.screenshot(path=str(ARTIFACTS / "lessons-list.png"), full_page=True)
    else:
        wait_complete(page)
    tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
    result = axe_mod.Axe().run(page, options={"runOnly": {"type": "tag", "values": tags}})
    assert result.violations_count == 0, f"{url}: {result.generate_report()}"
