"""lx.show / lx.trace / build_html without a browser: the numbers (PyTorch's, through the
committed fixtures), what the HTML may load (nothing), the size bound and the window, the
bundler's refusals, and `import app` staying light."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import app as lx
from app.standalone import build_html
from app.standalone.bundle import BundleError, _module, bundle

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def fixture(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"{name}.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def state_dict_file(fx: dict, tmp_path: Path, prefix: str = "rnn.") -> Path:
    """The fixture's parameters as a saved state_dict of a module holding the LSTM/GRU/RNN."""
    path = tmp_path / "model.npz"
    np.savez(path, **{prefix + k[6:]: v for k, v in fx.items() if k.startswith("param.")})
    return path


def floats(b64: str, dtype: str = "<f4") -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=dtype)


@pytest.mark.parametrize("name", ["lstm_1layer", "gru_2layer", "rnn_1layer"])
def test_show_a_weight_file_gives_torchs_numbers(name, tmp_path):
    fx = fixture(name)
    how = {"nonlinearity": "tanh"} if name.startswith("rnn") else {}  # a file cannot say
    view = lx.show(state_dict_file(fx, tmp_path), fx["x"], **how)
    tr = view.trace
    L = int(fx["meta_num_layers"])
    assert tr.loss == pytest.approx(float(fx["loss"]), abs=1e-10)
    for k in range(L):
        np.testing.assert_allclose(tr.layers[k].h, fx[f"l{k}_h"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(tr.layers[k].grad_h, fx[f"l{k}_grad_h"], rtol=0, atol=1e-10)
        for g in tr.layers[k].gates:
            np.testing.assert_allclose(tr.layers[k].gates[g], fx[f"l{k}_gate_{g}"], atol=1e-10)
    for pname, grad in tr.param_grads.items():
        np.testing.assert_allclose(grad, fx[f"grad.{pname}"], rtol=0, atol=1e-10)
    # what the view draws: the same numbers at float32
    for k, entry in enumerate(view.data["layers"]):
        h = floats(entry["fields"]["h"]).reshape(fx[f"l{k}_h"].shape)
        np.testing.assert_allclose(h, fx[f"l{k}_h"], rtol=1e-6, atol=1e-7)
        logs = floats(entry["grad_h_log10_norm"], "<f8")
        expected = np.log10(np.linalg.norm(fx[f"l{k}_grad_h"], axis=1))
        np.testing.assert_allclose(logs, expected, rtol=0, atol=1e-10)


def test_trace_takes_a_model_dict_and_equals_the_engine():
    fx = fixture("lstm_1layer")
    weights = {k[6:]: v for k, v in fx.items() if k.startswith("param.")}
    model = {"cell": "lstm", "hidden_size": 4, "input_size": 3, "weights": weights}
    tr = lx.trace(model, fx["x"])
    np.testing.assert_allclose(tr.layers[0].c, fx["l0_c"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(tr.grad_inputs, fx["grad_x"], rtol=0, atol=1e-10)


class Loads(HTMLParser):
    """Every way an HTML fragment could ask the network for something."""

    def __init__(self) -> None:
        super().__init__()
        self.attrs: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "poster", "action", "background"):
                self.attrs.append(f"<{tag} {name}={value}>")
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)


def test_the_view_loads_nothing_from_anywhere():
    view = lx.show({"cell": "lstm", "hidden_size": 6}, "hello, world")
    for html in (view._repr_html_(), view.html()):
        found = Loads()
        found.feed(html)
        assert found.attrs == []
        assert found.scripts and found.styles
        js = "\n".join(found.scripts)
        assert not re.search(r"^\s*import[\s{*]|\bimport\s*\(|\brequire\s*\(", js, re.M)
        assert not re.search(r"\bfetch\s*\(|XMLHttpRequest|WebSocket|EventSource|\.src\s*=", js)
        css = "\n".join(found.styles)
        assert "url(" not in css and "@import" not in css
    # the saved file also forbids any load in its Content-Security-Policy
    assert "default-src 'none'" in view.html()


def test_two_views_have_their_own_roots():
    a = lx.show({"cell": "gru", "hidden_size": 3}, "abc")._repr_html_()
    b = lx.show({"cell": "gru", "hidden_size": 3}, "abc")._repr_html_()
    ids_a, ids_b = (set(re.findall(r'id="([^"]+)"', x)) for x in (a, b))
    assert ids_a and not ids_a & ids_b


def test_the_bundle_is_one_valid_script(tmp_path):
    script = tmp_path / "bundle.js"
    script.write_text("(() => {\n" + bundle() + "\n})();\n", encoding="utf-8")
    subprocess.run(["node", "--check", str(script)], check=True)


@pytest.mark.parametrize(
    "source",
    ["export default 1;\n", "const a = 1;\nexport { a };\n", 'const m = import("./x.js");\n'],
)
def test_the_bundler_refuses_what_it_cannot_translate(tmp_path, source):
    (tmp_path / "m.js").write_text(source, encoding="utf-8")
    with pytest.raises(BundleError, match="m.js line"):
        _module(tmp_path, "m.js")


def test_a_long_run_is_a_window_with_a_note():
    x = np.zeros((3000, 2))
    view = lx.show({"cell": "lstm", "hidden_size": 8, "input_size": 2}, x, max_numbers=48_000)
    data = view.data
    assert (data["t0"], data["steps"], data["total_steps"]) == (0, 1000, 3000)  # 48 per step
    assert "steps 0–999 of the run's 3,000" in data["note"]
    assert len(floats(data["layers"][0]["grad_h_log10_norm"], "<f8")) == 3000  # chart: all
    later = lx.show({"cell": "lstm", "hidden_size": 8, "input_size": 2}, x, window=(2500, 2600))
    assert (later.data["t0"], later.data["steps"], later.data["first"]) == (2500, 100, 2499)
    with pytest.raises(ValueError, match="window must satisfy"):
        lx.show({"cell": "lstm", "hidden_size": 8, "input_size": 2}, x, window=(10, 5))


def test_size_for_t200_h64_is_reported_small():
    x = np.random.default_rng(0).standard_normal((200, 8))
    html = build_html({"cell": "lstm", "hidden_size": 64, "init": {"seed": 0}}, x)
    print(f"T=200, H=64 LSTM: {len(html.encode()):,} bytes")
    assert len(html.encode()) < 700_000  # 6 fields x 200 x 64 float32 in base64 + ~80 KB


def test_over_the_limits_is_an_error_not_a_frozen_kernel(monkeypatch):
    monkeypatch.setenv("LSTMX_MAX_STEPS", "100")
    from app.settings import get_settings

    get_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"sequence length T is 101, above the limit of 100"):
            lx.show({"cell": "rnn", "hidden_size": 2, "input_size": 1}, np.zeros(101))
    finally:
        get_settings.cache_clear()


def test_text_for_a_model_with_weights_needs_its_alphabet(tmp_path):
    fx = fixture("lstm_1layer")  # 3 inputs: an alphabet of 3 characters
    path = state_dict_file(fx, tmp_path)
    with pytest.raises(ValueError, match="alphabet="):
        lx.show(path, "abc")
    view = lx.show(path, "abca", alphabet="abc")
    assert view.data["labels"] == ["a", "b", "c", "a"]
    onehot = np.eye(3)[[0, 1, 2, 0]]
    np.testing.assert_allclose(view.trace.inputs, onehot)


def test_an_rnn_file_asks_for_its_nonlinearity(tmp_path):
    fx = fixture("rnn_1layer")
    with pytest.raises(ValueError, match=r"nonlinearity='tanh' or nonlinearity='relu'"):
        lx.show(state_dict_file(fx, tmp_path), fx["x"])


def test_an_unknown_option_is_named():
    with pytest.raises(TypeError, match="unknown option"):
        lx.show({"cell": "rnn", "hidden_size": 2}, "ab", colour="red")


def test_import_app_stays_light():
    heavy = "('fastapi', 'numpy', 'starlette')"
    code = f"import sys, app; print(json.dumps(sorted(m for m in {heavy} if m in sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == []
    assert callable(lx.show) and callable(lx.compare)


def test_save_writes_one_file(tmp_path):
    view = lx.show({"cell": "rnn", "hidden_size": 3}, "abcabc")
    path = view.save(tmp_path / "run.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and 'class="lstmx-view"' in text


def test_compare_is_the_labs_answer():
    view = lx.compare(T=30, hidden_size=4, seed=1)
    cells = view.data["cells"]
    assert set(cells) == {"rnn", "lstm", "gru"}
    assert cells["lstm"]["grad_c"][0] == 0.0 and len(cells["rnn"]["grad_h"]) == 30
    assert 'class="lstmx-view"' in view._repr_html_()


class KerasLike:
    """Stands in for a Keras 3 model (Keras is not installed here): a class from a `keras`
    module whose save() writes the .keras file Keras wrote for the import tests."""

    __module__ = "keras.src.models.sequential"

    def __init__(self, source: Path) -> None:
        self.source = source

    def save(self, path) -> None:
        Path(path).write_bytes(self.source.read_bytes())


def test_a_keras_model_is_saved_by_keras_and_read_back_as_data():
    source = FIXTURES / "import" / "keras_gru.keras"
    expected = np.load(FIXTURES / "import" / "keras_gru_expected.npz")
    x = expected["x"][0].astype(np.float64)
    tr = lx.trace(KerasLike(source), x)
    np.testing.assert_allclose(tr.layers[0].h, expected["gru"][0], rtol=0, atol=1e-5)  # float32
    np.testing.assert_allclose(tr.layers[1].h, expected["gru_1"][0], rtol=0, atol=1e-5)
    np.testing.assert_allclose(tr.outputs, expected["dense"][0], rtol=0, atol=1e-5)


def test_serve_starts_the_app_once_and_shows_it_in_an_iframe():
    pytest.importorskip("IPython")
    import urllib.request

    from app import notebook

    frame = lx.serve()
    try:
        thread = notebook._server["thread"]
        again = lx.serve()  # a second call shows the same server
        assert again.src == frame.src == notebook._server["url"]
        assert notebook._server["thread"] is thread
        with urllib.request.urlopen(notebook._server["url"] + "healthz", timeout=5) as r:
            assert r.status == 200
    finally:
        notebook._server["server"].should_exit = True
        notebook._server["thread"].join(10)
        notebook._server.clear()


def test_trace_is_the_engines_trace_under_its_public_name():
    from app.engine import trace as engine_trace

    model = {"cell": "gru", "hidden_size": 3, "input_size": 2, "init": {"seed": 4}}
    x = np.random.default_rng(1).standard_normal((5, 2))
    loss = {"kind": "mse", "target": np.zeros((5, 3)).tolist(), "at": "all"}
    ours, theirs = lx.trace(model, x, loss, "float32"), engine_trace(model, x, loss, "float32")
    assert ours.loss == theirs.loss and ours.layers[0].h.dtype == np.float32
    np.testing.assert_array_equal(ours.layers[0].grad_h, theirs.layers[0].grad_h)
