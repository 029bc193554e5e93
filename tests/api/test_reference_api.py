"""GET /api/reference/{cell}: the reference cells' source lines, each with what it computes."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import app

ROOT = Path(__file__).resolve().parents[2]
QUANTITIES = {
    "lstm": ({"i", "f", "g", "o", "c", "h"}, {"grad_h", "grad_c"}),
    "gru": ({"r", "z", "n", "h"}, {"grad_h"}),
    "rnn": ({"h"}, {"grad_h"}),
}


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_reference_lines_are_the_running_code_and_name_their_quantity(cell):
    with TestClient(app) as client:
        answer = client.get(f"/api/reference/{cell}").json()
    file_lines = (ROOT / answer["file"]).read_text().splitlines()
    for phase, wanted in zip(("forward", "backward"), QUANTITIES[cell], strict=True):
        lines = answer[phase]["lines"]
        assert lines[0]["text"].startswith(f"def {phase}(")
        for line in lines:  # the text shown is the file's text at that line number
            assert file_lines[line["n"] - 1] == line["text"]
        assert {line["quantity"] for line in lines} - {None} == wanted
    assert answer["file"] == f"app/engine/reference/{cell}.py"


def test_reference_of_an_unknown_cell_is_a_422_naming_the_choices():
    with TestClient(app) as client:
        r = client.get("/api/reference/transformer")
    assert r.status_code == 422
    assert "lstm" in r.text
