"""Classroom mode in a real browser: one teacher page and three students, each in its own
browser context (its own storage, as on separate laptops), on one real server.

The students join by the code (two through /c/CODE, one by typing it at /join); from then on
each student's page, URL state and step follow the teacher's; explore and bring back; a poll
answered by the three shows 3 on the teacher's tally, and still does after the teacher changes
page mid-poll. Every page must end with zero console
errors (the make_page fixture checks it).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from pagetools import artifact

from app.api.schemas import TraceRequest

pytestmark = [pytest.mark.browser, pytest.mark.slow]
playwright_sync = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
SLOW = 60_000  # ms: four pages each load plotly.js and compute on a shared 2-core machine
START = "kind=sine&len=120&hidden=4"  # a small trace: every page computes it in a blink


def step_of(page) -> int:
    return int(page.locator("#diagram").get_attribute("data-t"))


def wait_all(pages, expression, arg=None):
    for pg in pages:
        pg.wait_for_function(expression, arg=arg)


def url_state(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def shown_step(pages, t):
    """Every page's diagram shows step t."""
    wait_all(pages, "t => document.getElementById('diagram')?.dataset.t === String(t)", t)


def axe_violations(page, selectors):
    """axe-core's accessibility rules on these parts of the page: [(rule, targets)]."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe()
    found = axe.run(page, context={"include": [[s] for s in selectors]}).response["violations"]
    return [(v["id"], [n["target"] for n in v["nodes"]]) for v in found]


def shot(page, name):
    page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    page.screenshot(path=artifact(f"{name}.png"))


def start_class(base_url, teacher) -> str:
    teacher.goto(f"{base_url}/?{START}")
    teacher.wait_for_selector("body[data-ready='1']")
    teacher.get_by_role("button", name="Start a class").click()
    code = teacher.locator(".class-code[data-class-code]").get_attribute("data-class-code")
    assert code and 4 <= len(code) <= 6
    show_code(teacher)
    teacher.get_by_role("button", name="Close", exact=True).click()
    assert teacher.locator(".class-code-view").is_hidden()
    return code


def show_code(teacher):
    """The large code for the room, on demand: its QR code is drawn and large on the screen."""
    teacher.get_by_role("button", name="Show the code").click()
    teacher.wait_for_selector(".class-qr")
    teacher.wait_for_function("() => document.querySelector('.class-qr').naturalWidth > 0")
    box = teacher.locator(".class-qr").bounding_box()
    viewport = teacher.viewport_size
    assert box["width"] >= 0.25 * min(viewport["width"], viewport["height"]), box


def join(base_url, students, code):
    first, second, third = students
    first.goto(f"{base_url}/c/{code}")
    second.goto(f"{base_url}/join")
    second.get_by_label("Class code").fill(code.lower())  # typed as a student would
    second.get_by_role("button", name="Join").click()
    third.goto(f"{base_url}/c/{code}")
    for pg in students:
        pg.wait_for_selector("body[data-class-status='following'][data-ready='1']")
        assert urlparse(pg.url).path == "/"


@pytest.mark.timeout(600)  # four pages through a whole lesson, on a shared machine
def test_students_follow_the_teacher_explore_come_back_and_answer(make_page, base_url):
    teacher = make_page(1280, 720, timeout=SLOW)
    teacher_asked = trace_requests(teacher)
    code = start_class(base_url, teacher)
    students = [make_page(1280, 720, timeout=SLOW), make_page(390, 844, timeout=SLOW),
                make_page(1280, 720, timeout=SLOW)]  # fmt: skip
    asked = [trace_requests(pg) for pg in students]
    join(base_url, students, code)
    # each student asks what the teacher asked, so one cached answer serves the class
    assert [a == teacher_asked for a in asked] == [True, True, True]
    teacher.wait_for_selector(".class-counts[data-joined='3'][data-following='3']")
    shot(teacher, "class_teacher_1280x720")
    shot(students[0], "class_student_1280x720")
    shot(students[1], "class_student_390x844")

    # step, scrub, change unit: every student shows the same step, unit and URL state
    teacher.locator("#btn-fwd").click()
    teacher.locator("#btn-fwd").click()
    shown_step(students, 2)
    teacher.locator("#scrubber").fill("17")
    shown_step(students, 17)
    teacher.locator("#unit").select_option("2")
    wait_all(students, "() => document.getElementById('diagram').dataset.unit === '2'")
    wait_all(students, "() => new URLSearchParams(location.search).get('unit') === '2'")
    wait_all(students, "() => new URLSearchParams(location.search).get('t') === '17'")
    for pg in students:
        state = url_state(pg)
        assert (state["kind"], state["len"], state["hidden"]) == ("sine", "120", "4")

    # play at 30 steps/s and pause: the students went through the steps, and stop on the same one
    for pg in students:
        pg.evaluate("""() => {
          window.seenSteps = new Set();
          const d = document.getElementById('diagram');
          new MutationObserver(() => seenSteps.add(d.dataset.t))
            .observe(d, {attributes: true, attributeFilter: ['data-t']});
        }""")
    teacher.locator("#speed").select_option("30")
    teacher.locator("#btn-play").click()
    wait_all(students, "() => document.body.dataset.classPlaying === 'true'")
    teacher.wait_for_function("() => lstmExplainer.player.t >= 30")
    teacher.locator("#btn-play").click()  # pause
    teacher.wait_for_function("() => !lstmExplainer.player.playing")
    paused_at = step_of(teacher)
    shown_step(students, paused_at)
    wait_all(students, "() => document.body.dataset.classPlaying === 'false'")
    for pg in students:
        assert pg.evaluate("seenSteps.size") >= 5, "a follower jumped instead of playing along"

    # following: a student's own keys do not move its view
    students[2].locator("#scrubber").focus()
    students[2].keyboard.press("ArrowRight")
    students[2].keyboard.press("ArrowRight")
    assert step_of(students[2]) == paused_at
    assert students[2].locator("body").get_attribute("data-class-status") == "following"

    # the one-click prediction on the step page names what is on the screen
    teacher.get_by_role("button", name="Ask the class").click()
    teacher.get_by_role("button", name="Forget gate at the next step").click()
    question = teacher.get_by_label("Question").input_value()
    assert question == (
        f"At the next step ({paused_at + 1}), will the forget gate of unit 2 be closed, "
        "partly open or open?"
    )
    teacher.get_by_role("button", name="Cancel").click()

    # the gradient lab: the students go there, and follow a slider
    teacher.locator("nav a[href='/compare']").click()
    teacher.wait_for_selector("#lab-chart[data-state='ready']")
    wait_all(students, "() => location.pathname === '/compare'")
    for pg in students:
        pg.wait_for_selector("body[data-class-status='following'] #lab-chart[data-state='ready']")
    teacher.locator("#gain").fill("1.5")
    wait_all(students, "() => new URLSearchParams(location.search).get('gain') === '1.5'")
    wait_all(
        students, "() => document.getElementById('lab-chart').dataset.key.includes('gain=1.5&')"
    )
    assert {pg.locator("#gain").input_value() for pg in students} == {"1.5"}

    # explore: a student changes a control and goes its own way; bring back returns it
    teacher.get_by_role("button", name="Let the class explore").click()
    explorer = students[0]
    explorer.wait_for_selector("body[data-class-mode='explore']")
    explorer.locator("#gain").focus()
    explorer.keyboard.press("Home")  # the slider's minimum: gain 0
    explorer.wait_for_selector("body[data-class-status='exploring']")
    explorer.wait_for_function("() => new URLSearchParams(location.search).get('gain') === '0'")
    assert explorer.get_by_role("button", name="Back to the class view").is_visible()
    teacher.wait_for_selector(".class-counts[data-following='2']")
    teacher.locator("#hidden").fill("6")
    teacher.locator("#hidden").press("Enter")
    wait_all(students[1:], "() => new URLSearchParams(location.search).get('hidden') === '6'")
    assert url_state(explorer).get("hidden") is None  # still its own view (hidden 16, the default)
    explorer.locator("nav a[href='/']").click()  # exploring goes on across pages
    explorer.wait_for_selector("body[data-class-status='exploring'][data-ready='1']")
    assert urlparse(explorer.url).path == "/"
    teacher.get_by_role("button", name="Bring everyone back").click()
    explorer.wait_for_function("() => location.pathname === '/compare'")
    explorer.wait_for_selector("body[data-class-status='following'][data-class-mode='follow']")
    explorer.wait_for_function(
        "() => { const q = new URLSearchParams(location.search);"
        " return q.get('gain') === '1.5' && q.get('hidden') === '6'; }"
    )
    teacher.wait_for_selector(".class-counts[data-following='3']")

    # a poll answered by the three: 3 on the teacher's tally
    teacher.get_by_role("button", name="Ask the class").click()
    teacher.get_by_label("Question").fill("Which network keeps its gradient longest?")
    teacher.get_by_label("Choices, one per line (2 to 4)").fill("tanh RNN\nLSTM\nGRU")
    teacher.get_by_role("button", name="Ask", exact=True).click()
    for k, pg in enumerate(students):
        pg.get_by_role("button", name=["LSTM", "LSTM", "GRU"][k]).click()
        pg.wait_for_selector(".class-poll[data-answered='1']")
    teacher.wait_for_selector(".class-counts[data-answered='3']")
    counts = teacher.locator(".tally-count").all_inner_texts()
    assert counts == ["0", "2", "1"]
    assert axe_violations(teacher, ["#class-panel", ".site-header"]) == []
    assert axe_violations(students[1], [".class-dock"]) == []
    shot(teacher, "class_teacher_poll_1280x720")
    shot(students[1], "class_student_poll_390x844")
    # the teacher changes page mid-poll: every tab keeps its student's id, so each student is
    # still one member with their answer, on the new page too
    teacher.locator("nav a[href='/']").click()
    wait_all(students, "() => location.pathname === '/'")
    for k, pg in enumerate(students):
        pg.wait_for_selector(".class-poll[data-answered='1']")
        choice = ["LSTM", "LSTM", "GRU"][k]
        assert pg.get_by_role("button", name=choice).get_attribute("aria-pressed") == "true"
    teacher.wait_for_selector(".class-counts[data-joined='3'][data-answered='3']")
    assert teacher.locator(".tally-count").all_inner_texts() == ["0", "2", "1"]
    teacher.get_by_role("button", name="Close poll").click()
    wait_all(students, "() => document.querySelector('.class-poll').hidden")

    # a teacher who reloads keeps the class
    teacher.reload()
    teacher.wait_for_selector(f".class-code[data-class-code='{code}']")
    teacher.wait_for_selector(".class-counts[data-joined='3']")
    teacher.get_by_role("button", name="Minimise").click()  # one slim line
    assert teacher.locator(".class-counts").is_hidden()
    assert teacher.locator(".class-mini").inner_text() == "3 joined"
    shot(teacher, "class_teacher_minimised_1280x720")
    teacher.get_by_role("button", name="Show class").click()
    assert teacher.locator(".class-counts").is_visible()
    teacher.set_viewport_size({"width": 390, "height": 844})
    shot(teacher, "class_teacher_390x844")
    shot(students[0], "class_student_step_1280x720")

    # the end: every student is told, and keeps the page
    teacher.set_viewport_size({"width": 1280, "height": 720})
    teacher.get_by_role("button", name="End class").click()
    teacher.get_by_role("button", name="Yes, end the class").click()
    wait_all(students, "() => document.body.dataset.classStatus === 'left'")
    for pg in students:
        assert "ended the class" in pg.locator(".class-bar-text").inner_text()
    assert teacher.locator("#class-panel").count() == 0
    assert teacher.get_by_role("button", name="Start a class").is_visible()


def test_an_unknown_code_says_so(make_page, base_url):
    pg = make_page(390, 844)
    pg.goto(f"{base_url}/c/ZZZZZ")
    pg.wait_for_function(
        "() => document.getElementById('join-status').textContent.startsWith('Could not join')"
    )
    assert pg.locator("body").get_attribute("data-class-status") == "left"
    # it does not also promise to follow, and offers the box to type the code again
    assert pg.locator("#join-follow").is_hidden()
    assert pg.evaluate("() => document.activeElement.id") == "join-code"
    assert pg.get_by_label("Type the class code again").is_visible()
    assert "K7QXM" in pg.goto(f"{base_url}/join").text()  # the example has a code's length
    pg.goto(f"{base_url}/join?code=k7!")
    assert "4 to 6 letters or digits" in pg.locator("#join-status").inner_text()
    pg.goto(f"{base_url}/")
    pg.wait_for_selector("body[data-ready='1']")  # not a member of anything: the page runs alone
    assert pg.locator("body").get_attribute("data-class-status") is None


def weights_file(path: Path, hidden: int = 3, inputs: int = 1) -> Path:
    """A PyTorch-named LSTM state dict as .npz, from a fixed generator."""
    rng = np.random.default_rng(7)
    shapes = {"weight_ih_l0": (4 * hidden, inputs), "weight_hh_l0": (4 * hidden, hidden),
              "bias_ih_l0": (4 * hidden,), "bias_hh_l0": (4 * hidden,)}  # fmt: skip
    np.savez(path, **{k: rng.uniform(-1.5, 1.5, size=s) for k, s in shapes.items()})
    return path


def trace_requests(page) -> list[dict]:
    """The bodies this page sends to compute traces (the first frame of each /ws/trace)."""
    bodies: list[dict] = []

    def on_socket(ws):
        if ws.url.endswith("/ws/trace"):
            ws.on("framesent", lambda f: bodies.append(json.loads(f)) if '"model"' in f else None)

    page.on("websocket", on_socket)
    return bodies


def validated(body: dict) -> dict:
    return TraceRequest.model_validate(body).model_dump(mode="json")


def forget_gates(page):
    """The forget gates the page holds: the unit shown's exact, every unit's in the heatmap."""
    return page.evaluate(
        "() => { const L = lstmExplainer.trace.layers[0];"
        " return {exact: L.gates.f, heat: (L.heat || L).gates.f}; }"
    )


@pytest.mark.timeout(300)
def test_an_uploaded_model_travels_with_the_class(make_page, browser, base_url, tmp_path):
    teacher = make_page(1280, 720, timeout=SLOW)
    teacher_asked = trace_requests(teacher)
    teacher.goto(f"{base_url}/?kind=sine&len=20")
    teacher.wait_for_selector("body[data-ready='1']")
    teacher.locator("#weights-file").set_input_files(str(weights_file(tmp_path / "w.npz")))
    teacher.wait_for_function(
        "() => document.getElementById('weights-status').textContent.includes('w.npz')"
    )
    teacher.wait_for_function(
        "() => lstmExplainer.trace?.hidden_size === 3 && lstmExplainer.trace.gradFrom === 0"
    )
    teacher.get_by_role("button", name="Start a class").click()
    code = teacher.locator("[data-class-code]").get_attribute("data-class-code")

    student = make_page(390, 844, timeout=SLOW)
    student_asked = trace_requests(student)
    student.goto(f"{base_url}/c/{code}")
    student.wait_for_selector("body[data-class-status='following'][data-ready='1']")
    assert "the teacher shared" in student.locator("#weights-status").inner_text()
    assert forget_gates(student) == forget_gates(teacher)
    # one request, the teacher's own once validated (defaults filled in): a cache of answers
    # keyed on the validated request serves the student without computing again
    assert len(student_asked) == 1
    assert validated(student_asked[0]) == validated(teacher_asked[-1])

    # the same URL with the seeded model gives other gates: the student was not shown that one
    alone = make_page(1280, 720, timeout=SLOW)
    alone.goto(student.url)
    alone.wait_for_selector("body[data-ready='1']")
    assert alone.evaluate("() => lstmExplainer.trace.hidden_size") == 3
    assert forget_gates(alone) != forget_gates(teacher)

    # a model the server no longer has: a follower says so and shows no other model
    student.get_by_role("button", name="Leave the class").click()
    teacher.wait_for_selector(".class-counts[data-joined='0']")
    late = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        pg = late.new_page()
        pg.set_default_timeout(SLOW)
        errors: list[str] = []
        pg.on(
            "console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None
        )
        pg.on("pageerror", lambda e: errors.append(str(e)))
        send_model_key(teacher, code, "f" * 64)
        pg.goto(f"{base_url}/c/{code}")
        pg.wait_for_selector(".class-missing:not([hidden])")
        assert "could not be loaded" in pg.locator(".class-missing").inner_text()
        assert "class-stale" in pg.locator("body").get_attribute("class")
        assert pg.evaluate("() => lstmExplainer.trace") is None  # it computed nothing
        assert [e for e in errors if "404" not in e] == [], errors
        assert len(errors) == 1  # the model store's 404, as the browser logs it
    finally:
        late.close()


def teach_training(make_page, url: str):
    """The teacher's Train page at url, with a class started there: (page, class code)."""
    teacher = make_page(1280, 720, timeout=SLOW)
    teacher.goto(url)
    teacher.wait_for_selector("body[data-ready='1']")
    teacher.get_by_role("button", name="Start a class").click()
    return teacher, teacher.locator("[data-class-code]").get_attribute("data-class-code")


