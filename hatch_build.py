"""Build-time metadata of lstm-explainer: the dependencies come from requirements.txt.

requirements.txt pins the exact versions the app, Docker and CI run (the lock). The package
declares each as a range from that tested version up to the next major release (`numpy==2.4.6`
-> `numpy>=2.4.6,<3`; a 0.x package only `>=`), so installing it into a notebook's environment
does not force exact versions on torch's or Jupyter's neighbours. One list, so the two cannot
drift apart (docs/packaging.md).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hatchling.metadata.plugin.interface import MetadataHookInterface

PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?)==(?P<version>\S+)$")


def declared(line: str) -> str | None:
    """`name[extras]==X.Y.Z` -> `name[extras]>=X.Y.Z,<X+1` (or `>=0.Y.Z` for a 0.x version);
    None for a blank or comment line. Anything else in requirements.txt is an error."""
    line = line.split(" #", 1)[0].strip()
    if not line or line.startswith("#"):
        return None
    m = PIN.match(line)
    if m is None:
        raise ValueError(f"requirements.txt: {line!r} is not pinned as name==version")
    version = m["version"]
    major = int(re.match(r"\d+", version)[0])  # type: ignore[index]
    upper = f",<{major + 1}" if major >= 1 else ""
    return f"{m['name']}>={version}{upper}"


class CustomMetadataHook(MetadataHookInterface):
    def update(self, metadata: dict[str, Any]) -> None:
        lines = (Path(self.root) / "requirements.txt").read_text(encoding="utf-8").splitlines()
        metadata["dependencies"] = [d for d in map(declared, lines) if d is not None]
