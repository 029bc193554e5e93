"""A practitioner's char LM on the step page: nn.Embedding -> nn.LSTM -> nn.Linear saved as
.safetensors (tests/fixtures/charlm_quotes.*, made by make_readout_fixtures.py) and its
vocabulary. The page shows it at once, reads typed text through the vocabulary, one step per
key in live mode, shows the Predictions panel (checked against the server's own answer) and
the surprise strip, and Find the unit answers for a quoted string."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

pytestmark = pytest.mark.browser
playwright_sync = pytest.importorskip("playwright.sync_api")

from tests.browser.test_step_page import post_trace  # noqa: E402
from tests.browser.test_upload_keras import upload_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
ARTIFACTS = ROOT / "tests" / "artifacts"
MODEL = FIXTURES / "charlm_quotes.safetensors"
VOCAB_FILE = FIXTURES / "charlm_quotes.vocab.json"
VOCAB = json.loads(VOCAB_FILE.read_text())
TEXT = 'he said "hi" and she said '


def steps(page) -> int:
    return page.evaluate("() => globalThis.lstmExplainer.trace?.steps ?? 0")


def top_token(page) -> str:
    return page.locator("#pred-list li .pred-token").first.inner_text()


def open_lm(page, base_url, text=TEXT):
    page.goto(f"{base_url}/?kind=text&text=ab")
    page.wait_for_selector("body[data-ready='1']")
    page.set_input_files("#weights-file", str(MODEL))
    expect = playwright_sync.expect
    # shown at once: a run of token ids 0, 1, 2, ... until the vocabulary is here
    expect(page.locator("#weights-status")).to_contain_text("until you upload its vocabulary")
    page.wait_for_function(
        "n => { const t = globalThis.lstmExplainer.trace;"
        " return t && t.tokens?.length === Math.min(24, n) && t.tokens.every((k, i) => k === i)"
        " && t.predictions; }",
        arg=len(VOCAB),
    )
    assert page.locator("#hidden").get_attribute("readonly") is not None
    assert page.locator("#cell").is_disabled()
    expect(page.locator("#arch-note")).to_be_visible()
    page.set_input_files("#vocab-file", str(VOCAB_FILE))
    expect(page.locator("#vocab-status")).to_contain_text(f"{len(VOCAB)} tokens")
    page.fill("#text", text)
    page.press("#text", "Enter")
    page.wait_for_function(
        "n => { const t = globalThis.lstmExplainer.trace;"
        " return t && t.steps === n && t.loss_steps && /^Done/.test("
        "document.getElementById('status').textContent); }",
        arg=len(text),
    )


def test_live_typing_into_an_uploaded_char_lm_adds_steps_and_moves_its_predictions(
    make_page, base_url
):
    page = make_page(1280, 720)
    open_lm(page, base_url)
    expect = playwright_sync.expect
    expect(page.locator("#predictions-panel")).to_be_visible()
    expect(page.locator("#pred-list li")).to_have_count(5)
    expect(page.locator("#grad-loss")).to_contain_text("next-token cross-entropy")
    expect(page.locator("#surprise-strip span")).to_have_count(len(TEXT) - 1)
    # the strip's keyboard path: one tab stop (the box of the step on show); the arrows, Home
    # and End go to a box and the player there, and do not step the player a second time
    expect(page.locator("#surprise-strip [tabindex='0']")).to_have_count(1)
    page.locator("#surprise-strip [tabindex='0']").focus()
    boxes = page.locator("#surprise-strip span")
    for key, box in (("Home", boxes.first), ("ArrowRight", boxes.nth(1)), ("End", boxes.last)):
        page.keyboard.press(key)
        want = box.get_attribute("data-t")
        expect(page.locator("#scrubber")).to_have_value(want)
        assert page.evaluate("document.activeElement.dataset.t") == want
        expect(page.locator("#surprise-strip [tabindex='0']")).to_have_attribute("data-t", want)

    # the panel at the step on show is the server's softmax of the same model and text
    model = upload_model(base_url, "../charlm_quotes.safetensors")
    answer = post_trace(base_url, {"model": model, "input": {"text": TEXT, "vocab": VOCAB}})
    assert answer["loss_kind"] == "next_token"
    for t in (3, len(TEXT) - 1):
        page.locator("#scrubber").fill(str(t))
        read = TEXT[t].replace(" ", "␣ (space)")
        title = f"After “{read}” (step {t}), the model expects next:"
        expect(page.locator("#pred-at")).to_have_text(title)
        shown = page.locator("#pred-list li .pred-p").all_inner_texts()
        want = [f"{100 * p:.1f}%" for p in answer["predictions"]["p"][t]]
        assert [s.split(" ")[0] for s in shown] == want
        first = VOCAB[answer["predictions"]["ids"][t][0]]
        assert top_token(page).startswith("␣" if first == " " else first)

    page.check("#live")
    expect(page.locator("#status")).to_contain_text("Live")
    before_steps, before_top = steps(page), top_token(page)
    page.locator("#text").press("End")
    page.locator("#text").press_sequentially('"hell', delay=120)
    page.wait_for_function("n => globalThis.lstmExplainer.trace.steps === n", arg=before_steps + 5)
    page.wait_for_function(  # the backward pass and the loss per step, once typing pauses
        "n => { const t = globalThis.lstmExplainer.trace;"
        " return t.loss_steps && t.loss_steps.length === n - 1 && t.gradFrom === 0; }",
        arg=before_steps + 5,
    )
    assert page.evaluate("() => globalThis.lstmExplainer.player.t") == before_steps + 4
    assert top_token(page) != before_top
    labels = page.evaluate("() => globalThis.lstmExplainer.trace.labels.slice(-5).join('')")
    assert labels == '"hell'
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "readout_live_1280.png"), full_page=True)


def test_find_the_unit_answers_for_a_quoted_string_of_an_embedding_model(make_page, base_url):
    page = make_page(1280, 720)
    open_lm(page, base_url, text='we read "the sea" and "a tree". ')
    expect = playwright_sync.expect
    expect(page.locator("#unit-quotes")).to_be_enabled()
    expect(page.locator("#unit-targets-why")).to_have_text("")
    strip = page.locator("#unit-strip")
    strip.scroll_into_view_if_needed()
    a = strip.locator("span[data-t='9']").bounding_box()  # “the sea”: steps 9-15
    b = strip.locator("span[data-t='15']").bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=5)
    page.mouse.up()
    expect(page.locator("#unit-selection")).to_have_text("Selected steps 9–15: “the sea”.")
    page.click("#unit-find")
    expect(page.locator("#unit-results li")).to_have_count(5)
    expect(page.locator("#unit-status")).to_contain_text("best track steps 9–15")
    page.click("#unit-quotes")
    expect(page.locator("#unit-status")).to_contain_text("the inside of quotes")
    expect(page.locator("#unit-results li")).to_have_count(5)


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (390, 844)])
def test_readout_screenshots(make_page, base_url, width, height, assert_accessible):
    page = make_page(width, height)
    open_lm(page, base_url)
    assert_accessible(page)  # the Predictions panel, the surprise strip, the Loss fieldset
    page.locator("#scrubber").fill("9")  # just after the opening quote
    page.wait_for_function("() => document.getElementById('diagram').dataset.t === '9'")
    page.locator("#predictions-panel").scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"readout_predictions_{width}.png"))
    page.screenshot(path=str(ARTIFACTS / f"readout_page_{width}.png"), full_page=True)


def _state_dict_file(tmp_path, name: str) -> Path:
    """A fixture's weights as the .safetensors torch users save (the head named fc)."""
    with np.load(FIXTURES / f"{name}.npz", allow_pickle=False) as z:
        arrays = {k[6:].replace("readout.", "fc."): z[k] for k in z.files if k.startswith("param.")}
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(safetensors.numpy.save(arrays))
    return path


