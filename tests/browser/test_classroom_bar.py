"""A class as a teacher runs it (issue #20's bar): the class panel never covers the page, one tab
drives, the class's model survives a teacher's reload, a question does not show its answer, and
a stop on the same page does not reload a student's page.

Teacher at 1920x1080 and 1280x720, students at 1280x720 and 390x844, through every stop of a
lesson with a question: the element under the centre of "Next →" is that button; for each
student the highlighted element's centre is on screen and nothing covers it (elementFromPoint).
"""

from __future__ import annotations

import pytest
from pagetools import artifact
from test_classroom import SLOW, send_model_key, show_code, teach_training, trace_requests
from test_lessons import poll, wait_complete

from app.lessons import all_lessons

pytestmark = pytest.mark.browser
pytest.importorskip("playwright.sync_api")

# the highlighted element's centre is in the window and it is what a tap there would hit
HIGHLIGHT_CLEAR = """() => {
  const el = document.querySelector('[data-lesson-highlight]');
  if (!el) return false;
  const r = el.getBoundingClientRect();
  const x = (r.left + r.right) / 2, y = (r.top + r.bottom) / 2;
  if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) return false;
  const hit = document.elementFromPoint(x, y);
  return hit === el || el.contains(hit);
}"""
WHY_COVERED = """() => {
  const el = document.querySelector('[data-lesson-highlight]');
  if (!el) return 'no highlighted element';
  const r = el.getBoundingClientRect();
  const x = (r.left + r.right) / 2, y = (r.top + r.bottom) / 2;
  const hit = document.elementFromPoint(x, y);
  const name = (n) => n ? `<${n.tagName} id=${n.id} class=${n.getAttribute('class')}>` : null;
  return JSON.stringify({url: location.pathname + location.search, el: name(el),
    rect: [r.left, r.top, r.width, r.height].map(Math.round), view: [innerWidth, innerHeight],
    scrollY, hit: name(hit), hitParent: name(hit?.parentElement)});
}"""
NEXT_CLEAR = """() => {
  const b = document.getElementById('lesson-next');
  const r = b.getBoundingClientRect();
  const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
  return hit === b || b.contains(hit);
}"""
# nothing on the screen reads the input gate: its number, its word, its gauge, the lesson's
# numbers of it, the reading list, the equations and the Code panel
INPUT_GATE_HIDDEN = """() => {
  const shown = (el) => el && getComputedStyle(el).visibility !== 'hidden'
    && el.getClientRects().length > 0;
  const gate = document.querySelector('.gate[data-gate="i"]');
  const parts = gate ? [...gate.querySelectorAll('.gate-num, .gate-word, .gate-fill, .gate-tint')]
    : [];
  const spans = [...document.querySelectorAll(
    '.lesson-q[data-q^="i["], .lesson-q[data-q^="written["]')];
  const panels = ['reading', 'equations', 'code'].map((id) => document.getElementById(id));
  return Boolean(gate) && ![...parts, ...spans, ...panels].some(shown);
}"""
NAVIGATIONS = (
    "() => [window.__samePage === true, performance.getEntriesByType('navigation').length]"
)


def highlight_clear(pg) -> None:
    """The lesson's highlighted element is on screen and nothing covers its centre (waited
    for: the page scrolls it into view); when not, what is there instead."""
    try:
        poll(pg, f"({HIGHLIGHT_CLEAR})()", 10_000)
    except AssertionError:
        why = pg.evaluate(WHY_COVERED)
        raise AssertionError(f"the highlight is covered or off screen: {why}") from None


def shot(page, name):
    """As the page is (not scrolled to the top: what the lesson brought into view)."""
    page.screenshot(path=artifact(f"{name}.png"))


def question_lesson():
    """The first lesson with a stop whose question hides the input gate."""
    for lesson in all_lessons():
        for k, stop in enumerate(lesson["stops"], 1):
            if stop["question"] and "i" in stop["question"]["hide"]:
                return lesson, k
    pytest.skip("no lesson asks about the input gate")


