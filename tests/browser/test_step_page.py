"""The step-through page in a real browser (Debian's chromium through Playwright).

One uvicorn server for the module; each test gets a fresh page that records every request,
console message and page error, and fails on any request that leaves 127.0.0.1 or any error.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from pagetools import artifact, open_ready, post_json

pytestmark = pytest.mark.browser
playwright_sync = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-12


def fixed4(v):
    """The integer toFixed(4) prints of v: nearest to v·10^4 on v's exact value, ties away
    from zero (ECMA-262). A compact trace's heatmap value n/10^4 prints the same digits."""
    return int(Decimal(v).scaleb(4).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def open_page(page, base_url, query=""):
    open_ready(page, f"{base_url}/?{query}")


def post_trace(base_url, body):
    return post_json(base_url, "/api/trace", body, timeout=20)


def page_body(cell="lstm", hidden=8, layers=1, seed=0, text="hello world", **init_options):
    """The request the page makes for these URL settings."""
    init = {"seed": seed, "forget_bias": 0, "recurrent_init": "uniform", "recurrent_gain": 1}
    init.update(init_options)
    model = {"cell": cell, "hidden_size": hidden, "num_layers": layers, "variant": "standard",
             "init": init, "weights": None}  # fmt: skip
    return {"model": model, "input": {"text": text}, "loss": {"kind": "sum_last"},
            "dtype": "float64"}  # fmt: skip


def diagram(page):
    return page.evaluate(
        """() => {
          const d = document.getElementById('diagram');
          const gates = {};
          for (const g of d.querySelectorAll('[data-gate]')) {
            gates[g.dataset.gate] = g.dataset.value;
          }
          return {t: Number(d.dataset.t), unit: d.dataset.unit, gates};
        }"""
    )


def assert_diagram_matches(page, trace, layer=0):
    view = diagram(page)
    t, unit = view["t"], view["unit"]
    gates = trace["layers"][layer]["gates"]
    assert sorted(view["gates"]) == sorted(gates)
    for g, shown in view["gates"].items():
        row = gates[g][t]
        want = sum(row) / len(row) if unit == "mean" else row[int(unit)]
        assert abs(float(shown) - want) <= TOL, (g, t, unit, shown, want)
    return view


def test_page_loads_and_gates_show_the_trace_values(page, base_url):
    open_page(page, base_url, "t=3&unit=2")
    trace = post_trace(base_url, page_body())
    view = assert_diagram_matches(page, trace)
    assert (view["t"], view["unit"]) == (3, "2")
    assert page.locator("#input-now").inner_text() == "Step 3: input “l”"
    # the equations show the same c_t the diagram does
    c = trace["layers"][0]["c"][3][2]
    assert f"{c:.4g}".lstrip("-")[:5] in page.locator("#equations").inner_text()
    page.select_option("#unit", "mean")
    assert_diagram_matches(page, trace)


# Where each chart's step line (cursor-x) is drawn, in px, against where step t sits on its
# x axis (the middle of its column), with the step t the diagram shows, all in one frame.
CURSOR_LINES = """() => {
  const steps = Number(document.getElementById('scrubber').max) + 1;
  const t = Number(document.getElementById('diagram').dataset.t);
  const line = (box) => {
    const size = box._fullLayout._size;
    const x = box.querySelector('.cursor-x');
    const drawn = new DOMMatrixReadOnly(getComputedStyle(x).transform).m41;
    return [drawn, size.l + ((t + 0.5) / steps) * size.w];
  };
  return { t, lines: [...document.querySelectorAll('#heatmaps .chart, #grad-chart')].map(line) };
}"""


def assert_cursors_on_step(page):
    seen = page.evaluate(CURSOR_LINES)
    assert len(seen["lines"]) == 7  # six heatmaps and the gradient chart
    for drawn, want in seen["lines"]:
        assert abs(drawn - want) < 0.01, seen  # px: the line is drawn at a millisecond's grain
    return seen["t"]


@pytest.mark.alone  # 11 steps at 30 steps/s: read mid-play, so the page must not be starved
def test_play_animates_and_every_frame_shows_trace_values(page, base_url):
    open_page(page, base_url, "speed=30")
    trace = post_trace(base_url, page_body())
    shown = "() => document.getElementById('grad-chart').data[0].y.filter((v) => v !== null).length"
    assert page.evaluate(shown) == 11  # every gradient is there before playing
    page.click("#btn-play")
    page.wait_for_function("() => Number(document.getElementById('diagram').dataset.t) >= 3")
    assert page.evaluate(shown) == 0  # a play-through hides them until the backward pass
    assert assert_cursors_on_step(page) >= 3  # the charts' step lines follow the player
    page.keyboard.press("Space")  # pause (focus is on the play button, which toggles)
    t = diagram(page)["t"]
    assert 3 <= t <= 10
    page.wait_for_timeout(150)
    assert diagram(page)["t"] == t  # paused
    assert assert_cursors_on_step(page) == t
    assert_diagram_matches(page, trace)
    # play through to the end; the backward pass then runs and fills the gradient chart
    page.click("#btn-play")
    page.wait_for_function(
        "() => document.getElementById('status').textContent.startsWith('Backward pass done')",
        timeout=8000,
    )
    assert diagram(page)["t"] == 0
    assert page.evaluate(shown) == 11  # filled in from right to left, now complete
    assert_diagram_matches(page, trace)


def test_step_scrub_and_keys_move_the_step(page, base_url):
    open_page(page, base_url, "model=none")  # random weights on "hello world" (no parameters:
    # the gallery's trained model, tests/browser/test_gallery.py)
    t = lambda: diagram(page)["t"]  # noqa: E731
    assert t() == 0
    page.click("#btn-fwd")
    page.click("#btn-fwd")
    assert t() == 2
    page.click("#btn-back")
    assert t() == 1
    page.locator("body").click(position={"x": 5, "y": 700})  # focus off the controls
    page.keyboard.press("ArrowRight")
    assert t() == 2
    page.keyboard.press("End")
    assert t() == 10
    page.keyboard.press("ArrowRight")
    assert t() == 10  # stays in bounds
    page.keyboard.press("Home")
    assert t() == 0
    page.locator("#scrubber").fill("7")
    assert t() == 7
    assert page.locator("#t-label").inner_text() == "7 (of 0–10)"


def test_clicking_a_heatmap_cell_jumps_to_its_step_and_unit(page, base_url):
    open_page(page, base_url, "hidden=4")
    chart = page.locator("#heat-f")
    chart.scroll_into_view_if_needed()
    box = chart.locator(".nsewdrag").first.bounding_box()
    # the plot spans steps -0.5..10.5 across and units -0.5..3.5 down (unit 0 at the top)
    x = box["x"] + box["width"] * (8.5 / 11)
    y = box["y"] + box["height"] * (2.5 / 4)
    page.mouse.move(x, y)
    page.mouse.move(x + 1, y)
    page.mouse.click(x + 1, y)
    page.wait_for_function("() => document.getElementById('diagram').dataset.t === '8'")
    assert diagram(page)["unit"] == "2"
    assert page.input_value("#unit") == "2"


def test_the_keyboard_picks_a_heatmap_cell_as_a_click_does(page, base_url):
    open_page(page, base_url, "hidden=4&t=3&unit=1")
    trace = post_trace(base_url, page_body(hidden=4))
    chart = page.locator("#heat-f")
    assert chart.get_attribute("role") == "slider"
    assert chart.get_attribute("aria-label").startswith("Forget gate f, steps by units")
    page.locator("button.png[data-chart='heat-f']").focus()
    page.keyboard.press("Tab")  # the heatmap comes right after its PNG button
    assert page.evaluate("document.activeElement.id") == "heat-f"
    assert chart.evaluate("(el) => getComputedStyle(el).outlineStyle") == "solid"  # the ring shows
    mark = chart.locator(".cursor-cell")
    assert mark.is_visible()
    scroll = page.evaluate("scrollY")

    for key in ["ArrowRight"] * 6 + ["ArrowDown", "ArrowDown", "ArrowUp"]:
        page.keyboard.press(key)
    assert diagram(page)["t"] == 3  # the cursor moved; the page has not jumped yet
    said = chart.get_attribute("aria-valuetext")
    assert said.startswith("step 9 of 0 to 10, input “l”, unit 2: f = "), said
    want = trace["layers"][0]["gates"]["f"][9][2]
    assert abs(float(said.rsplit("= ", 1)[1].replace("−", "-")) - want) < 1e-3 * abs(want)
    fig = page.locator("figure.chart-fig").filter(has=chart).bounding_box()
    clip = {"x": fig["x"] - 8, "y": fig["y"] - 8, "width": fig["width"] + 16,
            "height": fig["height"] + 16}  # fmt: skip
    page.screenshot(path=artifact("step_heatmap_keyboard.png"), clip=clip)

    page.keyboard.press("Space")  # inside the heatmap Space jumps, as Enter does; it does not play
    page.wait_for_function("() => document.getElementById('diagram').dataset.t === '9'")
    assert diagram(page)["unit"] == "2"
    assert page.input_value("#unit") == "2"
    page.wait_for_timeout(300)
    assert diagram(page)["t"] == 9
    assert page.evaluate("lstmExplainer.player.playing") is False
    assert page.get_attribute("#btn-play", "aria-label") == "Play (Space)"

    for key in ["End", "ArrowUp", "ArrowRight", "Enter"]:
        page.keyboard.press(key)
    page.wait_for_function("() => document.getElementById('diagram').dataset.t === '10'")
    assert diagram(page)["unit"] == "1"
    assert page.input_value("#unit") == "1"
    assert page.evaluate("scrollY") == scroll  # no key scrolled the page
    assert page.evaluate("document.activeElement.id") == "heat-f"
    assert_diagram_matches(page, trace)


def test_reloading_the_url_restores_the_view(page, base_url):
    open_page(page, base_url, "cell=gru&hidden=6&layers=2&seed=3&rinit=orthogonal&text=abcabc")
    page.select_option("#layer", "1")
    page.select_option("#unit", "4")
    page.locator("#scrubber").fill("5")
    page.select_option("#speed", "8")
    page.wait_for_function("() => location.search.includes('t=5')")
    url = page.url
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.url == url
    view = diagram(page)
    assert (view["t"], view["unit"]) == (5, "4")
    assert sorted(view["gates"]) == ["n", "r", "z"]
    assert page.input_value("#cell") == "gru"
    assert page.input_value("#seed") == "3"
    assert page.input_value("#hidden") == "6"
    assert page.input_value("#layer") == "1"
    assert page.input_value("#speed") == "8"
    assert page.input_value("#text") == "abcabc"
    assert page.input_value("#rinit") == "orthogonal"
    trace = post_trace(base_url, page_body("gru", 6, 2, 3, "abcabc", recurrent_init="orthogonal"))
    assert_diagram_matches(page, trace, layer=1)


def test_typing_in_live_mode_adds_steps(page, base_url):
    open_page(page, base_url, "live=1&text=ab")
    assert page.locator("#scrubber").get_attribute("max") == "1"
    page.locator("#text").focus()
    page.keyboard.press("End")
    page.locator("#text").press_sequentially("cde", delay=30)
    page.wait_for_function("() => document.getElementById('scrubber').max === '4'")
    page.wait_for_function("() => document.getElementById('diagram').dataset.t === '4'")
    assert page.locator("#input-now").inner_text() == "Step 4: input “e”"
    page.wait_for_function("() => location.search.includes('text=abcde')")


def test_generated_inputs_are_editable(page, base_url):
    open_page(page, base_url, "kind=brackets&len=8")
    text = page.input_value("#text")
    assert len(text) == 8 and set(text) <= {"(", ")"}
    page.fill("#text", "(()")
    page.press("#text", "Enter")
    page.wait_for_function("() => document.getElementById('scrubber').max === '2'")
    assert page.input_value("#kind") == "text"
    page.select_option("#kind", "sine")
    page.wait_for_function("() => document.getElementById('scrubber').max === '7'")
    rows = page.input_value("#seq").splitlines()
    assert len(rows) == 8
    page.fill("#seq", "\n".join(rows[:5]))
    page.locator("#seq").blur()
    page.wait_for_function("() => document.getElementById('scrubber').max === '4'")
    assert page.input_value("#kind") == "custom"
    assert "kind=custom" in page.url


def test_bad_numbers_show_a_polite_error(page, base_url):
    open_page(page, base_url, "kind=custom&seq=1%202%3B3%204")
    assert page.locator("#seq").input_value() == "1 2\n3 4"
    assert page.locator("#gen-group").is_hidden() and page.locator("#text-group").is_hidden()
    page.locator("#seq").fill("1 2\n3")
    page.locator("#seq").blur()
    error = page.locator("#error")
    assert "Line 2 has 1 numbers" in error.inner_text()
    assert error.get_attribute("aria-live") == "polite"


def test_exports_hold_the_trace(make_page, base_url):
    pg = make_page(accept_downloads=True)
    open_page(pg, base_url, "hidden=3&text=abc")
    with pg.expect_download() as d:
        pg.click("#export-json")
    exported = json.loads(Path(d.value.path()).read_text())
    trace = post_trace(base_url, page_body(hidden=3, text="abc"))
    assert exported["layers"][0]["h"] == trace["layers"][0]["h"]
    assert exported["layers"][0]["grad_h_log10_norm"] == trace["layers"][0]["grad_h_log10_norm"]
    with pg.expect_download() as d:
        pg.click("#export-csv")
    lines = Path(d.value.path()).read_text().splitlines()
    assert lines[0] == "layer,t,unit,i,f,g,o,c,h,grad_h,grad_c"
    assert len(lines) == 1 + 3 * 3  # one row per (layer, step, unit)
    with pg.expect_download() as d:
        pg.click("button.png[data-chart='heat-f']")
    assert Path(d.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("width,height", [(1280, 720), (390, 844)])
def test_screenshots(make_page, base_url, width, height):
    pg = make_page(width, height)
    open_page(pg, base_url, "t=4")
    pg.wait_for_timeout(300)  # let the gate transitions settle
    pg.screenshot(path=artifact(f"step_{width}x{height}.png"))
    pg.screenshot(path=artifact(f"step_{width}x{height}_full.png"), full_page=True)
    # nothing wider than the viewport: no sideways scrolling on a phone
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    # the gates' names, numbers and readings as drawn (font size x the diagram's scale): 11 px
    # at least on a phone (they were 7-10 px there), each reading inside its own gate's column
    sizes = pg.evaluate(
        """() => { const svg = document.querySelector('#diagram svg');
        const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
        return [...svg.querySelectorAll('.gate :is(.gate-sym, .gate-num, .gate-word)')]
          .filter((t) => t.textContent)
          .map((t) => [t.textContent, parseFloat(getComputedStyle(t).fontSize) * scale]); }"""
    )
    assert len(sizes) >= 11 and min(px for _, px in sizes) >= (10.8 if width < 600 else 14), sizes
    overlap = pg.evaluate(
        """() => { const r = [...document.querySelectorAll('#diagram .gate-word')]
          .filter((t) => t.textContent).map((t) => t.getBoundingClientRect());
        return r.some((a, k) => r.slice(k + 1).some((b) => a.right > b.left && b.right > a.left
          && a.bottom > b.top && b.bottom > a.top)); }"""
    )
    assert not overlap, "two gates' readings overlap"
    if width >= 1000:  # projector view: controls hidden, the stage takes the whole width
        pg.click("#toggle-controls")
        assert pg.locator("#sidebar").is_hidden()
        pg.wait_for_timeout(400)
        pg.screenshot(path=artifact(f"step_{width}x{height}_wide.png"))


def test_a_class_question_about_a_gru_gate_hides_that_gates_reading(page, base_url):
    """Lesson 7 asks about the update gate z: while such a poll is open (the class sets
    data-class-hide), z's number, word, gauge and tint are hidden, the other gates are not."""
    open_page(page, base_url, "cell=gru&t=2")
    parts = """(gate) => [...document.querySelectorAll(
        `.gate[data-gate="${gate}"] :is(.gate-num, .gate-word, .gate-fill, .gate-tint)`)]
        .map((el) => getComputedStyle(el).visibility)"""
    assert set(page.evaluate(parts, "z")) == {"visible"}
    page.evaluate("() => { document.body.dataset.classHide = 'z'; }")
    assert set(page.evaluate(parts, "z")) == {"hidden"}
    assert set(page.evaluate(parts, "r")) == {"visible"}
    assert page.locator("#heatmaps").evaluate("el => getComputedStyle(el).visibility") == "hidden"
