"""The gradient lab (GET /compare) in a real browser (Debian's chromium through Playwright).

The server is the real app (app.main:app) in its own process. Each test
records every request, console message and page error, and fails on any request that leaves
127.0.0.1 or any error.
"""

from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from pagetools import artifact, open_ready, post_json

pytestmark = pytest.mark.browser
playwright_sync = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
CURVES = [("rnn", "grad_h_log10"), ("lstm", "grad_h_log10"), ("lstm", "grad_c_log10"),
          ("lstm", "belt_log10"), ("gru", "grad_h_log10")]  # fmt: skip


def open_lab(page, base_url, query=""):
    open_ready(page, f"{base_url}/compare?{query}", "#lab-chart[data-state='ready']")


def post_compare(base_url, body):
    return post_json(base_url, "/api/compare", body, timeout=30)


def lab_body(kind="random", length=200, hidden=16, gain=1.0, rinit="uniform", **extra):
    """The request the page makes for these URL settings (defaults otherwise)."""
    body = {
        "input": {"task": {"name": kind, "length": length, "seed": 0}},
        "hidden_size": hidden, "seed": 0, "recurrent_init": rinit, "recurrent_gain": gain,
        "forget_bias": 0, "input_bias": 0, "zero_biases": False, "input_scale": 1,
        "lstm_variant": "standard", "dtype": "float64",
    }  # fmt: skip
    body.update(extra)
    return body


def plotted(page):
    return page.evaluate(
        "() => document.getElementById('lab-chart').data.map(d => ({name: d.name, x: d.x, y: d.y}))"
    )


def assert_plot_equals_api(page, answer):
    data = plotted(page)
    assert len(data) == len(CURVES)
    for trace, (cell, field) in zip(data, CURVES, strict=True):
        api = answer["cells"][cell][field]
        assert trace["x"] == list(range(answer["steps"]))
        assert len(trace["y"]) == len(api)
        for got, want in zip(trace["y"], api, strict=True):
            if want is None:
                assert got is None
            else:
                assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_plotted_points_equal_the_api_numbers(page, base_url):
    open_lab(page, base_url, "len=60&hidden=8&kind=latch")
    answer = post_compare(base_url, lab_body(kind="latch", length=60, hidden=8))
    assert_plot_equals_api(page, answer)
    rnn_card = page.locator("#card-rnn").inner_text()
    assert "Half-life" in rnn_card and "σ_max(W_hh)" in rnn_card
    half = answer["cells"]["rnn"]["fit_h"]["half_life"]
    assert f"{half:.3g}" in rnn_card


def test_moving_a_slider_redraws_and_writes_the_url(page, base_url):
    open_lab(page, base_url, "len=80&hidden=8")
    before = plotted(page)[0]["y"]
    page.focus("#gain")
    for _ in range(10):
        page.keyboard.press("ArrowLeft")  # gain 1 -> 0.9 in steps of 0.01
    page.wait_for_function("() => new URLSearchParams(location.search).get('gain') === '0.9'")
    page.wait_for_function(
        "() => document.getElementById('lab-chart').dataset.key.includes('gain=0.9&')"
    )
    page.wait_for_selector("#lab-chart[data-state='ready']")
    after = plotted(page)[0]["y"]
    assert after != before
    assert page.locator("#gain-out").inner_text() == "0.9"
    assert_plot_equals_api(page, post_compare(base_url, lab_body(length=80, hidden=8, gain=0.9)))


def test_the_url_restores_the_view(page, base_url):
    query = "len=120&hidden=8&rinit=orthogonal&gain=1.2&fbias=2&clampf=0-9&k=17"
    open_lab(page, base_url, query)
    assert page.input_value("#rinit") == "orthogonal"
    assert page.input_value("#clampf") == "0-9"
    assert page.locator("#gain-out").inner_text() == "1.2"
    assert page.locator("#k-out").inner_text() == "17"
    assert "at k = 17" in page.locator("#card-lstm").inner_text()
    clamp = [{"t": list(range(110, 120)), "gate": "f", "value": 1.0}]
    body = lab_body(length=120, hidden=8, rinit="orthogonal", gain=1.2, forget_bias=2,
                    clamp=clamp)  # fmt: skip
    assert_plot_equals_api(page, post_compare(base_url, body))
    kept = parse_qs(urlparse(page.url).query)
    assert kept["gain"] == ["1.2"] and kept["k"] == ["17"]


def test_a_preset_computes_and_sweeps_the_backward_pass(page, base_url):
    open_lab(page, base_url, "len=40&hidden=4")
    page.get_by_role("button", name="RNN explodes").click()
    page.wait_for_function(
        "() => document.getElementById('lab-chart').dataset.key?.includes('len=2000&')"
    )
    page.wait_for_selector("#lab-chart[data-state='ready']")
    assert "1.5" in page.locator("#lesson").inner_text()
    assert page.get_by_role("button", name="RNN explodes").get_attribute("aria-pressed") == "true"
    rnn = plotted(page)[0]["y"]
    assert rnn[-1] == pytest.approx(1999 * math.log10(1.5), abs=1e-6)  # 1.5^1999 ~ 1e352
    assert page.locator("#lab-chart .annotation-text", has_text="float64 overflows").count() == 1
    page.wait_for_function("() => document.getElementById('k-out').textContent === '1999'")
    assert "gain=1.5" in page.url


def test_every_control_has_a_label_and_bad_input_is_named(page, base_url):
    open_lab(page, base_url, "len=30&hidden=4")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select')]
             .filter(e => e.type !== 'hidden' && e.labels.length === 0).map(e => e.id)"""
    )
    assert unlabelled == []
    page.fill("#clampf", "0-99")
    page.wait_for_function("() => document.getElementById('error').textContent.includes('f = 1')")
    page.fill("#clampf", "")
    page.fill("#len", "20000")
    page.wait_for_function("() => document.getElementById('error').textContent.includes('Length')")


def test_screenshot_at_projector_size(page, base_url):
    open_lab(page, base_url, "fbias=30&ibias=-30&len=1000")
    page.wait_for_timeout(300)
    page.screenshot(path=artifact("compare-1280x720.png"))
    page.screenshot(path=artifact("compare-full.png"), full_page=True)
    box = page.locator("#lab-chart").bounding_box()
    assert box["y"] + 300 < 720  # the chart is on the first screen


def test_on_a_phone_the_step_slider_and_the_status_have_room(make_page, base_url):
    page = make_page(390, 844)
    open_lab(page, base_url, "len=200")
    slider = page.locator("#cursor").bounding_box()
    button = page.locator("#btn-sweep").bounding_box()
    status = page.locator("#status").bounding_box()
    assert slider["width"] > 250  # on a line of its own, not squeezed to nothing
    assert status["y"] >= slider["y"] + slider["height"]  # below the controls, not under them
    assert status["y"] >= button["y"] + button["height"]
    title = page.locator("#lab-chart .g-xtitle").bounding_box()
    chart = page.locator("#lab-chart").bounding_box()
    assert chart["x"] <= title["x"] and title["x"] + title["width"] <= chart["x"] + chart["width"]
    page.screenshot(path=artifact("compare-390x844.png"))