def start_here(teacher) -> str:
    teacher.get_by_role("button", name="Start a class").click()
    return teacher.locator(".class-code[data-class-code]").get_attribute("data-class-code")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720)], ids=["1920x1080", "1280x720"])
def test_a_lesson_in_a_class_nothing_covered_nothing_given_away_no_reload(
    make_page, base_url, size
):
    lesson, asking = question_lesson()
    stops = lesson["stops"]
    teacher = make_page(*size, timeout=SLOW)
    teacher.goto(f"{base_url}/lessons/{lesson['slug']}/1")
    wait_complete(teacher)
    code = start_here(teacher)
    students = [make_page(1280, 720, timeout=SLOW), make_page(390, 844, timeout=SLOW)]
    for pg in students:
        pg.goto(f"{base_url}/c/{code}")
        pg.wait_for_url(f"**/lessons/{lesson['slug']}/1*")
    tw = size[0]
    for k in range(1, len(stops) + 1):
        for pg in [teacher, *students]:
            pg.wait_for_selector(f"#lesson-panel[data-stop='{k}']")
            wait_complete(pg)
        for pg in students:
            highlight_clear(pg)
            assert pg.evaluate("() => document.getElementById('error')?.textContent ?? ''") == ""
        if k == asking:
            for pg in [teacher, *students]:
                pg.wait_for_selector(".class-poll:not([hidden]), .class-live:not([hidden])")
                poll(pg, f"({INPUT_GATE_HIDDEN})()", 10_000)
            for pg in students:
                highlight_clear(pg)  # the poll in the dock covers nothing
                focused = pg.evaluate("() => document.activeElement?.id")
                assert focused == "poll-question"  # the question, not a choice
            shot(teacher, f"class_lesson_poll_teacher_{tw}x{size[1]}")
            shot(students[0], "class_lesson_poll_student_1280x720")
            shot(students[1], "class_lesson_poll_student_390x844")
            other = (390, 844) if tw == 1280 else (1920, 1080)
            who = teacher if tw == 1280 else students[0]
            before = who.viewport_size
            who.set_viewport_size({"width": other[0], "height": other[1]})
            role = "teacher" if who is teacher else "student"
            shot(who, f"class_lesson_poll_{role}_{other[0]}x{other[1]}")
            who.set_viewport_size(before)
            students[1].locator(".class-poll").get_by_role("button", name="partly open").click()
            students[1].get_by_role("button", name="Hide the question").click()
            assert students[1].locator(".poll-body").is_hidden()
            teacher.get_by_role("button", name="Close poll and reveal").click()
            for pg in [teacher, *students]:
                poll(pg, f"!({INPUT_GATE_HIDDEN})()", 10_000)
        if k == len(stops):
            break
        assert teacher.evaluate(NEXT_CLEAR), f"stop {k}: the class panel covers Next"
        same_page = stops[k]["page"] == stops[k - 1]["page"]
        marks = []
        for pg in students:
            pg.evaluate("() => { window.__samePage = true; }")
            marks.append(pg.evaluate(NAVIGATIONS))
        teacher.locator("#lesson-next").click()  # a real click, where the button is
        if same_page:
            for pg, mark in zip(students, marks, strict=True):
                pg.wait_for_selector(f"#lesson-panel[data-stop='{k + 1}']")
                assert pg.evaluate(NAVIGATIONS) == mark, f"stop {k + 1} reloaded a student"


