"""axe-core (WCAG 2.1 A and AA) on every page, before and after it has done its work: zero
violations. The rules run inside the page; see accessibility.py."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]
playwright_sync = pytest.importorskip("playwright.sync_api")


def test_the_step_page_before_and_after_a_run_a_pick_and_an_error(
    page, base_url, assert_accessible
):
    page.goto(f"{base_url}/?text=hello&hidden=4")
    page.wait_for_selector("body[data-ready='1']")
    assert_accessible(page)
    page.locator("#text").fill("a longer sentence")
    page.click("#run")
    page.wait_for_function("() => document.getElementById('scrubber').max === '16'")
    page.click("#btn-last")
    page.focus("#heat-f")  # the keyboard cursor: a marked cell, announced through aria-valuetext
    page.keyboard.press("ArrowLeft")
    assert page.get_attribute("#heat-f", "aria-valuenow") == "15"
    assert_accessible(page)
    page.select_option("#kind", "custom")
    page.locator("#seq").fill("1 2\n3")
    page.locator("#seq").blur()
    page.wait_for_selector("#error:not(:empty)")
    assert_accessible(page)


def test_the_gradient_lab_before_and_after_a_sweep(page, base_url, assert_accessible):
    page.goto(f"{base_url}/compare?len=30&hidden=4")
    page.wait_for_selector("#lab-chart[data-state='ready']")
    assert_accessible(page)
    page.click("#btn-sweep")
    page.wait_for_function("() => document.getElementById('k-out').textContent === '29'")
    assert_accessible(page)


def test_the_training_page_before_and_after_a_training(page, base_url, assert_accessible):
    page.goto(f"{base_url}/train?len=10&steps=60&hidden=4")
    page.wait_for_selector("body[data-ready='1']")
    assert_accessible(page)
    page.get_by_role("button", name="Start training").click()
    page.wait_for_selector("#open-step:not([hidden])", timeout=60_000)
    page.wait_for_selector("#heatmaps [data-key='f'] svg")
    assert_accessible(page)


def test_the_api_reference_before_and_after_opening_an_operation(page, base_url, assert_accessible):
    page.goto(f"{base_url}/docs")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector(".opblock-summary-path")
    assert_accessible(page)
    for path in ("/api/trace", "/healthz"):  # a JSON body and a query parameter with a <select>
        page.locator(".opblock-summary", has_text=path).first.click()
    page.wait_for_selector("tr[data-param-name='detail'] select[aria-label]")
    page.get_by_role("button", name="Try it out").first.click()  # /healthz comes first
    assert_accessible(page)
    page.get_by_role("button", name="Execute").first.click()
    page.wait_for_selector(".live-responses-table .response-col_status")
    assert_accessible(page)
