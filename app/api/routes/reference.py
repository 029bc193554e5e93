"""GET /api/reference/{cell}: the reference implementation's source lines (the Code panel)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter

from ...engine.reference.source import source

router = APIRouter(tags=["reference"])


@router.get(
    "/api/reference/{cell}",
    summary="The reference forward and backward of a cell, line by line, with the quantity "
    "each line computes (i, f, g, o, c, h, r, z, n, grad_h, grad_c) or null",
)
async def reference_source(cell: Literal["lstm", "gru", "rnn"]) -> dict[str, Any]:
    return source(cell)  # read once from the module files and kept