@pytest.mark.timeout(300)
def test_minimised_stays_minimised_across_pages_and_a_reload(make_page, base_url):
    teacher = make_page(1280, 720, timeout=SLOW)
    teacher.goto(f"{base_url}/?kind=sine&len=20&hidden=4")
    teacher.wait_for_selector("body[data-ready='1']")
    start_here(teacher)
    bottom = "() => document.getElementById('class-panel').getBoundingClientRect().bottom"
    assert teacher.evaluate(bottom) == 720  # docked at the bottom of the window
    pad = "() => parseFloat(getComputedStyle(document.body).paddingBottom)"
    height = "() => document.getElementById('class-panel').getBoundingClientRect().height"
    teacher.wait_for_selector("#class-panel[data-class-reachable='false']")
    teacher.wait_for_timeout(100)  # a frame for the resize observer
    assert teacher.evaluate(pad) >= teacher.evaluate(height) - 1  # the page makes room for it
    assert "make run HOST=0.0.0.0" in teacher.locator(".class-reach").inner_text()
    show_code(teacher)
    teacher.keyboard.press("Escape")
    assert teacher.locator(".class-code-view").is_hidden()
    teacher.get_by_role("button", name="Minimise").click()
    for go in (lambda: teacher.locator("nav a[href='/compare']").click(), teacher.reload,
               lambda: teacher.locator("nav a[href='/train']").click()):  # fmt: skip
        go()
        teacher.wait_for_load_state()
        teacher.wait_for_selector(
            "body[data-class-role='teacher'] #class-panel[data-minimised='true']"
        )
        assert teacher.locator(".class-counts").is_hidden()
        assert teacher.evaluate(height) < 70  # one slim line
    teacher.get_by_role("button", name="Show class").click()
    teacher.reload()
    teacher.wait_for_selector("#class-panel[data-minimised='false']")


@pytest.mark.timeout(300)
def test_a_second_tab_is_a_viewer_and_take_over_moves_the_class(make_page, base_url):
    teacher = make_page(1280, 720, timeout=SLOW)
    teacher.goto(f"{base_url}/?kind=sine&len=20&hidden=4")
    teacher.wait_for_selector("body[data-ready='1']")
    code = start_here(teacher)
    teacher.wait_for_selector("body[data-class-role='teacher']")
    student = make_page(390, 844, timeout=SLOW)
    student.goto(f"{base_url}/c/{code}")
    student.wait_for_selector("body[data-class-status='following'][data-ready='1']")
    assert student.locator("body").get_attribute("data-class-role") == "student"

    second = teacher.context.new_page()  # the teacher's browser: the same storage
    second.set_default_timeout(SLOW)
    # a duplicated tab: it starts with the first tab's sessionStorage, its tab id included
    tab = teacher.evaluate("() => sessionStorage.getItem('lstmx.class.tab')")
    second.add_init_script(
        "if (!sessionStorage.getItem('copied')) { sessionStorage.setItem('copied', '1');"
        f" sessionStorage.setItem('lstmx.class.tab', '{tab}'); }}"
    )
    # the driving tab is busy (a long task) as the copy opens: the copy still finds out (a CI
    # run once saw the copy drive when the busy tab answered its question too late)
    teacher.evaluate(
        "() => setTimeout(() => { const end = performance.now() + 3000;"
        " while (performance.now() < end); }, 0)"
    )
    second.goto(f"{base_url}/compare?gain=1.5")
    second.wait_for_selector("body[data-class-role='viewer']")
    assert second.get_by_role("button", name="Take over the class here").is_visible()
    assert second.evaluate("() => sessionStorage.getItem('lstmx.class.tab')") != tab
    second.wait_for_timeout(1500)  # time enough for a state to reach the student, were one sent
    assert student.evaluate("location.pathname") == "/"
    teacher.locator("#btn-fwd").click()  # the driving tab still drives
    student.wait_for_function("() => document.getElementById('diagram').dataset.t === '1'")

    second.get_by_role("button", name="Take over the class here").click()
    second.wait_for_selector("body[data-class-role='teacher']")
    teacher.wait_for_selector("body[data-class-role='viewer']")
    student.wait_for_function("() => location.pathname === '/compare'")
    student.wait_for_function("() => new URLSearchParams(location.search).get('gain') === '1.5'")
    teacher.locator("#btn-fwd").click()  # the old tab moves nobody now
    second.wait_for_timeout(1000)
    assert student.evaluate("location.pathname") == "/compare"
    second.close()