def test_students_watch_the_teachers_training_as_it_runs(make_page, base_url):
    """A race of three networks, trained once on the teacher's page: each student's /train
    page draws the same curves, bars and metrics from the relayed frames, and trains nothing."""
    race = f"{base_url}/train?len=20&steps=200&hidden=8&mode=race"
    teacher, code = teach_training(make_page, race)
    student = make_page(390, 844, timeout=SLOW)
    opened: list[str] = []
    student.on("websocket", lambda ws: opened.append(urlparse(ws.url).path))
    student.goto(f"{base_url}/c/{code}")
    student.wait_for_selector("body[data-class-status='following'][data-ready='1']")
    assert urlparse(student.url).path == "/train" and url_state(student)["mode"] == "race"

    teacher.get_by_role("button", name="Start training").click()
    student.wait_for_function("() => document.querySelector('.run-gru progress')?.value > 0")
    assert student.text_content("#status") == "Training on the teacher's page…"
    finished = "() => document.getElementById('status').textContent === 'Finished.'"
    teacher.wait_for_function(finished)
    student.wait_for_function(finished)
    runs = "() => lstmxTrain.runs.map(r => [r.cell, r.losses, r.evals])"
    watched, trained = student.evaluate(runs), teacher.evaluate(runs)
    assert [cell for cell, _, _ in watched] == ["rnn", "lstm", "gru"]
    assert watched == trained and all(len(losses) >= 10 for _, losses, _ in watched)
    for cell in ("rnn", "lstm", "gru"):
        for part in ("run-text", "run-metric"):
            got = student.text_content(f".run-{cell} .{part}")
            assert got == teacher.text_content(f".run-{cell} .{part}")
        assert "finished at step 200" in student.text_content(f".run-{cell} .run-text")
    points = "() => document.getElementById('loss-chart').data.map(d => d.x.length)"
    assert student.evaluate(points) == teacher.evaluate(points)
    assert "/ws/train" not in opened  # the student's page trained nothing itself
    student.evaluate("() => window.scrollTo(0, 0)")
    shot(student, "class_student_train_390x844")


