"""The step page's ES modules as one classic script, for a view that must run with no server.

A notebook output, a file opened from disk and nbconvert's HTML all run inline classic scripts;
none of them can load `./cell.js`. So the view's modules (static/js/standalone.js and what it
imports) are joined here into one script, each module a function scope whose exports are the
names it returns, its imports the names it reads from the modules before it:

    import { fmt } from "./encodings.js";     ->  const { fmt } = __lx_encodings;
    import * as cellView from "./cell.js";    ->  const cellView = __lx_cell;
    export function build(...) {...}          ->  function build(...) {...}  (and returned)

Only the forms the project's modules use are accepted (named and namespace imports of "./x.js",
`export` before a function, class, const or let); anything else (a default export, an
`export {...}` list, a dynamic import) is refused with the file and line, never passed through.
The result has no import, no URL and no global: each view runs its own copy.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

IMPORT_RE = re.compile(
    r"^import\s+(?:\*\s+as\s+(?P<ns>[\w$]+)|\{(?P<names>[^}]*)\})\s+"
    r'from\s+"\./(?P<file>[\w.-]+\.js)";[ \t]*$',
    re.M,
)
EXPORT_RE = re.compile(
    r"^export\s+(?=(?:async\s+function|function|class|const|let)\b)"
    r"(?:async\s+function\*?|function\*?|class|const|let)\s+(?P<name>[\w$]+)",
    re.M,
)
LEFT_OVER_RE = re.compile(r"^\s*(?:import\b|export\b)|\bimport\s*\(", re.M)


class BundleError(ValueError):
    """A module uses a form of import or export the bundler does not translate."""


def static_root() -> Path:
    """The static/ folder: inside the package when installed, beside app/ in a clone."""
    here = Path(__file__).resolve().parent.parent  # app/ (lstm_explainer/ when installed)
    for root in (here / "static", here.parent / "static"):
        if (root / "js" / "standalone.js").is_file():
            return root
    raise FileNotFoundError(f"static/js/standalone.js is neither in {here} nor beside it")


def _var(file: str) -> str:
    return "__lx_" + re.sub(r"\W", "_", file.removesuffix(".js"))


def _module(js: Path, file: str) -> tuple[str, list[str]]:
    """One module as `const __lx_x = (() => { ... return {...}; })();` and the files it imports."""
    source = (js / file).read_text(encoding="utf-8")
    deps: list[str] = []

    def imported(m: re.Match[str]) -> str:
        deps.append(m["file"])
        if m["ns"]:
            return f"const {m['ns']} = {_var(m['file'])};"
        names = [n.strip() for n in m["names"].split(",") if n.strip()]
        parts = [n.replace(" as ", ": ") if " as " in n else n for n in names]
        return f"const {{ {', '.join(parts)} }} = {_var(m['file'])};"

    body = IMPORT_RE.sub(imported, source)
    exports = [m["name"] for m in EXPORT_RE.finditer(body)]
    body = re.sub(r"^export\s+", "", body, flags=re.M) if exports else body
    bad = LEFT_OVER_RE.search(body)
    if bad:
        line = body[: bad.start()].count("\n") + 1
        raise BundleError(
            f"static/js/{file} line {line}: an import or export the bundler cannot translate"
        )
    text = f"const {_var(file)} = (() => {{\n{body}\nreturn {{ {', '.join(exports)} }};\n}})();\n"
    return text, deps


def _stamp(js: Path) -> tuple[tuple[str, int], ...]:
    return tuple((p.name, p.stat().st_mtime_ns) for p in sorted(js.glob("*.js")))


def bundle(entry: str = "standalone.js") -> str:
    """The entry module and everything it imports, dependencies first, as one script body
    (a sequence of `const __lx_name = ...;` statements: wrap it in a function scope)."""
    js = static_root() / "js"
    return _bundle(str(js), entry, _stamp(js))


@lru_cache(maxsize=4)
def _bundle(js_dir: str, entry: str, _stamp: tuple) -> str:
    js = Path(js_dir)
    done: dict[str, str] = {}
    visiting: set[str] = set()

    def visit(file: str) -> None:
        if file in done:
            return
        if file in visiting:
            raise BundleError(f"static/js/{file}: an import cycle")
        visiting.add(file)
        text, deps = _module(js, file)
        for dep in deps:
            visit(dep)
        visiting.discard(file)
        done[file] = text

    visit(entry)
    return "".join(done.values())


def entry_var(entry: str = "standalone.js") -> str:
    return _var(entry)


def styles() -> str:
    """The view's CSS: the diagram's and the equations' (cell.css), then the view's own."""
    css = static_root() / "css"
    return "\n".join((css / name).read_text(encoding="utf-8") for name in ("cell.css", "view.css"))
