"""The training page in a real browser: start a short training, watch it, keep the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pagetools import artifact, post_json

pytestmark = pytest.mark.browser
playwright_sync = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]


def progress_of(page, cell):
    return page.eval_on_selector(f".run-{cell} progress", "p => p.value")


@pytest.mark.slow
def test_a_short_training_moves_the_bar_draws_curves_and_gates_and_offers_the_model(page, base_url):
    page.goto(f"{base_url}/train?len=20&steps=300&hidden=8")
    page.wait_for_selector("body[data-ready='1']")
    assert page.input_value("#len") == "20"
    page.get_by_label("Learning rate").fill("0.02")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function("() => document.querySelector('.run-lstm progress')?.value > 0")
    first = progress_of(page, "lstm")
    assert 0 < first <= 1
    page.wait_for_selector("#heatmaps [data-key='f'] svg")
    page.wait_for_selector("#open-step:not([hidden])", timeout=30_000)
    assert progress_of(page, "lstm") == 1.0
    assert "finished at step 300" in page.text_content(".run-lstm .run-text")
    assert "MSE" in page.text_content(".run-lstm .run-metric")
    assert page.text_content("#status") == "Finished."
    assert "lr=0.02" in page.url  # the settings live in the URL
    # the loss curve has points and the constant-predictor line
    names = page.evaluate("() => document.getElementById('loss-chart').data.map(d => d.name)")
    assert names == ["LSTM", "constant predictor"]
    n_points = page.evaluate("() => document.getElementById('loss-chart').data[0].x.length")
    assert n_points >= 10
    model = json.loads(page.evaluate("() => sessionStorage.getItem('lstmx.trainedModel')"))
    assert model["cell"] == "lstm" and "readout.weight" in model["weights"]
    assert page.get_attribute("#download", "href").startswith("blob:")
    with page.expect_download() as download:
        page.click("#download-st")
    saved = Path(download.value.path()).read_bytes()
    header_len = int.from_bytes(saved[:8], "little")
    names = set(json.loads(saved[8 : 8 + header_len])) - {"__metadata__"}
    assert {"weight_ih_l0", "weight_hh_l0", "readout.weight"} <= names  # PyTorch names
    page.locator("#gates-title").scroll_into_view_if_needed()
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=artifact("train_1280x720.png"))
    page.screenshot(path=artifact("train_1280x720_full.png"), full_page=True)

    lab_href = page.get_attribute("#open-lab", "href")

    # The trained model opens in the step-through page, on the held-out sample sequence
    page.click("#open-step")
    page.wait_for_selector("body[data-ready='1']")
    assert "trained on the Train page" in page.text_content("#weights-status")
    seq = page.evaluate("() => new URLSearchParams(location.search).get('seq')")
    rows = [[float(v) for v in row.split()] for row in seq.split(";")]
    assert len(rows) == 20 and len(rows[0]) == 2  # adding: (value, marker) per step
    fields = ("cell", "hidden_size", "num_layers", "variant", "output_size", "weights")
    body = {"model": {k: model[k] for k in fields}, "input": {"sequence": rows}}
    want = post_json(base_url, "/api/trace", body)
    diagram = page.locator("[data-t]").first
    t, unit = int(diagram.get_attribute("data-t")), diagram.get_attribute("data-unit")
    shown = float(page.get_attribute("[data-gate='f']", "data-value"))
    f_t = want["layers"][0]["gates"]["f"][t]
    expected = sum(f_t) / len(f_t) if unit == "mean" else f_t[int(unit)]
    assert abs(shown - expected) < 1e-12

    # ... and in the gradient lab: the trained LSTM against fresh networks, same sample
    bodies = []
    page.on("request", lambda r: bodies.append(r.post_data_json)
            if r.url.endswith("/api/compare") else None)  # fmt: skip
    page.goto(f"{base_url}{lab_href}")
    page.wait_for_selector("#lab-chart[data-state='ready']")
    assert page.is_visible("#trained-note") and "trained" in page.text_content("#trained-text")
    assert bodies[-1]["weights"]["lstm"] == model["weights"]
    assert bodies[-1]["input"]["sequence"] == rows and bodies[-1]["hidden_size"] == 8
    page.screenshot(path=artifact("compare-trained-1280x720.png"))


def test_race_mode_trains_three_cells_side_by_side_stop_ends_them_and_errors_name_the_field(
    page, base_url
):
    page.goto(f"{base_url}/train?mode=race&len=20&steps=20000&hidden=8")
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_disabled("#cell")
    page.get_by_role("button", name="Start training").click()
    for cell in ("rnn", "lstm", "gru"):
        page.wait_for_function(
            f"() => document.querySelector('.run-{cell} progress')?.value > 0", timeout=20_000
        )
    page.get_by_role("button", name="Pause").click()
    for cell in ("rnn", "lstm", "gru"):
        page.wait_for_function(
            f"() => document.querySelector('.run-{cell} .run-text').textContent"
            ".startsWith('paused at step')"
        )
    held = {c: progress_of(page, c) for c in ("rnn", "lstm", "gru")}
    page.wait_for_timeout(500)
    assert {c: progress_of(page, c) for c in ("rnn", "lstm", "gru")} == held  # nothing moves
    assert page.get_attribute("#pause", "aria-pressed") == "true"
    page.get_by_role("button", name="Resume").click()
    moved = f"() => document.querySelector('.run-lstm progress').value > {held['lstm']}"
    page.wait_for_function(moved)
    page.get_by_role("button", name="Stop").click()
    for cell in ("rnn", "lstm", "gru"):
        page.wait_for_function(
            f"() => document.querySelector('.run-{cell} .run-text').textContent"
            ".startsWith('stopped')"
        )
    assert page.is_enabled("#start")
    names = page.evaluate("() => document.getElementById('loss-chart').data.map(d => d.name)")
    assert names == ["RNN (tanh)", "LSTM", "GRU", "constant predictor"]
    # a refused setting: an error naming the field, and the page ready for another try
    page.select_option("#task", "temporal_order")
    page.get_by_label("Length T").fill("5")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function("() => document.getElementById('error').textContent.length > 0")
    assert "task.length" in page.text_content("#error")
    page.wait_for_selector("#start:enabled")  # once every socket of the race has closed
