"""Where the package's data directories are, in a clone and installed alike.

In a clone, static/ and templates/ sit beside app/ (app/../static); in the wheel they sit inside
the package (lstm_explainer/static, see pyproject.toml). Every path to them is built here.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent  # app/ in a clone, lstm_explainer/ installed


def data_dir(name: str) -> Path:
    """The directory `name` (static, templates): inside the package when installed, else the
    clone's, beside the package."""
    inside = PACKAGE / name
    if inside.is_dir():
        return inside
    beside = PACKAGE.parent / name
    if beside.is_dir():
        return beside
    raise FileNotFoundError(f"{name}/ is neither at {inside} (installed) nor at {beside} (clone)")


STATIC = data_dir("static")
TEMPLATES = data_dir("templates")
