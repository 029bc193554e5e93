"""POST /api/html: the run a /api/trace body describes as one self-contained HTML file, the
same view build_html makes (the step page's "Save as HTML")."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
from fastapi.testclient import TestClient

from app.main import app
from app.standalone import build_view

client = TestClient(app)


def view_data(html: str) -> dict:
    """The data literal the view's script mounts (the last argument of mount(root, ...))."""
    m = re.search(r"\.mount\(root, (\{.*\})\);\n\}\)\(\);", html, re.S)
    assert m, "no mount call in the file"
    return json.loads(m.group(1))


def test_a_text_run_is_one_html_file_with_its_characters():
    body = {
        "model": {"cell": "gru", "hidden_size": 5, "init": {"seed": 2}},
        "input": {"text": "abba", "alphabet": "ab"},
    }
    r = client.post("/api/html", json=body)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-disposition"] == 'attachment; filename="lstm-explainer-gru.html"'
    data = view_data(r.text)
    assert data["labels"] == ["a", "b", "b", "a"]
    _, same = build_view(
        {"cell": "gru", "hidden_size": 5, "init": {"seed": 2}, "input_size": 2},
        "abba",
        alphabet="ab",
    )
    assert data == same  # one code path: the file's numbers are build_html's


def test_a_sequence_with_a_hold_is_the_held_run():
    x = np.linspace(-1, 1, 12).reshape(6, 2).tolist()
    body = {
        "model": {"cell": "lstm", "hidden_size": 3, "init": {"seed": 0}},
        "input": {"sequence": x},
        "clamp": [{"t": 2, "gate": "f", "value": 1.0}],
    }
    data = view_data(client.post("/api/html", json=body).text)
    f = np.frombuffer(base64.b64decode(data["layers"][0]["fields"]["f"]), "<f4")
    assert np.all(f.reshape(6, 3)[2] == 1.0) and not np.all(f.reshape(6, 3)[1] == 1.0)


def test_over_a_limit_is_a_422_naming_the_field():
    body = {"model": {"cell": "rnn", "hidden_size": 100_000}, "input": {"text": "ab"}}
    r = client.post("/api/html", json=body)
    assert r.status_code == 422
    assert "hidden" in r.text
