"""The package as users get it: the sdist and wheel `python -m build` makes (`dist`), and small
models and inputs for the command (`model_files`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from package_support import small_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"sdist", "wheel"}: `python -m build` of the clone, the wheel built from the sdist (as
    `python -m build` does by default, so the sdist is proven to hold what a wheel needs).
    --no-isolation: the pinned hatchling of requirements-dev.txt builds it (the same version
    pyproject.toml's build-system requires; test_metadata checks they agree) rather than one
    downloaded into a throwaway environment on every run."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=180,
    )
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return {"sdist": sdist, "wheel": wheel}


@pytest.fixture
def model_files(tmp_path: Path) -> dict[str, object]:
    """A model JSON file, a (T, D) sequence as .npy, and the model and sequence themselves."""
    model = small_model()
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model))
    seq = np.random.default_rng(3).normal(size=(9, 3))
    np.save(tmp_path / "seq.npy", seq)
    return {"model": model, "model_path": path, "seq": seq, "seq_path": tmp_path / "seq.npy"}
