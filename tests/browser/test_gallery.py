"""The gallery in a real browser: the step page with no parameters runs a trained gallery
model (not seeded random weights) at the step and unit worth seeing; /models shows a card per
model with its picture, and its buttons open the step page, the lab and a class."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from pagetools import artifact

pytestmark = pytest.mark.browser
playwright_sync = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]


def trace_bodies(page) -> list[dict]:
    """The bodies the page sends to compute traces (the first frame of each /ws/trace)."""
    bodies: list[dict] = []

    def sent(frame) -> None:
        if isinstance(frame, str) and '"input"' in frame:
            bodies.append(json.loads(frame))

    page.on("websocket", lambda ws: ws.on("framesent", sent))
    return bodies


def gallery(page, base_url, slug=None):
    cards = page.request.get(f"{base_url}/api/gallery").json()
    return cards if slug is None else next(c for c in cards if c["slug"] == slug)


def test_the_step_page_with_no_parameters_runs_the_trained_latch(page, base_url):
    bodies = trace_bodies(page)
    page.goto(f"{base_url}/")
    page.wait_for_selector("body[data-ready='1']")
    card = gallery(page, base_url, "latch-lstm")
    model = page.request.get(f"{base_url}/api/gallery/latch-lstm").json()
    sent = bodies[-1]["model"]
    assert sent["weights"] == model["weights"]  # the trained weights, not a seeded draw
    assert bodies[-1]["input"]["sequence"] == card["example"]["sequence"]
    q = parse_qs(urlparse(page.url).query)
    assert q["model"] == ["latch-lstm"]  # the link shares it
    unit = card["units"][0]["unit"]
    assert page.locator("#unit").input_value() == str(unit)
    assert page.locator("#t-label").inner_text().startswith(f"{card['step']} ")
    assert page.locator("#gallery-note").is_visible()
    assert page.locator("#gallery-look").inner_text() == card["look_for"]
    page.screenshot(path=artifact("gallery-default-view.png"))
    # one click away: the same input on the page's own random weights
    page.get_by_role("button", name="Untrained (random weights)").click()
    page.wait_for_function("() => !document.getElementById('gallery-note').checkVisibility()")
    # the new request (the old trace's loss is defined already: a CI run read the trained body)
    for _ in range(200):
        if bodies[-1]["model"]["weights"] is None:
            break
        page.wait_for_timeout(100)
    page.wait_for_function(
        "n => globalThis.lstmExplainer.trace?.loss !== undefined"
        " && globalThis.lstmExplainer.trace.steps === n",
        arg=len(card["example"]["sequence"]),
    )
    assert page.evaluate("globalThis.lstmExplainer.trace.steps") == len(card["example"]["sequence"])
    assert bodies[-1]["model"]["weights"] is None and bodies[-1]["model"]["init"]["seed"] == 0
    assert parse_qs(urlparse(page.url).query)["model"] == ["none"]
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert bodies[-1]["model"]["weights"] is None  # the link keeps the untrained view


def test_the_models_page_shows_a_card_per_model_and_its_buttons_open_it(page, base_url):
    cards = gallery(page, base_url)
    page.goto(f"{base_url}/models")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator(".model-card").count() == len(cards) >= 6
    for card in cards:
        li = page.locator(f".model-card[data-slug='{card['slug']}']")
        assert card["title"] in li.locator("h2").inner_text()
        assert li.locator(".sparkline, .coloured-text").count() == 1
        assert "baseline" in li.locator(".model-metric").inner_text()
    page.screenshot(path=artifact("gallery-models.png"), full_page=True)
    adding = page.locator(".model-card[data-slug='adding-lstm']")
    adding.get_by_role("link", name="Open in the step-through").click()
    page.wait_for_selector("body[data-ready='1']")
    card = gallery(page, base_url, "adding-lstm")
    assert page.locator("#unit").input_value() == str(card["units"][0]["unit"])
    assert page.locator("#gallery-title").inner_text() == card["title"]
    page.go_back()
    page.locator(".model-card[data-slug='adding-lstm']").get_by_role(
        "link", name="Open in the gradient lab"
    ).click()
    # the click navigates: until the lab has loaded there is no #lab-chart to read
    page.wait_for_function("() => document.getElementById('lab-chart')?.dataset.state === 'ready'")
    assert "gallery" in page.locator("#trained-text").inner_text()
    assert parse_qs(urlparse(page.url).query)["model"] == ["adding-lstm"]


def test_use_in_a_class_opens_the_model_with_a_class_started(page, base_url):
    page.goto(f"{base_url}/models")
    page.wait_for_selector("body[data-ready='1']")
    anbn = page.locator(".model-card[data-slug='anbn-lstm']")
    anbn.get_by_role("link", name="Use in a class").click()
    page.wait_for_selector("#class-panel")
    page.wait_for_selector("body[data-ready='1']")
    assert parse_qs(urlparse(page.url).query)["model"] == ["anbn-lstm"]
    assert page.locator("body").get_attribute("data-class-role") == "teacher"
    page.screenshot(path=artifact("gallery-class.png"))


@pytest.mark.parametrize("url", ["/models", "/"])
def test_gallery_pages_have_no_wcag_violation(page, base_url, assert_accessible, url):
    page.goto(f"{base_url}{url}")
    page.wait_for_selector("body[data-ready='1']")
    assert_accessible(page, "#model-list" if url == "/models" else "#gallery-note")
