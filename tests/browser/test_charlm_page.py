"""A character model on the training page: samples at a temperature, then the step page."""

from __future__ import annotations

import json

import pytest
from pagetools import artifact

pytestmark = pytest.mark.browser
playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.mark.slow
def test_a_text_model_writes_samples_and_opens_live_on_the_step_page(page, base_url):
    page.goto(f"{base_url}/train?task=charlm&len=24&steps=20000&hidden=12&batch=8")
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_visible("#samples-panel") and page.is_visible("#text-file")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function("() => document.getElementById('sample-now').textContent.length > 100")
    first = page.text_content("#sample-now")
    assert first.startswith("def ")
    assert "temperature 0.8" in page.text_content("#sample-step")
    # a new temperature asks for a sample at once (the next evaluation is 1,000 steps away)
    page.locator("#temp").fill("1.5")
    assert page.text_content("#temp-out") == "1.5"
    page.wait_for_function(
        "() => document.getElementById('sample-step').textContent.includes('temperature 1.5')"
    )
    assert "temp=1.5" in page.url
    page.get_by_role("button", name="Stop").click()
    page.wait_for_selector("#open-step:not([hidden])")
    assert "bits per character" in page.text_content(".run-lstm .run-metric")
    assert page.evaluate("() => document.getElementById('metric-chart').layout.yaxis.title.text") \
        == "bits per character"  # fmt: skip
    page.locator("#samples-panel").scroll_into_view_if_needed()
    page.screenshot(path=artifact("train_charlm_1280x720.png"))
    model = json.loads(page.evaluate("() => sessionStorage.getItem('lstmx.trainedModel')"))
    alphabet = model["alphabet"]
    assert model["input_size"] == len(alphabet)

    # The step page reads its own characters, live: typing adds one step per character
    page.click("#open-step")
    page.wait_for_selector("body[data-ready='1']")
    assert "trained on the Train page" in page.text_content("#weights-status")
    text = page.input_value("#text")
    assert text.startswith("def area") and set(text) <= set(alphabet)
    steps = page.evaluate("() => globalThis.lstmExplainer.trace.steps")
    assert steps == len(text)
    assert page.evaluate("() => globalThis.lstmExplainer.trace.alphabet") == alphabet
    page.locator("#text").press("End")
    page.locator("#text").type("x")
    page.wait_for_function(f"() => globalThis.lstmExplainer.trace.steps === {steps + 1}")
    page.screenshot(path=artifact("step_charlm_1280x720.png"))


def test_an_uploaded_text_that_is_not_utf8_is_refused_with_a_reason(page, base_url, tmp_path):
    page.goto(f"{base_url}/train?task=charlm")
    page.wait_for_selector("body[data-ready='1']")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 ".encode("latin-1") * 100)
    page.set_input_files("#text-file", str(bad))
    page.wait_for_function("() => document.getElementById('error').textContent.length > 0")
    assert "not UTF-8" in page.text_content("#error")
    good = tmp_path / "mine.txt"
    good.write_text("(a [b] c) " * 40, encoding="utf-8")
    page.set_input_files("#text-file", str(good))
    page.wait_for_function(
        "() => document.getElementById('text-status').textContent.includes('mine.txt')"
    )
    assert "400 characters" in page.text_content("#text-status")
    assert page.text_content("#error") == ""
