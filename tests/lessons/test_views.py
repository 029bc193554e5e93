"""The lesson parser's copy of the pages' URL tables matches the front end's own tables
(static/js/state.js, compare-state.js, and train.js' FIELDS), so a view that parses here is
a view the page takes as it is."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from app.lessons import views

ROOT = Path(__file__).resolve().parents[2]
DUMP = """
const state = await import('./static/js/state.js');
const lab = await import('./static/js/compare-state.js');
const table = (p) => Object.fromEntries(Object.entries(p).map(([k, [d, kind]]) => [k, [d, kind]]));
console.log(JSON.stringify({step: table(state.PROPERTIES), compare: table(lab.PROPERTIES)}));
"""


def _as_js(kind: views.Kind) -> dict:
    if kind.type in ("int", "float"):
        return {"type": kind.type, "min": kind.lo, "max": kind.hi}
    if kind.type == "enum":
        return {"type": "enum", "choices": list(kind.choices)}
    if kind.type == "string":
        return {"type": "string", "max": kind.hi}
    return {"type": kind.type}


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_step_and_lab_tables_match_the_front_end():
    out = subprocess.run(["node", "--input-type=module", "-e", DUMP], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60)  # fmt: skip
    js = json.loads(out.stdout)
    for page in ("step", "compare"):
        ours = {k: [d, _as_js(kind)] for k, (d, kind) in views.PAGES[page].items()}
        assert ours == js[page], page


def test_train_table_matches_train_js_fields():
    src = (ROOT / "static/js/train.js").read_text()
    block = src[src.index("const FIELDS = {") : src.index("};", src.index("const FIELDS = {"))]
    keys = re.findall(r"^\s+(\w+): \[", block, flags=re.M)
    assert keys == list(views.PAGES["train"])
    for key, (default, _) in views.PAGES["train"].items():
        line = next(line for line in block.splitlines() if line.strip().startswith(f"{key}:"))
        assert re.search(rf"\[{re.escape(json.dumps(default))},", line.replace("'", '"')), line