@pytest.mark.timeout(600)
def test_a_teachers_reload_keeps_the_trained_model_for_everyone(make_page, base_url, browser):
    teacher, code = teach_training(make_page, f"{base_url}/train?len=20&steps=150&hidden=4")
    students = [make_page(1280, 720, timeout=SLOW), make_page(390, 844, timeout=SLOW)]
    for pg in students:
        pg.goto(f"{base_url}/c/{code}")
        pg.wait_for_selector("body[data-class-status='following'][data-ready='1']")
    teacher.get_by_role("button", name="Start training").click()
    finished = "() => document.getElementById('status').textContent === 'Finished.'"
    for pg in [teacher, *students]:
        pg.wait_for_function(finished)
    for pg in students:  # the teacher's snapshots and the trained model reach the students
        pg.wait_for_function("() => document.querySelector('#heatmaps [data-key=\"f\"]')?.data")
        pg.wait_for_selector("#result-text:not(:empty)")
        assert "H = 4" in pg.locator("#result-text").inner_text()
    asked = trace_requests(teacher)
    teacher.locator("#open-step").click()
    teacher.wait_for_selector("body[data-ready='1']")
    teacher.wait_for_function("() => lstmExplainer.trace?.loss !== undefined")
    trained = teacher.evaluate("() => JSON.parse(sessionStorage.getItem('lstmx.trainedModel'))")
    body = next(b for b in asked if b["model"].get("weights"))
    assert body["model"]["weights"] == trained["weights"]
    answer = teacher.request.post(f"{base_url}/api/trace", data=body)
    assert answer.ok, answer.text()
    loss = answer.json()["loss"]
    seeded = {**body, "model": {**body["model"], "weights": None}}
    assert teacher.request.post(f"{base_url}/api/trace", data=seeded).json()["loss"] != loss

    def losses() -> list[float]:
        for pg in [teacher, *students]:
            pg.wait_for_function(
                "l => Math.abs((globalThis.lstmExplainer?.trace?.loss ?? Infinity) - l) < 1e-9",
                arg=loss,
            )
        return [pg.evaluate("() => lstmExplainer.trace.loss") for pg in [teacher, *students]]

    assert losses() == pytest.approx([loss] * 3, rel=1e-12)
    teacher.reload()
    teacher.wait_for_selector("body[data-class-role='teacher']")
    assert losses() == pytest.approx([loss] * 3, rel=1e-12)
    for pg in students:
        assert pg.locator(".class-missing").is_hidden()


@pytest.mark.timeout(300)
def test_a_teachers_reload_says_when_the_classs_model_is_gone(browser, base_url):
    """The class's state names a model the server no longer has: the teacher's reloaded page
    says so and dims, and the class keeps that key (no student is switched to seeded weights).
    Own contexts: the model store's 404 is the one console error each page may log."""
    errors: list[str] = []
    contexts = [browser.new_context(viewport={"width": 1280, "height": 720}) for _ in range(2)]
    teacher, student = (ctx.new_page() for ctx in contexts)
    for pg in (teacher, student):
        pg.set_default_timeout(SLOW)
        pg.on(
            "console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None
        )
        pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        teacher.goto(f"{base_url}/?kind=sine&len=20&hidden=4")
        teacher.wait_for_selector("body[data-ready='1']")
        code = start_here(teacher)
        teacher.wait_for_selector("body[data-class-role='teacher']")
        send_model_key(teacher, code, "f" * 64)  # as a teacher's page would have sent it
        teacher.reload()
        teacher.wait_for_selector("#class-panel .class-missing:not([hidden])")
        assert "could not be loaded" in teacher.locator(".class-missing").inner_text()
        assert "class-stale" in teacher.locator("body").get_attribute("class")
        student.goto(f"{base_url}/c/{code}")
        student.wait_for_selector(".class-missing:not([hidden])")  # the reload kept the key
        assert [e for e in errors if "404" not in e] == [], errors
        assert len(errors) == 2  # the model store's 404, once on each page
    finally:
        for ctx in contexts:
            ctx.close()
