"""`lstm-explainer` in this process (app.cli.main): trace into .json and .npz with the engine's
numbers, every kind of MODEL and INPUT, clear errors, serve as the default command."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from package_support import assert_json_is_trace, assert_npz_is_trace, small_model

import app
from app.cli import main, serve
from app.engine import trace as engine_trace
from app.engine.formats.weights import save_weights


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """(exit code, stderr) of the command."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_trace_json_and_npz_hold_the_engines_numbers(
    model_files: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    m, seq = model_files["model"], model_files["seq"]
    args = [str(model_files["model_path"]), str(model_files["seq_path"])]
    assert run_cli(["trace", *args, "-o", str(tmp_path / "run.json")], capsys)[0] == 0
    assert_json_is_trace(json.loads((tmp_path / "run.json").read_text()), engine_trace(m, seq))
    for dtype in ("float64", "float32"):
        out = tmp_path / f"run-{dtype}.npz"
        assert run_cli(["trace", *args, "--dtype", dtype, "-o", str(out)], capsys)[0] == 0
        with np.load(out) as npz:  # no pickles: np.load's default allow_pickle=False
            assert_npz_is_trace(npz, engine_trace(m, seq, dtype=dtype), dtype)


def test_trace_a_weight_file_with_text_and_a_loss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = small_model("gru")
    path = tmp_path / "gru.safetensors"
    path.write_bytes(save_weights({k: np.array(v) for k, v in model["weights"].items()},
                                  "safetensors"))  # fmt: skip
    out = tmp_path / "run.json"
    argv = ["trace", str(path), "abcab", "--alphabet", "abc", "--loss", "mse", "--target",
            "[0.5, -0.5]", "-o", str(out)]  # fmt: skip
    assert run_cli(argv, capsys)[0] == 0
    X = np.eye(3)[[0, 1, 2, 0, 1]]
    spec = {k: model[k] for k in ("cell", "hidden_size", "num_layers", "output_size")}
    want = engine_trace({**spec, "input_size": 3, "weights": model["weights"]}, X,
                        loss={"kind": "mse", "target": [0.5, -0.5]})  # fmt: skip
    answer = json.loads(out.read_text())
    assert answer["alphabet"] == "abc"
    assert_json_is_trace(answer, want)


def test_trace_token_ids_through_an_embedding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = {"cell": "lstm", "hidden_size": 4, "embedding": {"num_embeddings": 6,
             "embedding_dim": 3}, "init": {"seed": 1}}  # fmt: skip
    path = tmp_path / "emb.json"
    path.write_text(json.dumps({"model": model}))  # a whole request body is read too
    out = tmp_path / "run.npz"
    assert run_cli(["trace", str(path), "5, 0,3 2", "--tokens", "-o", str(out)], capsys)[0] == 0
    with np.load(out) as npz:
        np.testing.assert_array_equal(npz["tokens"], [5, 0, 3, 2])
        assert_npz_is_trace_subset(npz, engine_trace(model, np.array([5, 0, 3, 2])))


def assert_npz_is_trace_subset(npz: Any, want: Any) -> None:
    np.testing.assert_array_equal(npz["layers/0/c"], want.layers[0].c)
    np.testing.assert_array_equal(npz["grad_embedding"], want.grad_inputs)
    np.testing.assert_array_equal(npz["param_grads/embedding.weight"],
                                  want.param_grads["embedding.weight"])  # fmt: skip


