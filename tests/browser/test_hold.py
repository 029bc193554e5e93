"""Holding a gate on the step page, and the Code panel beside the equations, in a real browser.

Holding f at 1 for every step and unit must give exactly the numbers of POST /api/trace with
that clamp; the diagram marks the held gate; the Hold control works by keyboard alone. The
Code panel's highlighted line follows the player, forward and then backward.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser
pytest.importorskip("playwright.sync_api")

from pagetools import artifact  # noqa: E402

from tests.browser.test_step_page import diagram, fixed4, open_page, page_body, post_trace  # noqa: E402

TEXT = "hello world"  # 11 steps
PAGE_TRACE = """() => {
  const L = lstmExplainer.trace.layers[0];
  const heat = L.heat || L;  // a compact trace's heatmaps (a whole trace's are its own numbers)
  return {c: L.c, grad_c: L.grad_c, f: L.gates.f, h: L.h, unit: Number(lstmExplainer.state.unit),
          heat: {c: heat.c, f: heat.gates.f, h: heat.h}};
}"""
HEAT_F = "(lstmExplainer.trace.layers[0].heat || lstmExplainer.trace.layers[0]).gates.f"


def wait_columns(page, unit):
    """Until the unit's exact columns are in, dL/dh the last (it comes after the norms)."""
    page.wait_for_function(
        f"() => lstmExplainer.trace.layers[0].grad_h.every((row) => row?.[{unit}] != null)"
    )


def assert_same(shown, want, name, field=None):
    """The page's numbers of one field are the API's: the unit shown exactly, number for
    number; no other unit's (their exact numbers were never asked for); and, for a heatmap's
    field, every unit's to the 4 decimals the heatmap prints."""
    rows, rows_api, u = shown[name], want[field or name], shown["unit"]
    assert [row[u] for row in rows] == [row[u] for row in rows_api], name
    assert all(v is None or v == rows_api[t][k] for t, row in enumerate(rows)
               for k, v in enumerate(row) if k != u), name  # fmt: skip
    if name in shown["heat"]:
        heat = [[round(v * 1e4) for v in row] for row in shown["heat"][name]]
        assert heat == [[fixed4(v) for v in row] for row in rows_api], name


def held_gates(page):
    return page.evaluate(
        "() => [...document.querySelectorAll('#diagram [data-gate]')]"
        ".filter((g) => g.dataset.held === 'true').map((g) => g.dataset.gate)"
    )


def test_holding_f_open_by_keyboard_gives_the_api_numbers_for_that_clamp(page, base_url):
    open_page(page, base_url, "t=4&unit=2")
    free = post_trace(base_url, page_body())
    assert_same(page.evaluate(PAGE_TRACE), free["layers"][0], "c")
    assert held_gates(page) == []

    page.locator("[data-hold='f']").focus()  # "Hold f…", reached like any button
    assert page.evaluate("document.activeElement.textContent") == "Hold f…"
    page.keyboard.press("Enter")
    assert page.locator("#hold-form").is_visible()
    assert page.evaluate("document.activeElement.value") == "1"  # "open (1)" has the focus
    page.keyboard.press("Tab")  # the custom value box: passing through it changes nothing
    page.keyboard.press("Tab")  # the steps: "this step" ...
    page.keyboard.press("ArrowDown")  # ... "steps a–b" ...
    page.keyboard.press("ArrowDown")  # ... "every step"
    page.keyboard.press("Tab")  # the units: "unit 2" ...
    page.keyboard.press("ArrowDown")  # ... "every unit"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Add hold"
    page.keyboard.press("Enter")

    page.wait_for_function("() => location.search.includes('hold=f%3A1%40*')")
    page.wait_for_function(
        "() => lstmExplainer.trace && lstmExplainer.trace.gradFrom === 0 && "
        f"{HEAT_F}.every((row) => row.every((v) => v === 1))"
    )
    page.wait_for_selector("body[data-ready='1']")
    wait_columns(page, 2)
    body = page_body()
    body["clamp"] = [{"t": list(range(len(TEXT))), "gate": "f", "value": 1.0, "layer": 0}]
    held = post_trace(base_url, body)["layers"][0]
    shown = page.evaluate(PAGE_TRACE)
    for name in ("c", "grad_c", "h"):
        assert_same(shown, held, name)
    assert_same(shown, held["gates"], "f")
    assert held["c"] != free["layers"][0]["c"]  # the hold changed the run
    assert held_gates(page) == ["f"]
    view = diagram(page)
    assert (view["t"], view["unit"]) == (4, "2")
    assert float(view["gates"]["f"]) == 1.0
    c = held["c"][4][2]
    assert f"{abs(c):.4g}"[:5] in page.locator("#equations").inner_text()
    listed = page.locator("#hold-list li").inner_text()
    assert listed.startswith("f = 1 (open) at every step, every unit")

    page.locator(".diagram-panel").screenshot(path=artifact("hold_f_open.png"))

    # Remove it by keyboard: the run goes back to the free numbers.
    page.locator("#hold-list button").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => !location.search.includes('hold=')")
    page.wait_for_function(
        "() => lstmExplainer.trace.gradFrom === 0 && "
        f"!{HEAT_F}.every((row) => row.every((v) => v === 1))"
    )
    wait_columns(page, 2)
    assert_same(page.evaluate(PAGE_TRACE), free["layers"][0], "grad_c")
    assert held_gates(page) == []


