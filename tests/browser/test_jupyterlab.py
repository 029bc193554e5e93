"""A real JupyterLab (the `jupyterlab` package, one server for the module on a free port, token
off, its own temporary root, config, runtime, settings and workspace dirs, stopped after): a
notebook cell calling lx.show(...) renders the view, and it steps with the arrow keys without
JupyterLab taking them (its own shortcuts move between cells)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pagetools import artifact
from procs import die_with_parent, free_port, stop

pytest.importorskip("jupyterlab")
# alone: JupyterLab starts a server, a kernel and a page; beside another worker's browser tests on
# two cores it ran past its 60 s wait (13 s on its own)
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.alone]

ROOT = Path(__file__).resolve().parents[2]
CELL = """import app as lx
lx.show({"cell": "lstm", "hidden_size": 8, "init": {"seed": 1}}, "jupyter!")"""


def notebook(source: str) -> dict:
    return {
        "cells": [{"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
                   "execution_count": None}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("jupyterlab")
    home = base / "root"
    home.mkdir()
    (home / "view.ipynb").write_text(json.dumps(notebook(CELL)), encoding="utf-8")
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "IPYTHONDIR": str(base / "ipython"),
        "PYTHONPATH": str(ROOT),  # the kernel imports the clone's `app`
    }
    port = free_port()
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
        "--ServerApp.password=", f"--ServerApp.root_dir={home}", "--ServerApp.log_level=WARN",
        "--allow-root", "--ServerApp.terminals_enabled=False",
        "--LabApp.extension_manager=readonly",  # no look-ups in a package index
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, cwd=base, preexec_fn=die_with_parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("JupyterLab did not start")
                time.sleep(0.2)
        yield url
    finally:
        stop(proc)


def test_a_cell_calling_show_renders_the_view_and_it_steps(lab, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{lab}/lab/tree/view.ipynb")
        # the notebook's kernel is up (the status bar says Idle, as JupyterLab's own galata tests
        # wait for it)
        page.locator("#jp-main-statusbar").get_by_text("Idle").first.wait_for()
        editor = page.locator(".jp-Notebook .jp-Cell .cm-content").first
        prompt = page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first
        for _ in range(3):  # JupyterLab drops a run while its kernel connection is still being
            editor.click()  # made: "[ ]" stays and nothing is sent (seen on a busy machine)
            page.keyboard.press("Shift+Enter")
            try:
                page.wait_for_function(
                    "el => /\\[(\\*|\\d+)\\]/.test(el.textContent)",
                    arg=prompt.element_handle(),
                    timeout=15_000,
                )
                break
            except Exception:
                continue
        view = page.locator(".jp-OutputArea-output .lstmx-view")
        diagram = view.locator(".diagram")
        try:
            diagram.wait_for()
        except Exception:
            page.screenshot(path=artifact("jupyterlab-failed.png"))
            with urllib.request.urlopen(f"{lab}/api/sessions", timeout=5) as r:
                sessions = r.read().decode()
            raise AssertionError(f"no view; sessions: {sessions}") from None
        assert diagram.get_attribute("data-t") == "0"
        assert "input “j”" in view.locator(".lx-input-now").inner_text()
        view.locator(".lx-title").click()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        assert diagram.get_attribute("data-t") == "2"
        assert "input “p”" in view.locator(".lx-input-now").inner_text()
        page.keyboard.press("End")
        assert diagram.get_attribute("data-t") == "7"
        # JupyterLab's command-mode keys (j, Down: the next cell) stay out of the view
        active = page.locator(".jp-Notebook .jp-Cell.jp-mod-active")
        before = active.evaluate("c => [...c.parentNode.children].indexOf(c)")
        page.keyboard.press("j")
        page.keyboard.press("ArrowDown")
        assert active.evaluate("c => [...c.parentNode.children].indexOf(c)") == before
        page.keyboard.press("Home")
        page.keyboard.press(" ")  # plays
        assert view.locator(".lx-play").inner_text() == "❚❚ Pause"
        page.screenshot(path=artifact("jupyterlab-view.png"))
        assert errors == []
    finally:
        context.close()
