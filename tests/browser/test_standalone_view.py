"""The self-contained view (build_html, lx.show(...).save) opened from disk in Chromium with
every non-file request aborted: it shows the run, steps with the arrow keys, plays, scrubs,
selects a unit from a heatmap, and two views in one document keep to themselves."""

from __future__ import annotations

import numpy as np
import pytest
from pagetools import artifact, offline
from playwright.sync_api import expect

import app as lx
from app.standalone import build_html

pytestmark = pytest.mark.browser


def test_the_saved_file_steps_plays_and_selects_units_offline(
    make_page, tmp_path, assert_accessible
):
    path = tmp_path / "run.html"
    model = {"cell": "lstm", "hidden_size": 6, "init": {"seed": 3}}
    path.write_text(build_html(model, "hello world"), encoding="utf-8")
    page = make_page(1100, 900)
    asked = offline(page)
    page.goto(path.as_uri())
    diagram = page.locator(".lstmx-view .diagram")
    assert diagram.get_attribute("data-t") == "0"
    assert page.locator(".lstmx-view .lx-input-now").inner_text().startswith("Step 0: input “h”")
    assert_accessible(page, ".lstmx-view")
    page.locator(".lstmx-view .lx-title").click()  # the view takes the keys
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert diagram.get_attribute("data-t") == "2"
    assert "input “l”" in page.locator(".lstmx-view .lx-input-now").inner_text()
    page.keyboard.press("End")
    assert diagram.get_attribute("data-t") == "10"
    page.keyboard.press("ArrowLeft")
    assert diagram.get_attribute("data-t") == "9"
    # the scrubber
    page.locator(".lstmx-view input[type=range]").fill("4")
    assert diagram.get_attribute("data-t") == "4"
    # a heatmap click picks a step and a unit
    box = page.locator(".lstmx-view .lx-heat[data-key=f] .lx-heat-box")
    box.scroll_into_view_if_needed()
    b = box.bounding_box()
    box.click(position={"x": b["width"] * (7.5 / 11), "y": b["height"] * (2.5 / 6)})
    assert diagram.get_attribute("data-t") == "7"
    assert diagram.get_attribute("data-unit") == "2"
    assert page.locator(".lstmx-view select[id$=-unit]").input_value() == "2"
    # play runs forward by itself (15 steps/s)
    page.locator(".lstmx-view select[id$=-speed]").select_option("15")
    page.locator(".lstmx-view .lx-title").click()
    page.keyboard.press("Home")
    page.locator(".lstmx-view .lx-play").click()
    # a play-through: the forward pass first, the gradients only once the backward pass is there
    assert "not yet" in page.locator(".lstmx-view .grad-now").inner_text()
    expect(diagram).not_to_have_attribute("data-t", "0")  # (the file's CSP forbids eval)
    page.screenshot(path=artifact("standalone-view.png"), full_page=True)
    assert asked == []


def test_two_views_in_one_document_keep_to_themselves(make_page, tmp_path):
    x = np.random.default_rng(0).standard_normal((12, 2))
    a = lx.show({"cell": "gru", "hidden_size": 4, "input_size": 2}, x)
    b = lx.show({"cell": "rnn", "hidden_size": 3, "input_size": 2}, x[:5])
    doc = a.html().replace("</main>", b._repr_html_() + "</main>")
    path = tmp_path / "two.html"
    path.write_text(doc, encoding="utf-8")
    page = make_page(1100, 900)
    asked = offline(page)
    page.goto(path.as_uri())
    first, second = page.locator(".lstmx-view .diagram").all()
    page.locator(".lstmx-view").nth(1).locator(".lx-title").click()
    page.keyboard.press("ArrowRight")
    assert (first.get_attribute("data-t"), second.get_attribute("data-t")) == ("0", "1")
    page.locator(".lstmx-view").nth(0).locator(".lx-title").click()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert (first.get_attribute("data-t"), second.get_attribute("data-t")) == ("3", "1")
    assert page.locator(".lstmx-view .cell-gru").count() == 1
    assert page.locator(".lstmx-view .cell-rnn").count() == 1
    page.screenshot(path=artifact("standalone-two-views.png"), full_page=True)
    assert asked == []