def test_a_hold_in_the_url_marks_only_its_steps_and_unit(page, base_url):
    open_page(page, base_url, "hold=i:0@2-3/u1;o:0.5@*&t=2&unit=1")
    assert sorted(held_gates(page)) == ["i", "o"]
    page.keyboard.press("ArrowRight")  # t = 3
    assert sorted(held_gates(page)) == ["i", "o"]
    page.keyboard.press("ArrowRight")  # t = 4: only o is held there
    assert held_gates(page) == ["o"]
    page.select_option("#unit", "0")
    page.keyboard.press("ArrowLeft")  # t = 3, unit 0: i is held for unit 1 only
    assert held_gates(page) == ["o"]
    body = page_body()
    every = list(range(len(TEXT)))
    body["clamp"] = [{"t": [2, 3], "gate": "i", "value": 0.0, "units": [1], "layer": 0},
                     {"t": every, "gate": "o", "value": 0.5, "layer": 0}]  # fmt: skip
    want = post_trace(base_url, body)["layers"][0]
    wait_columns(page, 0)  # unit 0's exact columns, asked for when the unit was picked
    assert_same(page.evaluate(PAGE_TRACE), want, "c")


def code_line(page):
    """The highlighted line of the Code panel: its quantity and the value it shows."""
    return page.evaluate(
        """() => {
          const li = [...document.querySelectorAll('#code li[aria-current="true"]')]
            .filter((l) => l.offsetParent !== null);
          if (li.length !== 1) return {count: li.length};
          return {count: 1, quantity: li[0].dataset.quantity,
                  value: li[0].querySelector('.code-value').textContent,
                  text: li[0].querySelector('code').textContent};
        }"""
    )


def as_number(text):
    return float(text.replace("\u2212", "-"))