def test_trace_json_to_stdout(model_files: dict[str, Any], capfd: pytest.CaptureFixture) -> None:
    main(["trace", str(model_files["model_path"]), str(model_files["seq_path"]), "-o", "-"])
    answer = json.loads(capfd.readouterr().out)
    assert_json_is_trace(answer, engine_trace(model_files["model"], model_files["seq"]))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nope.safetensors", "abc", "-o", "x.json"], "MODEL 'nope.safetensors': no such file"),
        (["{model}", "{seq}", "-o", "x.csv"], "write a .json or an .npz file"),
        (["{model}", "1,2,x", "--tokens", "-o", "x.json"], "with --tokens, give token ids"),
        (["{model}", "abcd", "-o", "x.json"], "input_size is 3 but the input has width 4"),
        (["{model}", "{seq}", "--target", "[1,", "-o", "x.json"], "--target '[1,' is not JSON"),
        (["{model}", "{seq}", "--loss", "hinge", "-o", "x.json"], "loss.kind"),
        (["{model}", "{seq}", "--vocab", "none.txt", "-o", "x.json"], "--vocab 'none.txt'"),
        (["{bad}", "abc", "-o", "x.json"], "must hold a JSON object"),
    ],
)
def test_trace_errors_name_the_argument(
    argv: list[str],
    message: str,
    model_files: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text("[1, 2]")
    names = {"model": model_files["model_path"], "seq": model_files["seq_path"],
             "bad": tmp_path / "bad.json"}  # fmt: skip
    code, err = run_cli(["trace", *(a.format(**names) for a in argv)], capsys)
    assert code == 1
    assert err.startswith("lstm-explainer trace: error: ") and message in err, err
    assert not (tmp_path / "x.json").exists()


def test_html_writes_a_page_or_says_it_cannot(
    model_files: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.html"
    argv = ["html", str(model_files["model_path"]), str(model_files["seq_path"]), "-o", str(out)]
    code, err = run_cli(argv, capsys)
    try:
        import app.standalone  # noqa: F401  (the view of issue #21 item 4, another branch)
    except ModuleNotFoundError:
        assert code == 1 and "no standalone HTML view yet" in err and not out.exists()
    else:
        assert code == 0, err
        assert out.read_text()[:200].lower().lstrip().startswith("<!doctype html")


def test_serve_is_the_default_command(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[Any] = []
    monkeypatch.setattr(serve, "run", ran.append)
    main(["--port", "8123", "--open"])
    main([])
    assert [(a.command, a.port, a.open) for a in ran] == [("serve", 8123, True),
                                                          ("serve", 8000, False)]  # fmt: skip


def test_serve_redis_url_reaches_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from app.settings import get_settings

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    monkeypatch.delenv("LSTMX_REDIS_URL", raising=False)
    try:
        main(["serve", "--redis-url", "redis://127.0.0.1:1/0"])
        assert os.environ["LSTMX_REDIS_URL"] == "redis://127.0.0.1:1/0"
        assert get_settings().redis_url == "redis://127.0.0.1:1/0"
    finally:
        monkeypatch.delenv("LSTMX_REDIS_URL", raising=False)
        get_settings.cache_clear()


def test_serve_refuses_a_url_that_is_not_redis(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(["serve", "--redis-url", "http://x"], capsys)
    assert code == 2 and "--redis-url must be redis://" in err


def test_help_reads_well(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["trace", "--help"], ["html", "--help"], ["serve", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv, prog="lstm-explainer")
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: lstm-explainer") and "examples:" in out
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"lstm-explainer {app.__version__}"


def test_trace_gives_the_engines_numbers_and_import_is_light() -> None:
    import subprocess
    import sys

    # lx.trace is the notebook's (it also takes files, torch and Keras models); on the engine's
    # arguments it gives the engine's numbers, bit for bit.
    code = ("import sys, app; heavy = {'numpy', 'fastapi', 'pydantic', 'uvicorn'} & "
            "set(sys.modules); assert not heavy, heavy; from app import trace; "
            "assert 'trace' in dir(app); assert 'fastapi' not in sys.modules; "
            "import numpy as np, app.engine; m = {'cell': 'lstm', 'input_size': 2, "
            "'hidden_size': 3}; x = np.random.default_rng(0).normal(size=(5, 2)); "
            "a, b = trace(m, x), app.engine.trace(m, x); "
            "assert np.array_equal(a.layers[0].grad_c, b.layers[0].grad_c); "
            "assert a.loss == b.loss")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60,
                   cwd=Path(__file__).resolve().parents[2])  # fmt: skip


def test_html_window_must_be_start_stop(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(["html", "m.json", "abc", "-o", "x.html", "--window", "3"], capsys)
    assert code == 2 and "give START:STOP" in err


def test_trace_a_gallery_model_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gallery = pytest.importorskip("app.gallery", reason="this build has no gallery (app/gallery)")
    cards = [c for c in gallery.all_cards() if c.card.get("example")]
    assert cards, "every gallery card should carry an example input"
    card = cards[0]
    example = card.card["example"]
    given = example.get("text")
    if given is None:
        np.save(tmp_path / "x.npy", np.asarray(example["sequence"], dtype=np.float64))
        given = str(tmp_path / "x.npy")
    out = tmp_path / "run.json"
    code, err = run_cli(["trace", card.slug, given, "-o", str(out)], capsys)
    assert code == 0, err
    answer = json.loads(out.read_text())
    assert answer["cell"] == card.model["cell"] and answer["steps"] >= 1
