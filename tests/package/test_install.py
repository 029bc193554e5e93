"""`pip install <clone>` (not editable) into a fresh venv, then the package as a user has it:
the command, the server with its pages and assets, the trace, and no top-level `app`.

Speed (CI): a venv that downloads and unpacks every dependency (plotly, numpy, h5py, uvicorn
[standard], ...) takes minutes on two busy cores. So the fresh venv is made without pip and
sees the shared venv's site-packages through a .pth file (the dependencies, pip and hatchling,
at the versions requirements*.txt pin); `pip install --no-index --no-build-isolation <clone>`
then builds the wheel from the clone with hatchling and installs it, and only it, into the
fresh venv's own site-packages (pip finds every dependency already satisfied; --no-index
makes a dependency the shared venv lacks a failure instead of a download). What this proves
is what matters here: the installed package is the built wheel, copied into the fresh venv
(asserted: lstm_explainer's file lies there, nothing of the clone is on sys.path, `import app`
fails), serving its own static files and templates. The dependency metadata itself is checked
against requirements.txt by test_wheel.py. 15-35 s on two busy cores.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from package_support import assert_json_is_trace, assert_npz_is_trace
from procs import die_with_parent, free_port, stop, wait_healthy

import app
from app.engine import trace as engine_trace

# The module fixture builds the wheel and a venv: up to minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
ROOT = Path(__file__).resolve().parents[2]


class Venv:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.bin = path / "bin"
        self.python = str(self.bin / "python")
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        self.env["PATH"] = f"{self.bin}{os.pathsep}{self.env.get('PATH', '')}"
        self.env["VIRTUAL_ENV"] = str(path)
        self.cwd = path.parent  # never the clone: nothing of it may be importable

    def run(self, *argv: str, check: bool = True, timeout: float = 120) -> Any:
        return subprocess.run(list(argv), cwd=self.cwd, env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=check)  # fmt: skip


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    v = Venv(tmp_path_factory.mktemp("fresh") / "venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(v.path)], check=True,
                   timeout=60)  # fmt: skip
    site = Path(v.run(v.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
                .stdout.strip())  # fmt: skip
    assert site.is_relative_to(v.path)
    (site / "_shared_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    out = v.run(v.python, "-m", "pip", "install", "--no-index", "--no-build-isolation",
                "--no-cache-dir", str(ROOT), check=False, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Successfully installed lstm-explainer" in out.stdout
    return v


def test_installed_package_is_the_wheel_not_the_clone(venv: Venv) -> None:
    code = "import json, sys, lstm_explainer as lx; print(json.dumps([lx.__file__, sys.path, " \
           "sorted(sys.modules)]))"  # fmt: skip
    file, path, modules = json.loads(venv.run(venv.python, "-c", code).stdout)
    assert Path(file).is_relative_to(venv.path), file
    # the shared dependencies (the .pth) may live in the clone's .venv; nothing else of it may
    shared = Path(sys.prefix).resolve()
    clone = [p for p in path if p and Path(p).resolve().is_relative_to(ROOT)]
    assert all(Path(p).resolve().is_relative_to(shared) for p in clone), path
    assert not {"numpy", "fastapi", "uvicorn"} & set(modules)  # import lstm_explainer is light
    files = "import importlib.metadata as m; print(*m.files('lstm-explainer'), sep='\\n')"
    record = venv.run(venv.python, "-c", files).stdout
    tops = {line.split("/")[0] for line in record.splitlines() if not line.startswith("..")}
    assert tops == {"lstm_explainer", f"lstm_explainer-{app.__version__}.dist-info"}, tops
    assert "../../../bin/lstm-explainer" in record.splitlines()  # the command
    for name in ("app", "bench", "tests"):
        out = venv.run(venv.python, "-c", f"import {name}", check=False)
        assert out.returncode == 1 and f"No module named '{name}'" in out.stderr, name


def test_command_help(venv: Venv) -> None:
    out = venv.run(str(venv.bin / "lstm-explainer"), "--help").stdout
    assert out.startswith("usage: lstm-explainer ")
    assert all(f"    {c} " in out for c in ("serve", "trace", "html")), out
    out = venv.run(venv.python, "-m", "lstm_explainer", "trace", "--help").stdout
    assert out.startswith("usage: python -m lstm_explainer trace ") and "MODEL INPUT" in out


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.read()


IMPORT = re.compile(rb"""(?:\bfrom|\bimport)\s*\(?\s*["'](\.{1,2}/[^"']+)["']""")
ASSET = re.compile(r"""(?:src|href)="(/(?:static|vendor)/[^"?]+)(?:\?[^"]*)?\"""")


def test_serve_answers_healthz_and_the_step_page_with_its_assets(venv: Venv) -> None:
    port = free_port()
    cmd = [str(venv.bin / "lstm-explainer"), "serve", "--port", str(port), "--log-level",
           "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=venv.cwd, env=venv.env, preexec_fn=die_with_parent)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, timeout=60)
        status, page = get(f"{url}/")
        assert status == 200 and b"<html" in page
        assets = set(ASSET.findall(page.decode()))
        assert "/static/js/main.js" in assets and any("plotly" in a for a in assets), assets
        todo, seen = sorted(assets), set()
        while todo:  # every asset of the page, and every module its scripts import
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            status, body = get(url + path)
            assert status == 200 and body, path
            if path.endswith(".js") and path.startswith("/static/"):
                base = path.rsplit("/", 1)[0]
                for rel in IMPORT.findall(body):
                    todo.append(os.path.normpath(f"{base}/{rel.decode()}"))
        assert len([p for p in seen if p.startswith("/static/js/")]) >= 10, seen
        _, plotly = get(f"{url}/vendor/plotly.min.js")
        assert len(plotly) > 1_000_000  # the whole library, from the installed plotly
    finally:
        stop(proc)


def test_trace_writes_the_engines_numbers(venv: Venv, model_files: dict[str, Any]) -> None:
    m, seq = model_files["model"], model_files["seq"]
    out = venv.cwd / "run"
    args = [str(model_files["model_path"]), str(model_files["seq_path"])]
    venv.run(str(venv.bin / "lstm-explainer"), "trace", *args, "-o", f"{out}.json")
    assert_json_is_trace(json.loads(Path(f"{out}.json").read_text()), engine_trace(m, seq))
    venv.run(str(venv.bin / "lstm-explainer"), "trace", *args, "--dtype", "float32",
             "-o", f"{out}.npz")  # fmt: skip
    with np.load(f"{out}.npz") as npz:
        assert_npz_is_trace(npz, engine_trace(m, seq, dtype="float32"), "float32")


def test_html_from_the_installed_package(venv: Venv, model_files: dict[str, Any]) -> None:
    """The standalone view reads the installed package's static files (lstm_explainer/static);
    until app/standalone exists, the command says so."""
    out = venv.cwd / "run.html"
    args = [str(model_files["model_path"]), str(model_files["seq_path"]), "-o", str(out)]
    res = venv.run(str(venv.bin / "lstm-explainer"), "html", *args, check=False)
    view = venv.run(venv.python, "-c", "import lstm_explainer.standalone", check=False)
    if view.returncode == 0:
        assert res.returncode == 0, res.stderr
        html = out.read_text()
        assert html.lstrip()[:20].lower().startswith("<!doctype html") and len(html) > 10_000
    else:
        assert res.returncode == 1 and "no standalone HTML view yet" in res.stderr
