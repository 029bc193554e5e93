"""Project skeleton: CLI arguments, Dockerfile lint, pinned requirements, CI policy."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app import __version__
from app.cli import serve as cli

ROOT = Path(__file__).resolve().parent.parent


def test_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_parse_args_defaults() -> None:
    args = cli.parse_args([])
    assert args.host == "127.0.0.1"
    assert args.port == 8000
    assert args.workers == 1
    assert args.open is False
    assert args.log_level == "info"


def test_parse_args_all_options() -> None:
    args = cli.parse_args(
        ["--host", "0.0.0.0", "--port", "9001", "--workers", "3", "--open", "--log-level", "debug"]
    )
    assert (args.host, args.port, args.workers, args.open, args.log_level) == (
        "0.0.0.0",
        9001,
        3,
        True,
        "debug",
    )


@pytest.mark.parametrize(
    "argv",
    [["--port", "http"], ["--port", "70000"], ["--workers", "0"], ["--log-level", "loud"]],
)
def test_parse_args_rejects(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.parse_args(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_main_calls_uvicorn_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append((a, k)))
    opened: list[str] = []
    monkeypatch.setattr(cli, "open_browser_later", lambda url, delay=1.5: opened.append(url))

    cli.main(["--port", "8123", "--log-level", "warning"])
    assert calls == [
        (
            ("app.main:app",),
            {
                "host": "127.0.0.1",
                "port": 8123,
                "workers": 1,
                "log_level": "warning",
                "timeout_graceful_shutdown": 5,
                "ws_ping_interval": 20.0,
                "ws_ping_timeout": 20.0,
                "ws_max_size": 8 * 2**20,
                "ws_per_message_deflate": False,
            },
        )
    ]
    assert opened == []

    cli.main(["--host", "0.0.0.0", "--open"])
    assert opened == ["http://127.0.0.1:8000/"]
    assert calls[-1][1]["host"] == "0.0.0.0"


def test_open_browser_later_uses_webbrowser(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    done = threading.Event()
    seen: list[str] = []

    def fake_open(url: str) -> bool:
        seen.append(url)
        done.set()
        return True

    monkeypatch.setattr(cli.webbrowser, "open", fake_open)
    timer = cli.open_browser_later("http://127.0.0.1:1/", delay=0.01)
    assert timer.daemon
    assert done.wait(5)
    assert seen == ["http://127.0.0.1:1/"]


def test_browser_url() -> None:
    assert cli.browser_url("127.0.0.1", 8000) == "http://127.0.0.1:8000/"
    assert cli.browser_url("0.0.0.0", 80) == "http://127.0.0.1:80/"
    assert cli.browser_url("::1", 8000) == "http://[::1]:8000/"


def test_cli_help_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "app", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "--open" in out.stdout and "--log-level" in out.stdout


def _hadolint() -> str | None:
    local = Path(sys.executable).parent / "hadolint"
    if local.exists():
        return str(local)
    venv = ROOT / ".venv" / "bin" / "hadolint"
    if venv.exists():
        return str(venv)
    return shutil.which("hadolint")


def test_dockerfile_passes_hadolint() -> None:
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not installed (pip install -r requirements-dev.txt)")
    out = subprocess.run(
        [exe, "--no-color", "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == ""


def test_dockerfile_essentials() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r"^USER (?!root\b|0\b)\S+", text, re.M), "must run as a non-root user"
    assert "HEALTHCHECK" in text and "/healthz" in text
    # serves through the installed command (it runs lstm_explainer.main:app with make run's
    # options); the image installs the wheel, not the source tree
    cmd = r'^CMD \["lstm-explainer", "serve", "--host", "0\.0\.0\.0", "--port", "8000"\]'
    assert re.search(cmd, text, re.M)
    assert re.search(r"^RUN pip install .*lstm_explainer-\*\.whl", text, re.M)
    assert "--no-cache-dir" in text
    assert "MALLOC_ARENA_MAX=2" in text


PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!_-]+$")


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_requirements_are_pinned(name: str) -> None:
    lines = (ROOT / name).read_text().splitlines()
    checked = 0
    for number, raw in enumerate(lines, 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            assert (ROOT / line[3:].strip()).is_file(), f"{name}:{number}: {raw!r}"
            continue
        assert PIN.match(line), f"{name}:{number}: not pinned with ==: {raw!r}"
        checked += 1
    assert checked > 0


def test_ci_script_is_executable_bash() -> None:
    script = ROOT / ".ci" / "run"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/bash")
    assert "set -euo pipefail" in text
    assert script.stat().st_mode & 0o111


def test_require_chromium_policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_top_conftest", ROOT / "tests" / "conftest.py")
    assert spec and spec.loader
    top = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(top)
    require_chromium = top.require_chromium

    missing = str(tmp_path / "no-chromium")
    monkeypatch.setenv("CHROMIUM", missing)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium not found"):
        require_chromium()
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_chromium()

    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CHROMIUM", str(fake))
    assert require_chromium() == str(fake)


def test_browser_marker_skips_or_fails_without_chromium(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    browser: needs chromium\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.browser
        def test_marked():
            pass

        def test_fixture(chromium_path):
            pass
        """
    )
    missing = str(pytester.path / "no-chromium")
    monkeypatch.setenv("CHROMIUM", missing)
    monkeypatch.delenv("CI", raising=False)
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(skipped=2)
    monkeypatch.setenv("CI", "1")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*CI is set and chromium not found*"])
