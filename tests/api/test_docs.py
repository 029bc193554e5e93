"""/docs is our page (no inline script, nothing from elsewhere) over the pinned Swagger UI."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from fastapi.testclient import TestClient

from app.main import app

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "static" / "vendor" / "swagger-ui"
client = TestClient(app)


def test_the_docs_page_loads_only_this_servers_files_and_runs_no_inline_script():
    r = client.get("/docs")
    assert r.status_code == 200 and "script-src 'self'" in r.headers["content-security-policy"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, re.S)
    assert scripts and all(body.strip() == "" for _, body in scripts)  # no inline script
    sources = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in sources
    assert [s for s in sources if "//" in s] == []  # nothing from another host
    for path in sources:
        if path.startswith("/static/"):
            assert client.get(path).status_code == 200, path


def test_redoc_is_not_offered():
    assert client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").json()["paths"]["/api/trace"]


def test_the_pinned_swagger_ui_files_are_the_ones_its_readme_lists():
    listed = re.findall(r"([0-9a-f]{64})  (\S+)", (VENDOR / "README.md").read_text())
    assert {name for _, name in listed} == {"swagger-ui-bundle.js", "swagger-ui.css"}
    for digest, name in listed:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
