"""docs/notebook.ipynb runs top to bottom under nbclient; nbconvert turns it into HTML; that
HTML, opened from disk in Chromium with every non-file request aborted, shows the views and
they step with the arrow keys, with zero console errors. So does the run.html it saves.

The notebook runs in a copy of the clone's layout (docs/ beside links to app/, static/ and
tests/), so it writes nothing into the repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from pagetools import artifact, offline

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
nbconvert = pytest.importorskip("nbconvert")

ROOT = Path(__file__).resolve().parents[2]
# nbconvert's HTML loads require.js and MathJax from a CDN by default (its template, not the
# view); for a file that asks nothing of the network, point both at empty scripts
OFFLINE = {"require_js_url": "data:text/javascript,", "mathjax_url": "data:text/javascript,"}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    clone = tmp_path_factory.mktemp("clone")
    for part in ("app", "static", "tests"):
        (clone / part).symlink_to(ROOT / part)
    (clone / "docs").mkdir()
    nb = nbformat.read(ROOT / "docs" / "notebook.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(clone / "docs")}},
    )
    client.execute()
    return nb, clone / "docs"


def test_the_notebook_runs_top_to_bottom(executed):
    nb, docs = executed
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    views = [o for o in outputs if "lstmx-view" in o.get("data", {}).get("text/html", "")]
    assert len(views) >= 3  # the fresh LSTM, the model from a file, the gradient lab
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "This view holds steps 0–" in text  # the long run's note
    assert (docs / "run.html").stat().st_size > 10_000


@pytest.mark.browser
def test_nbconverts_html_steps_from_disk_offline(executed, make_page, tmp_path):
    nb, _ = executed
    exporter = nbconvert.HTMLExporter(**OFFLINE)
    body, _ = exporter.from_notebook_node(nb)
    path = tmp_path / "notebook.html"
    path.write_text(body, encoding="utf-8")
    page = make_page(1200, 900)
    asked = offline(page)
    page.goto(path.as_uri())
    views = page.locator(".lstmx-view")
    assert views.count() >= 3
    diagrams = page.locator(".lstmx-view .diagram")
    assert diagrams.count() >= 2
    second = views.nth(1)
    second.locator(".lx-title").click()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert diagrams.nth(1).get_attribute("data-t") == "3"
    assert diagrams.nth(0).get_attribute("data-t") == "0"  # the other view stays where it was
    views.nth(0).locator(".lx-title").click()
    page.keyboard.press("End")
    assert diagrams.nth(0).get_attribute("data-t") == "14"  # "hello, notebook": 15 steps
    second.screenshot(path=artifact("notebook-nbconvert.png"))
    assert asked == []


@pytest.mark.browser
def test_the_notebooks_saved_run_steps_from_disk(executed, make_page):
    _, docs = executed
    page = make_page(1100, 800)
    asked = offline(page)
    page.goto((docs / "run.html").as_uri())
    diagram = page.locator(".lstmx-view .diagram")
    page.locator(".lstmx-view .lx-title").click()
    page.keyboard.press("ArrowRight")
    assert diagram.get_attribute("data-t") == "1"
    page.locator(".lstmx-view select[id$=-layer]").select_option("1")  # two stacked LSTMs
    assert diagram.get_attribute("data-layer") == "1"
    assert asked == []