def test_an_upload_asks_what_a_bidirectional_head_reads_and_clears_a_vocabulary_that_misfits(
    page, base_url, tmp_path
):
    expect = playwright_sync.expect
    page.goto(f"{base_url}/?kind=custom&seq=1 0 0;0 1 0;0 0 1;0.5 0.5 0")
    page.wait_for_selector("body[data-ready='1']")
    page.set_input_files("#vocab-file", str(VOCAB_FILE))  # 19 tokens
    expect(page.locator("#vocab-status")).to_contain_text("19 tokens")
    page.set_input_files(
        "#weights-file", str(_state_dict_file(tmp_path, "readout_bilstm_classifier"))
    )
    expect(page.locator("#readout-group")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("cannot say what it reads")
    page.select_option("#readout", "final")
    expect(page.locator("#weights-status")).to_contain_text("bidirectional")
    expect(page.locator("#pred-at")).to_have_text(
        "Class probabilities, read once from h_n (after the whole sequence):"
    )
    expect(page.locator("#pred-list li")).to_have_count(3)
    expect(page.locator("#grad-loss")).to_contain_text("against the model's own answer")
    page.select_option("#loss", "cross_entropy")
    page.fill("#cls", "2")
    page.press("#cls", "Enter")
    expect(page.locator("#grad-loss")).to_contain_text(
        "of h_n (read once, after the whole sequence) against class 2"
    )
    assert "loss=cross_entropy" in page.url and "cls=2" in page.url
    assert page.locator("#loss option[value='next_token']").is_disabled()

    # a model with an embedding of 7 rows: the 19-token vocabulary no longer fits
    page.set_input_files("#weights-file", str(_state_dict_file(tmp_path, "readout_charlm")))
    expect(page.locator("#vocab-status")).to_contain_text("does not fit this model")
    expect(page.locator("#weights-status")).to_contain_text("until you upload its vocabulary")


def test_live_typing_into_a_word_model_adds_a_step_per_word_once_a_space_ends_it(
    page, base_url, tmp_path
):
    expect = playwright_sync.expect
    words = ["<unk>", "<eos>", "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far"]
    vocab = tmp_path / "words.txt"
    vocab.write_text("\n".join(words) + "\n")
    page.goto(f"{base_url}/?kind=text&text=ab")
    page.wait_for_selector("body[data-ready='1']")
    page.set_input_files("#weights-file", str(FIXTURES / "import" / "torch_wlm.safetensors"))
    expect(page.locator("#weights-status")).to_contain_text("torch_wlm.safetensors")
    page.set_input_files("#vocab-file", str(vocab))
    page.select_option("#vocab-level", "word")
    page.fill("#text", "the cat sat ")
    page.check("#live")
    expect(page.locator("#status")).to_contain_text("each word, once a space ends it, is one step")
    page.locator("#text").press("End")
    page.locator("#text").press_sequentially("on a do", delay=80)
    page.wait_for_function("() => globalThis.lstmExplainer.trace.steps === 5")
    expect(page.locator("#pred-at")).to_have_text("After “a” (step 4), the model expects next:")
    page.locator("#text").press_sequentially("g ", delay=80)
    page.wait_for_function("() => globalThis.lstmExplainer.trace.steps === 6")
    labels = page.evaluate("() => globalThis.lstmExplainer.trace.labels")
    assert labels == ["the", "cat", "sat", "on", "a", "dog"]
    expect(page.locator("#heatmaps .xtitle").first).to_have_text("input token")
    expect(page.locator("#unit-targets-why")).to_contain_text("this vocabulary holds words")
