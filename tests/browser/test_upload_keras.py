"""Opening a model from the wild on the step page: a Keras 3 .keras file with a vocabulary, a
plain RNN whose file cannot say tanh or ReLU, and a bidirectional model's direction selector.
What a person sees is checked against the server's own trace of the same model and input."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
playwright_sync = pytest.importorskip("playwright.sync_api")

from pagetools import artifact, post, post_json  # noqa: E402

from tests.browser.test_step_page import diagram, fixed4  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "import"
VOCAB = ["<pad>", "a", "b", "c", "d", "e", "h", "l", "o", "r", "w", " "]  # keras_lm: 12 rows
TOL = 1e-12


def upload_model(base_url: str, name: str, **form: str) -> dict:
    """POST /api/weights as the page does (multipart), for the reference trace."""
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for key, value in form.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                  f"{value}\r\n".encode())  # fmt: skip
    out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
              f'filename="{name}"\r\n\r\n'.encode())  # fmt: skip
    out.write((FIXTURES / name).read_bytes())
    out.write(f"\r\n--{boundary}--\r\n".encode())
    kind = f"multipart/form-data; boundary={boundary}"
    return post(base_url, "/api/weights", out.getvalue(), kind, timeout=20)


def reference(base_url: str, model: dict, inp: dict) -> dict:
    body = {"model": model, "input": inp, "loss": {"kind": "sum_last"}, "dtype": "float64"}
    return post_json(base_url, "/api/trace", body, timeout=20)


def assert_gates(page, trace: dict, entry: int) -> None:
    view = diagram(page)
    gates = trace["layers"][entry]["gates"]
    assert sorted(view["gates"]) == sorted(gates)
    for g, value in view["gates"].items():
        row = gates[g][view["t"]]
        want = sum(row) / len(row) if view["unit"] == "mean" else row[int(view["unit"])]
        assert abs(float(value) - want) <= TOL, (entry, g, view, want)


def wait_done(page, steps: int) -> None:
    page.wait_for_function(
        "n => { const t = globalThis.lstmExplainer?.trace;"
        " return t && t.steps === n && t.gradFrom === 0 && document.body.dataset.ready === '1'; }",
        arg=steps,
    )
    page.wait_for_function("() => /^Done/.test(document.getElementById('status').textContent)")


def test_keras_file_and_vocabulary_show_the_gates_of_both_layers_with_tokens(
    page, base_url, tmp_path
) -> None:
    page.goto(f"{base_url}/?kind=text&text=ab")
    page.wait_for_selector("body[data-ready='1']")
    page.set_input_files("#weights-file", str(FIXTURES / "keras_lm.keras"))
    page.wait_for_function(
        "() => document.getElementById('weights-status').textContent.includes('keras_lm.keras')"
    )
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("\n".join(VOCAB) + "\n")
    page.set_input_files("#vocab-file", str(vocab_file))
    expect = playwright_sync.expect
    expect(page.locator("#vocab-status")).to_have_text("Vocabulary: 12 tokens from vocab.txt.")
    page.fill("#text", "hello")
    page.press("#text", "Enter")
    wait_done(page, 5)

    model = upload_model(base_url, "keras_lm.keras")
    trace = reference(base_url, model, {"text": "hello", "vocab": VOCAB, "level": "char"})
    page.select_option("#unit", "3")
    page.locator("#scrubber").fill("4")
    page.wait_for_function(  # unit 3's exact numbers come on the trace's socket
        "() => { const d = document.getElementById('diagram').dataset;"
        " return d.unit === '3' && d.t === '4'; }"
    )
    assert_gates(page, trace, 0)
    expect(page.locator("#input-now")).to_have_text("Step 4: input “o”")
    assert [o for o in page.locator("#unit option").all_inner_texts()][-1] == "unit 11"

    page.select_option("#layer", "1")  # the second LSTM is 6 wide
    page.wait_for_function("() => document.getElementById('diagram').dataset.layer === '1'")
    assert page.locator("#unit option").all_inner_texts() == ["mean of all units"] + [
        f"unit {u}" for u in range(6)
    ]
    page.select_option("#unit", "5")
    page.wait_for_function("() => document.getElementById('diagram').dataset.unit === '5'")
    assert_gates(page, trace, 1)
    expect(page.locator("#input-now")).to_contain_text("input “o” · layer 1 reads h of layer 0")
    assert page.locator("#direction-group").is_hidden()  # not bidirectional
    ticks = page.locator("#heatmaps .xtick text").all_text_contents()
    assert ticks[:5] == ["h", "e", "l", "l", "o"]  # the heatmaps' steps are the tokens
    page.screenshot(path=artifact("upload_keras_layer1.png"), full_page=True)

    # the controls say what the file's model is, and that the random draw's settings are idle
    expect(page.locator("#weights-status")).to_contain_text(
        "LSTM, 2 layers of 12 and 6 units, reading token ids through an embedding (12 tokens"
    )
    assert page.locator("#kind option[value='text']").inner_text() == "typed text (tokens)"
    assert all(page.locator(f"#{c}").is_disabled() for c in ("seed", "fbias", "rinit", "gain"))
    # the architecture is the file's: read-only while it is loaded (issue #19)
    assert page.locator("#hidden").get_attribute("readonly") is not None
    assert page.locator("#layers").get_attribute("readonly") is not None
    assert page.locator("#cell").is_disabled()
    expect(page.locator("#arch-note")).to_be_visible()
    page.click("#weights-clear")  # back to the page's own random weights
    expect(page.locator("#weights-status")).to_have_text("")
    assert page.locator("#hidden").get_attribute("readonly") is None
    assert page.locator("#weights-clear").is_hidden()
    assert page.locator("#kind option[value='text']").inner_text() == "typed text (one-hot)"
    assert not page.locator("#seed").is_disabled()


def test_a_plain_rnn_file_asks_tanh_or_relu_and_runs_as_chosen(page, base_url) -> None:
    page.goto(f"{base_url}/?kind=custom&seq=1,2,3;0,-1,0.5")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#nonlinearity-group").is_hidden()
    page.set_input_files("#weights-file", str(FIXTURES / "torch_rnn_relu.safetensors"))
    expect = playwright_sync.expect
    expect(page.locator("#nonlinearity-group")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("cannot say whether it computes tanh or relu")
    page.select_option("#nonlinearity", "relu")
    expect(page.locator("#weights-status")).to_contain_text("torch_rnn_relu.safetensors")
    wait_done(page, 2)
    model = upload_model(base_url, "torch_rnn_relu.safetensors", nonlinearity="relu")
    assert model["nonlinearity"] == "relu"
    trace = reference(base_url, model, {"sequence": [[1, 2, 3], [0, -1, 0.5]]})
    h = page.evaluate("() => { const L = lstmExplainer.trace.layers[0]; return [L.h, L.heat.h]; }")
    want = trace["layers"][0]["h"]
    assert [row[0] for row in h[0]] == [row[0] for row in want]  # the unit shown, exactly
    heat = [[round(v * 1e4) for v in row] for row in h[1]]
    assert heat == [[fixed4(v) for v in row] for row in want]  # every unit, to 4 decimals
    assert page.locator("#error").inner_text() == ""


@pytest.mark.slow
def test_a_bidirectional_model_offers_a_direction_selector(page, base_url) -> None:
    page.goto(f"{base_url}/?kind=custom&seq=1,0,0;0,1,0;0,0,1;1,1,1")
    page.wait_for_selector("body[data-ready='1']")
    page.set_input_files("#weights-file", str(FIXTURES / "keras_bidi.keras"))
    wait_done(page, 4)
    expect = playwright_sync.expect
    expect(page.locator("#direction-group")).to_be_visible()
    model = upload_model(base_url, "keras_bidi.keras")
    trace = reference(base_url, model, {"sequence": [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]]})
    page.select_option("#unit", "2")
    page.select_option("#layer", "1")
    page.select_option("#direction", "reverse")
    page.wait_for_function("() => document.getElementById('diagram').dataset.layer === '3'")
    assert_gates(page, trace, 3)  # entries: l0 forward, l0 reverse, l1 forward, l1 reverse
    assert page.locator("#unit option").count() == 1 + 3
    expect(page.locator("#input-now")).to_contain_text(
        "reverse: it reads the sequence from the end"
    )
    assert "t+1" in page.locator("#equations").inner_text()  # it comes from step t+1
    # the loss reads the last row, which this direction computes first: its other steps get an
    # exact zero gradient, shown as 0
    expect(page.locator("#grad-now")).to_have_text("At step 0: ‖∂L/∂h‖ = 0, ‖∂L/∂c‖ = 0")
    page.screenshot(path=artifact("upload_bidirectional.png"), full_page=True)


def test_a_pytorch_state_dict_pt_file_opens_and_shows_torchs_gates(page, base_url, tmp_path):
    """torch.save(model.state_dict(), "m.pt") of Embedding -> 2-layer LSTM -> Linear "fc"."""
    page.goto(f"{base_url}/?kind=text&text=ab")
    page.wait_for_selector("body[data-ready='1']")
    page.set_input_files("#weights-file", str(FIXTURES / "torch_char_lm.pt"))
    expect = playwright_sync.expect
    expect(page.locator("#weights-status")).to_contain_text("torch_char_lm.pt")
    vocab = list("abcdehlorw ")  # 11 rows
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    page.set_input_files("#vocab-file", str(tmp_path / "vocab.txt"))
    expect(page.locator("#vocab-status")).to_contain_text("11 tokens")
    page.fill("#text", "hello")
    page.press("#text", "Enter")
    wait_done(page, 5)
    model = upload_model(base_url, "torch_char_lm.pt")
    trace = reference(base_url, model, {"text": "hello", "vocab": vocab, "level": "char"})
    page.select_option("#layer", "1")
    page.select_option("#unit", "4")
    page.locator("#scrubber").fill("3")
    page.wait_for_function(
        "() => { const d = document.getElementById('diagram').dataset;"
        " return d.layer === '1' && d.unit === '4' && d.t === '3'; }"
    )
    assert_gates(page, trace, 1)
    assert page.locator("#error").inner_text() == ""
    page.screenshot(path=artifact("upload_pt.png"), full_page=True)
