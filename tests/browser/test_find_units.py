"""Find the unit on the step page: select a span, rank units, pick one, the page follows."""

from __future__ import annotations

import urllib.parse
import urllib.request

import pytest
from pagetools import artifact, post_json

pytestmark = pytest.mark.browser
playwright_sync = pytest.importorskip("playwright.sync_api")

TEXT = 'say "hello" to (a [b] c)'


# The unit row under the first heatmap's cursor, from its position in the plot (0..1 from the top).
CURSOR_ROW = """() => {
  const box = document.querySelector('#heatmaps .chart');
  const y = box.querySelector('.cursor-y');
  const size = box._fullLayout._size;
  const px = Number(y.style.transform.match(/translateY\\(([-0-9.]+)px\\)/)[1]);
  return y.hidden ? null : (px - size.t) / size.h;
}"""


def test_select_a_span_find_units_and_pick_one(page, base_url):
    query = urllib.parse.urlencode({"text": TEXT, "hidden": 6, "seed": 2})
    page.goto(f"{base_url}/?{query}")
    page.wait_for_selector("body[data-ready='1']")
    strip = page.locator("#unit-strip span[data-t]")
    assert strip.count() == len(TEXT)
    a, b = TEXT.index("hello"), TEXT.index("hello") + 4
    strip.nth(a).hover()
    page.mouse.down()
    strip.nth(b).hover()
    page.mouse.up()
    assert "steps 5–9: “hello”" in page.text_content("#unit-selection")
    page.get_by_role("button", name="Find units").click()
    page.wait_for_selector("#unit-results li")
    picks = page.locator("#unit-results .unit-pick")
    assert picks.count() == 5
    # the ranking is the API's for the same request
    body = {
        "model": {
            "cell": "lstm",
            "hidden_size": 6,
            "num_layers": 1,
            "variant": "standard",
            "init": {"seed": 2, "forget_bias": 0, "recurrent_init": "uniform", "recurrent_gain": 1},
        },
        "input": {"text": TEXT},
        "target": {"steps": [[a, b + 1]]},
        "field": "h",
        "top": 5,
    }
    want = post_json(base_url, "/api/units/search", body)["units"]
    got = [(int(p.get_attribute("data-layer")), int(p.get_attribute("data-unit")))
           for p in picks.all()]  # fmt: skip
    assert got == [(u["layer"], u["unit"]) for u in want]
    # choosing the second unit selects it everywhere: the unit picker, the URL, the heatmap cursor
    second = want[1]["unit"]
    picks.nth(1).click()
    page.wait_for_function(f"() => document.getElementById('unit').value === '{second}'")
    assert f"unit={second}" in page.url or second == 0
    row = (second + 0.5) / 6
    page.wait_for_function(f"() => Math.abs(({CURSOR_ROW})() - {row}) < 1e-6")
    assert picks.nth(1).get_attribute("aria-pressed") == "true"
    colours = page.locator("#unit-results li").nth(1).locator(".unit-text span")
    assert colours.count() == len(TEXT)
    page.locator("#units-panel").scroll_into_view_if_needed()
    page.screenshot(path=artifact("find_units_1280x720.png"))


def test_keyboard_selection_and_a_ready_made_target(page, base_url):
    query = urllib.parse.urlencode({"text": TEXT, "hidden": 4})
    page.goto(f"{base_url}/?{query}")
    page.wait_for_selector("body[data-ready='1']")
    t_before = page.get_attribute("#diagram", "data-t")
    page.locator("#unit-strip").focus()
    page.keyboard.press("ArrowRight")  # the cursor enters at step 0
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    assert "steps 1–3: “ay ”" in page.text_content("#unit-selection")
    assert page.get_attribute("#diagram", "data-t") == t_before  # the player did not move
    page.keyboard.press("Enter")
    page.wait_for_selector("#unit-results li")
    page.get_by_role("button", name="Bracket depth").click()
    page.wait_for_function(
        "() => document.getElementById('unit-status').textContent.includes('bracket depth')"
    )
    page.wait_for_selector("#unit-results li")
    assert "r = " in page.text_content("#unit-results .unit-pick")
