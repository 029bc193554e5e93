"""Guided lessons: data files in a plain-text format (docs/lessons.md), parsed and checked
here; the pages play them and evaluate their numbers on the live run."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from .parse import LessonError, parse_lesson

DATA = Path(__file__).parent / "data"

__all__ = ["DATA", "LessonError", "all_lessons", "parse_lesson"]


@lru_cache(maxsize=1)
def all_lessons() -> tuple[dict[str, Any], ...]:
    """The repository's lessons, in file-name order (01-..., 02-...)."""
    out = []
    for path in sorted(DATA.glob("*.txt")):
        try:
            out.append(parse_lesson(path.read_text(encoding="utf-8")))
        except LessonError as exc:
            raise LessonError(exc.line, f"{path.name}: {exc.message}") from None
    return tuple(out)