def test_a_student_who_joins_mid_training_gets_the_run_so_far(make_page, base_url):
    """The teacher's page replays the run (its progress thinned) to a late joiner, whose page
    rebuilds it and then goes on live; the student who was there from the start skips it."""
    teacher, code = teach_training(make_page, f"{base_url}/train?len=20&steps=1500&hidden=8")
    early = make_page(390, 844, timeout=SLOW)
    early.goto(f"{base_url}/c/{code}")
    early.wait_for_selector("body[data-class-status='following'][data-ready='1']")
    teacher.get_by_role("button", name="Start training").click()
    teacher.wait_for_function("() => document.querySelector('.run-lstm progress')?.value > 0.1")
    late = make_page(390, 844, timeout=SLOW)
    late.goto(f"{base_url}/c/{code}")
    late.wait_for_selector("body[data-class-status='following'][data-ready='1']")
    finished = "() => document.getElementById('status').textContent === 'Finished.'"
    for pg in (teacher, early, late):
        pg.wait_for_function(finished)
    runs = "() => lstmxTrain.runs.map(r => [r.cell, r.losses, r.evals])"
    ((_, trained, evals),) = teacher.evaluate(runs)
    assert early.evaluate(runs) == [["lstm", trained, evals]]  # skipped the replay
    ((_, caught_up, late_evals),) = late.evaluate(runs)
    assert late_evals == evals  # every evaluation, from step 0
    assert caught_up[0] == trained[0] and caught_up[-1] == trained[-1]
    assert set(map(tuple, caught_up)) <= set(map(tuple, trained))  # thinned, never made up
    assert late.text_content(".run-lstm .run-text") == teacher.text_content(".run-lstm .run-text")


def send_model_key(teacher, code: str, key: str) -> None:
    """Send the class a state naming a model by key, as a teacher's page would, on a socket of
    its own (the teacher's token from its page's storage)."""
    teacher.evaluate(
        """([code, key]) => new Promise((resolve) => {
          const token = JSON.parse(localStorage.getItem('lstmx.class.teacher')).token;
          const ws = new WebSocket(`ws://${location.host}/ws/class/${code}`);
          ws.onopen = () => ws.send(JSON.stringify({type: 'hello', role: 'teacher', token}));
          ws.onmessage = (e) => {
            if (JSON.parse(e.data).type !== 'welcome') return;
            ws.send(JSON.stringify({type: 'state', url: location.pathname + location.search,
                                    model_key: key}));
            setTimeout(() => { ws.close(); resolve(); }, 300);
          };
        })""",
        [code, key],
    )
