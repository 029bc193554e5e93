"""The gallery's tests share one app client and the cards as GET /api/gallery lists them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import app


@pytest.fixture(scope="module")
def client():
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def cards(client):
    r = client.get("/api/gallery")
    assert r.status_code == 200, r.text
    return {c["slug"]: c for c in r.json()}