def test_the_code_panels_highlighted_line_follows_the_player(page, base_url):
    open_page(page, base_url, "t=3&unit=5&speed=60")
    trace = post_trace(base_url, page_body())["layers"][0]
    line = code_line(page)
    assert line["quantity"] == "c" and line["text"].strip().startswith("c[t] = f[t] * c[t - 1]")
    assert as_number(line["value"]) == pytest.approx(trace["c"][3][5], rel=1e-3)
    page.keyboard.press("ArrowRight")
    assert as_number(code_line(page)["value"]) == pytest.approx(trace["c"][4][5], rel=1e-3)
    # every gate's line shows that gate at step 4
    gates = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#code li[data-quantity]')]"
        ".filter((l) => l.offsetParent !== null)"
        ".map((l) => [l.dataset.quantity, l.querySelector('.code-value').textContent]))"
    )
    for g in "ifgo":
        assert as_number(gates[g]) == pytest.approx(trace["gates"][g][4][5], rel=1e-3, abs=1e-6)

    # A play-through from step 0: forward to the end, then the backward pass, whose lines
    # the panel shows.
    page.keyboard.press("Home")
    page.click("#btn-play")
    page.wait_for_function("() => document.getElementById('code-backward').ariaPressed === 'true'")
    page.wait_for_function(
        "() => document.getElementById('status').textContent.startsWith('Backward pass done')",
        timeout=8000,
    )
    line = code_line(page)
    assert line["quantity"] == "grad_c" and line["text"].strip().startswith("dc[t] = ")
    t = diagram(page)["t"]
    assert t == 0
    assert as_number(line["value"]) == pytest.approx(trace["grad_c"][0][5], rel=1e-3)
    # The Forward button brings the forward lines back, by keyboard too.
    page.locator("#code-forward").focus()
    page.keyboard.press("Enter")
    assert code_line(page)["quantity"] == "c"
    page.locator(".code-panel").screenshot(path=artifact("code_panel.png"))


def test_the_code_panel_shows_each_cells_own_lines(page, base_url):
    open_page(page, base_url, "cell=gru&t=2")
    assert code_line(page)["quantity"] == "h"
    assert "app/engine/reference/gru.py" in page.locator("#code-file").inner_text()
    assert page.locator("[data-hold]").count() == 3  # r, z, n
    open_page(page, base_url, "cell=rnn&t=2")
    assert code_line(page)["text"].strip().startswith("h[t] = np.tanh(")
    assert page.locator("#holds").is_hidden()  # a tanh RNN has no gate to hold


def test_clicking_a_gru_gate_holds_it_closed_at_this_step_for_this_unit(page, base_url):
    open_page(page, base_url, "cell=gru&t=5&unit=3")
    page.locator("#diagram [data-gate='z']").click()
    assert page.locator("#hold-gate-name").inner_text() == "z (update gate)"
    page.locator("input[name='hold-value'][value='0']").check()
    page.locator("#hold-form button[type='submit']").click()
    page.wait_for_function("() => location.search.includes('hold=z%3A0%405%2Fu3')")
    page.wait_for_function(
        "() => lstmExplainer.trace.gradFrom === 0"
        " && lstmExplainer.trace.layers[0].gates.z[5][3] === 0"
    )
    wait_columns(page, 3)
    body = page_body("gru")
    body["clamp"] = [{"t": [5], "gate": "z", "value": 0.0, "units": [3], "layer": 0}]
    want = post_trace(base_url, body)["layers"][0]
    shown = page.evaluate(
        "() => { const L = lstmExplainer.trace.layers[0];"
        " return {h: L.h, grad_h: L.grad_h, z: L.gates.z, unit: 3,"
        " heat: {h: L.heat.h, z: L.heat.gates.z}}; }"
    )
    assert_same(shown, want, "h")
    assert_same(shown, want, "grad_h")
    assert_same(shown, want["gates"], "z")
    assert held_gates(page) == ["z"]
    page.keyboard.press("ArrowRight")  # step 6: the hold was for step 5 only
    assert held_gates(page) == []


@pytest.mark.slow
def test_the_step_page_takes_the_engines_10000_steps_and_no_more(page, base_url):
    page.goto(f"{base_url}/?kind=random&len=10000&hidden=4&t=9999")
    page.wait_for_selector("body[data-ready='1']", timeout=240_000)
    page.wait_for_function("() => lstmExplainer.trace.gradFrom === 0", timeout=240_000)
    assert page.locator("#scrubber").get_attribute("max") == "9999"
    assert diagram(page)["t"] == 9999
    steps = page.evaluate("() => lstmExplainer.trace.steps")
    assert steps == 10_000
    page.fill("#len", "10001")
    page.locator("#len").blur()  # "change": the page checks the field
    assert "10000" in page.locator("#error").inner_text()  # the field's limit, by name
    assert page.evaluate("() => lstmExplainer.trace.steps") == 10_000  # nothing was rerun
