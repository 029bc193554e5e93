"""The layers of app/, read from the source (ast), never imported.

- No import circle among app/ modules, counting imports inside functions (they still make a
  circle: the code works only in the order it happens to run). Imports under
  `if TYPE_CHECKING:` are left out: they never run.
- The engine imports nothing of the web: no app module outside app.engine (the service, the
  classes, lessons, command line, notebook, settings) and no web library; engine/cells does
  not import engine/formats (formats may use cells, not the reverse).
- Every file can be read in one sitting: no .py in app/ and no .js in static/js/ over 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
JS = ROOT / "static" / "js"
MAX_LINES = 400
WEB_LIBRARIES = {"fastapi", "starlette", "uvicorn", "websockets", "redis", "jinja2", "httpx",
                 "pydantic", "pydantic_settings", "multipart", "python_multipart"}  # fmt: skip


def module_name(path: Path, root: Path = APP) -> str:
    """app/engine/cells/lstm.py -> app.engine.cells.lstm; a package's __init__ -> the package."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(source: str, module: str, is_package: bool) -> list[tuple[str, list[str], int]]:
    """Every import of a module as (dotted name, names taken from it, line), relative names
    made absolute, from anywhere in the file: top level, functions, try blocks; not
    `if TYPE_CHECKING:`. `import a.b` gives ("a.b", [], line)."""
    package = module if is_package else module.rpartition(".")[0]
    out: list[tuple[str, list[str], int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            out.append((base, [alias.name for alias in node.names], node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return out


def _sources(root: Path) -> dict[str, tuple[Path, list[tuple[str, list[str], int]]]]:
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    return {
        name: (path, imported_names(path.read_text(), name, path.name == "__init__.py"))
        for name, path in files.items()
    }


def import_graph(root: Path = APP) -> dict[str, dict[str, int]]:
    """module -> {app module it imports: first line}, for every .py under `root`.
    `from X import y` is an edge to X.y when that is a module, else to X (y is an attribute
    of X); the parent packages Python also runs are not edges (they import their children)."""
    sources = _sources(root)
    graph: dict[str, dict[str, int]] = {}
    for name, (_, imports) in sources.items():
        edges: dict[str, int] = {}
        for base, taken, line in imports:
            targets = [f"{base}.{y}" for y in taken if f"{base}.{y}" in sources]
            if len(targets) < len(taken) or not taken:
                targets.append(base)
            for target in targets:
                if target in sources and target != name:
                    edges.setdefault(target, line)
        graph[name] = edges
    return graph


def external_imports(root: Path = APP) -> dict[str, set[str]]:
    """module -> every dotted name it imports (X and X.y for `from X import y`)."""
    return {
        name: {n for base, taken, _ in imports for n in [base, *(f"{base}.{y}" for y in taken)]}
        for name, (_, imports) in _sources(root).items()
    }


def circles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), members sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(components)


def _closed_path(graph: dict[str, dict[str, int]], comp: list[str]) -> list[str]:
    """A shortest path from the component's first member back to itself (breadth first)."""
    start, members = comp[0], set(comp)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                return paths[v] + [start]
            if w in members and w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return comp  # not reached: a component of two or more always closes


def describe(graph: dict[str, dict[str, int]], comp: list[str]) -> str:
    """The members of a circle, then one closed path through them with the importing lines."""
    path = _closed_path(graph, comp)
    steps = " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(path, path[1:], strict=False))
    return f"{', '.join(comp)}: {steps} -> {path[-1]}"


def long_files(app: Path = APP, js: Path = JS, root: Path = ROOT) -> list[str]:
    files = sorted(app.rglob("*.py")) + sorted(js.rglob("*.js"))
    counts = ((p, len(p.read_text().splitlines())) for p in files)
    return [f"{p.relative_to(root)}: {n} lines" for p, n in counts if n > MAX_LINES]


def web_imports_of_the_engine(found: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, names in sorted(found.items()):
        if not module.startswith("app.engine"):
            continue
        for name in sorted(names):
            top = name.split(".")[0]
            outside = top == "app" and not (name == "app.engine" or name.startswith("app.engine."))
            if top in WEB_LIBRARIES or outside:
                bad.append(f"{module} imports {name}")
            if module.startswith("app.engine.cells") and name.startswith("app.engine.formats"):
                bad.append(f"{module} imports {name} (cells must not use formats)")
    return bad


# ---- the checks on app/ and static/js/ -------------------------------------------------------


def test_no_import_circle_in_app():
    graph = import_graph()
    assert len(graph) > 30
    found = circles(graph)
    assert found == [], "import circles in app/:\n" + "\n".join(describe(graph, c) for c in found)


def test_the_engine_imports_nothing_of_the_web():
    found = external_imports()
    assert any(m.startswith("app.engine.cells") for m in found)
    bad = web_imports_of_the_engine(found)
    assert bad == [], "\n".join(bad)


def test_every_file_reads_in_one_sitting():
    found = long_files()
    assert found == [], f"files over {MAX_LINES} lines:\n" + "\n".join(found)


# ---- the checks check: each catches what it is for --------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "app"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_circle_through_an_import_inside_a_function_is_found(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "",
        "api/__init__.py": "",
        "api/runs.py": "from .textinput import parse\n",
        "api/textinput.py": "def parse():\n    from . import runs\n    return runs\n",
        "api/other.py": "from .runs import x\n",
    })  # fmt: skip
    graph = import_graph(root)
    assert graph["app.api.runs"] == {"app.api.textinput": 1}
    assert graph["app.api.textinput"] == {"app.api.runs": 2}
    found = circles(graph)
    assert found == [["app.api.runs", "app.api.textinput"]]
    assert describe(graph, found[0]) == (
        "app.api.runs, app.api.textinput: "
        "app.api.runs (line 1) -> app.api.textinput (line 2) -> app.api.runs"
    )


def test_relative_imports_resolve_across_packages_and_type_checking_is_left_out(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "",
        "engine/__init__.py": "from .cells import lstm\n",
        "engine/cells/__init__.py": "",
        "engine/cells/lstm.py": "import numpy as np\n",
        "engine/formats/__init__.py": "",
        "engine/formats/weights.py": (
            "from typing import TYPE_CHECKING\nfrom ..cells.lstm import step\n"
            "if TYPE_CHECKING:\n    from ...api import schemas\n"
        ),
        "api/__init__.py": "",
        "api/schemas.py": "from app.engine.formats import weights\n",
    })  # fmt: skip
    graph = import_graph(root)
    assert graph["app.engine"] == {"app.engine.cells.lstm": 1}
    assert graph["app.engine.formats.weights"] == {"app.engine.cells.lstm": 2}
    assert graph["app.api.schemas"] == {"app.engine.formats.weights": 1}
    assert circles(graph) == []


def test_the_engine_rule_names_web_and_service_imports(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "",
        "engine/__init__.py": "",
        "engine/cells/__init__.py": "",
        "engine/cells/lstm.py": "def f():\n    from ..formats import weights\n",
        "engine/runner.py": "import fastapi\nfrom ..classes import hub\nimport numpy\n",
        "engine/formats/__init__.py": "from ..cells import lstm\n",
        "api/routes.py": "import fastapi\nfrom ..engine import runner\n",
    })  # fmt: skip
    bad = web_imports_of_the_engine(external_imports(root))
    assert bad == [
        "app.engine.cells.lstm imports app.engine.formats (cells must not use formats)",
        "app.engine.cells.lstm imports app.engine.formats.weights (cells must not use formats)",
        "app.engine.runner imports app.classes",
        "app.engine.runner imports app.classes.hub",
        "app.engine.runner imports fastapi",
    ]


def test_the_length_rule_names_each_file_over_400_lines(tmp_path):
    _tree(tmp_path, {"engine/long.py": "x = 1\n" * 401, "engine/short.py": "x = 1\n" * 400})
    js = tmp_path / "static" / "js"
    js.mkdir(parents=True)
    (js / "long.js").write_text("let x;\n" * 450)
    (js / "fine.js").write_text("let x;\n" * 12)
    assert long_files(tmp_path / "app", js, tmp_path) == [
        "app/engine/long.py: 401 lines",
        "static/js/long.js: 450 lines",
    ]


def test_the_engine_is_subpackages_by_subject_with_a_small_top():
    engine = ROOT / "app" / "engine"
    top = sorted(p.name for p in engine.glob("*.py"))
    subpackages = {p.name for p in engine.iterdir() if (p / "__init__.py").is_file()}
    assert len(top) <= 8, top
    assert {"cells", "formats", "training", "analysis", "reference"} <= subpackages
    for name in subpackages:  # each package's face says what it holds
        doc = (engine / name / "__init__.py").read_text()
        assert doc.lstrip().startswith('"""'), name
