"""Source lint for CI: the app never unpickles freely and never evaluates strings.

A weight file that runs code when it is opened is the classic attack on a model viewer
(pickle, torch.load); eval/exec turn any injection into code execution. Scans app/ as text
and as a syntax tree (imports and calls), so comments and docstrings that name these are fine.
One module may import pickle: the restricted unpickler of .pt state_dicts, which subclasses
pickle.Unpickler with find_class and persistent_load over allow-lists (never pickle.load).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"
BANNED_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve",
                  "marshal", "torch"}  # fmt: skip
BANNED_CALLS = {"eval", "exec", "compile", "__import__"}
RESTRICTED_UNPICKLER = APP / "engine" / "formats" / "ptunpickle.py"
BANNED_ATTRS = {("torch", "load"), ("pickle", "load"), ("pickle", "loads"), ("np", "load"),
                ("numpy", "load")}  # fmt: skip


def findings(source: str, name: str = "<src>", allowed: frozenset = frozenset()) -> list[str]:
    """Every banned import, call and allow_pickle=True in one module's source (modules in
    `allowed` may be imported, never called through load/loads)."""
    tree = ast.parse(source, name)
    found = []
    for node in ast.walk(tree):
        where = f"{name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in BANNED_MODULES - allowed:
                    found.append(f"{where}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in BANNED_MODULES - allowed:
                found.append(f"{where}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in BANNED_CALLS:
                found.append(f"{where}: {func.id}(...)")
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                pair = (func.value.id, func.attr)
                if pair in BANNED_ATTRS and not _pickle_off(node):
                    found.append(f"{where}: {pair[0]}.{pair[1]}(...)")
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (
                    isinstance(kw.value, ast.Constant) and kw.value.value is False
                ):
                    found.append(f"{where}: allow_pickle={ast.unparse(kw.value)}")
    # belt and braces: the plain text, for anything the tree walk would not see
    for n, line in enumerate(source.splitlines(), 1):
        code = line.split("#", 1)[0]
        if re.search(r"allow_pickle\s*=\s*True|torch\.load\s*\(", code):
            found.append(f"{name}:{n}: {line.strip()}")
    return sorted(set(found))


def _pickle_off(call: ast.Call) -> bool:
    """np.load(..., allow_pickle=False) is the one safe load."""
    return any(
        kw.arg == "allow_pickle" and isinstance(kw.value, ast.Constant) and kw.value.value is False
        for kw in call.keywords
    )


def test_app_never_unpickles_or_evaluates():
    sources = sorted(APP.rglob("*.py"))
    assert len(sources) > 10
    problems = [
        f
        for path in sources
        for f in findings(
            path.read_text(),
            str(path),
            frozenset({"pickle"}) if path == RESTRICTED_UNPICKLER else frozenset(),
        )
    ]
    assert problems == []


def test_the_one_unpickler_overrides_find_class_and_persistent_load():
    tree = ast.parse(RESTRICTED_UNPICKLER.read_text())
    classes = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(ast.unparse(base) == "pickle.Unpickler" for base in node.bases)
    ]
    assert len(classes) == 1
    methods = {n.name for n in classes[0].body if isinstance(n, ast.FunctionDef)}
    assert {"find_class", "persistent_load"} <= methods
    assert findings("import pickle")  # elsewhere it is still banned
    assert findings("import pickle\npickle.loads(b)", allowed=frozenset({"pickle"}))


@pytest.mark.parametrize(
    "source",
    [
        "import pickle",
        "import torch\nm = torch.load('m.pt')",
        "from pickle import loads",
        "import numpy as np\nnp.load(f, allow_pickle=True)",
        "import numpy as np\nnp.load(f)",
        "x = eval('1 + 1')",
        "exec(code)",
        "import cloudpickle",
        "z = np.load(f, allow_pickle=flag)",
    ],
)
def test_the_lint_catches_each_banned_use(source):
    assert findings(source)


@pytest.mark.parametrize(
    "source",
    [
        "np.load(f, allow_pickle=False)",
        "# never import pickle or call torch.load\nx = 1",
        '"""Pickle files (.pt) are refused; torch.load is never called."""',
        "model.eval_every = 3",
    ],
)
def test_the_lint_allows_safe_code_and_prose(source):
    assert findings(source) == []
