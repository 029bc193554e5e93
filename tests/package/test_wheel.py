"""What `python -m build` makes: a wheel named lstm-explainer whose only top-level package is
lstm_explainer (app/ renamed) with static/ and templates/ inside it, and an sdist that holds
the clone's layout; the metadata agrees with pyproject.toml and requirements*.txt."""

from __future__ import annotations

import re
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import app

ROOT = Path(__file__).resolve().parents[2]
SKIP = re.compile(r"(^|/)__pycache__/|\.pyc$")


def tree(top: str) -> set[str]:
    """The files under the clone's `top`/, relative to the clone, caches left out."""
    base = ROOT / top
    names = {p.relative_to(ROOT).as_posix() for p in base.rglob("*") if p.is_file()}
    return {n for n in names if not SKIP.search(n)}


def test_wheel_holds_the_package_static_files_and_templates(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as whl:
        names = set(whl.namelist())
    info = f"lstm_explainer-{app.__version__}.dist-info"
    assert dist["wheel"].name == f"lstm_explainer-{app.__version__}-py3-none-any.whl"
    assert {n.split("/")[0] for n in names} == {"lstm_explainer", info}
    expected = {"lstm_explainer/" + n.removeprefix("app/") for n in tree("app")}
    expected |= {"lstm_explainer/" + n for n in tree("static") | tree("templates")}
    assert expected <= names, sorted(expected - names)[:10]
    assert names - expected == {f"{info}/{f}" for f in ("METADATA", "WHEEL", "RECORD",
                                                        "entry_points.txt")}  # fmt: skip
    # the pieces the app cannot run without, named, so an empty directory cannot pass
    for must in ("static/js/main.js", "static/css/app.css", "templates/index.html",
                 "lessons/data", "__main__.py", "cli/__init__.py", "paths.py"):  # fmt: skip
        assert any(n.startswith(f"lstm_explainer/{must}") for n in names), must
    assert not any(SKIP.search(n) for n in names)


def wheel_metadata(wheel: Path) -> tuple[Any, str]:
    with zipfile.ZipFile(wheel) as whl:
        info = f"lstm_explainer-{app.__version__}.dist-info"
        meta = Parser().parsestr(whl.read(f"{info}/METADATA").decode())
        return meta, whl.read(f"{info}/entry_points.txt").decode()


def test_wheel_metadata_and_command(dist: dict[str, Path]) -> None:
    meta, entry_points = wheel_metadata(dist["wheel"])
    assert meta["Name"] == "lstm-explainer" and meta["Version"] == app.__version__
    assert meta["Requires-Python"] == ">=3.11"
    assert re.search(r"^\[console_scripts\]\nlstm-explainer = lstm_explainer\.cli:main$",
                     entry_points, re.M)  # fmt: skip


def test_dependencies_are_requirements_txt_as_ranges(dist: dict[str, Path]) -> None:
    """The wheel requires exactly requirements.txt's packages (with their extras), each from
    the pinned version (what the tests run against) up to, not including, its next major."""
    meta, _ = wheel_metadata(dist["wheel"])
    requires = {
        canonicalize_name(r.name): r for r in map(Requirement, meta.get_all("Requires-Dist"))
    }
    pinned = pins("requirements.txt")
    assert set(requires) == set(pinned)
    for name, (version, extras) in pinned.items():
        spec = requires[name].specifier
        assert requires[name].extras == extras, name
        below = f"{version}.dev0"  # just below the pin
        assert spec.contains(version) and not spec.contains(below, prereleases=True), name
        major = Version(version).major
        if major >= 1:
            assert spec.contains(f"{major}.999") and not spec.contains(f"{major + 1}.0"), name


def test_sdist_holds_the_clones_layout(dist: dict[str, Path]) -> None:
    with tarfile.open(dist["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    expected = tree("app") | tree("static") | tree("templates")
    expected |= {
        "pyproject.toml",
        "hatch_build.py",
        "README.md",
        "requirements.txt",
        "docs/packaging.md",
    }
    assert expected <= names, sorted(expected - names)[:10]
    assert not any(n.startswith(("tests/", "bench/", ".venv/")) for n in names)


def pins(name: str) -> dict[str, tuple[str, set[str]]]:
    """{canonical name: (pinned version, extras)} of a requirements file (not its -r lines)."""
    out = {}
    for raw in (ROOT / name).read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-r")):
            req = Requirement(line)
            (spec,) = req.specifier
            out[canonicalize_name(req.name)] = (spec.version, req.extras)
    return out


def test_build_backend_is_the_pinned_hatchling() -> None:
    system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    (requirement,) = system["requires"]
    dev = pins("requirements-dev.txt")
    assert requirement == f"hatchling=={dev['hatchling'][0]}"
    assert "build" in dev