def test_the_compare_view_draws_three_networks(make_page, tmp_path):
    path = lx.compare(T=40, hidden_size=4).save(tmp_path / "lab.html")
    page = make_page(1000, 700)
    asked = offline(page)
    page.goto(path.as_uri())
    lines = page.locator(".lstmx-view svg path.lx-line")
    assert lines.count() == 4  # RNN h, LSTM h and c, GRU h
    assert "tanh RNN, ‖∂L/∂h‖: ×" in page.locator(".lstmx-view .lx-fits").inner_text()
    assert asked == []


def test_the_step_pages_save_as_html_is_the_run_on_show(base_url, make_page, tmp_path):
    page = make_page(1280, 900, accept_downloads=True)
    page.goto(f"{base_url}/?cell=gru&hidden=4&seed=5&text=abcab&hold=z:1@3")
    page.wait_for_selector("body[data-ready='1']")
    page.locator("#export-html").focus()  # the keyboard path: a button, Enter
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename.endswith(".html")
    page.locator("#export-html").locator("xpath=ancestor::fieldset").screenshot(
        path=artifact("step-page-save-as-html.png")
    )
    path = tmp_path / "saved.html"
    download.value.save_as(path)
    # the page's numbers at step 3 (z held at 1 there) and the saved file's
    page.locator("#scrubber").fill("3")
    on_page = page.locator("#diagram [data-gate=n]").get_attribute("data-value")
    saved = make_page(1100, 900)
    asked = offline(saved)
    saved.goto(path.as_uri())
    assert saved.locator(".lstmx-view .lx-title").inner_text().startswith("GRU · H = 4")
    saved.locator(".lstmx-view input[type=range]").fill("3")
    view = saved.locator(".lstmx-view .diagram")
    assert view.get_attribute("data-t") == "3"
    assert view.locator("[data-gate=z]").get_attribute("data-value") == "1"  # the hold
    value = float(view.locator("[data-gate=n]").get_attribute("data-value"))
    assert value == pytest.approx(float(on_page), rel=1e-6)  # float32 in the file
    saved.locator(".lstmx-view .lx-title").click()
    saved.keyboard.press("ArrowLeft")
    assert view.get_attribute("data-t") == "2"
    assert asked == []


def test_a_window_of_a_long_run_steps_inside_it_with_the_state_before_it(make_page, tmp_path):
    x = np.random.default_rng(2).standard_normal((40, 2))
    model = {"cell": "lstm", "hidden_size": 3, "input_size": 2, "init": {"seed": 0}}
    view = lx.show(model, x, window=(10, 14))
    path = view.save(tmp_path / "window.html")
    page = make_page(1100, 900)
    asked = offline(page)
    page.goto(path.as_uri())
    diagram = page.locator(".lstmx-view .diagram")
    assert diagram.get_attribute("data-t") == "10"
    assert "steps 10–13 of the run's 40" in page.locator(".lstmx-view .lx-note").inner_text()
    # c_{t-1} at the window's first step is the run's c_9, carried with the window
    c9 = abs(view.trace.layers[0].c[9][0])  # 4 significant digits, as fmt() prints it
    arithmetic = page.locator(".lstmx-view .eq-arith").nth(4).inner_text()  # c = f·c_{t-1} + i·g
    assert str(float(f"{c9:.4g}")) in arithmetic
    page.locator(".lstmx-view .lx-title").click()
    page.keyboard.press("ArrowLeft")
    assert diagram.get_attribute("data-t") == "10"  # the window's first step
    page.keyboard.press("End")
    assert diagram.get_attribute("data-t") == "13"
    assert asked == []
