"""The gallery models through the API, as a client (the page, a notebook) would run them."""

from __future__ import annotations

from typing import Any

import numpy as np

FRESH = 0x7E57  # fresh held-out inputs: default_rng((FRESH, k)), a stream no training saw


def model(client, slug: str) -> dict[str, Any]:
    r = client.get(f"/api/gallery/{slug}")
    assert r.status_code == 200, r.text
    return r.json()


def trace(client, m: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/trace", json={"model": m, "input": inp})
    assert r.status_code == 200, r.text
    return r.json()


def search(client, m: dict[str, Any], inp: dict[str, Any], spec: dict[str, Any]) -> list[dict]:
    """The ranked units of POST /api/units/search for the card's search spec."""
    body = {"model": m, "input": inp, "field": spec["field"], "target": spec["target"],
            "top": 100}  # fmt: skip
    r = client.post("/api/units/search", json=body)
    assert r.status_code == 200, r.text
    return r.json()["units"]


def rank_of(rows: list[dict], layer: int, unit: int) -> tuple[int, dict]:
    k = next(k for k, row in enumerate(rows) if (row["layer"], row["unit"]) == (layer, unit))
    return k + 1, rows[k]


def series(tr: dict[str, Any], field: str, unit: int, layer: int = 0) -> np.ndarray:
    entry = tr["layers"][layer]
    rows = entry[field] if field in ("c", "h") else entry["gates"][field]
    return np.array([row[unit] for row in rows])


def fresh_rng(k: int = 0) -> np.random.Generator:
    return np.random.default_rng((FRESH, k))
