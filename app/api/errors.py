"""Errors a client can act on: every one names the field and the limit."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse


class RequestError(ValueError):
    """Bad input found after schema validation (a limit, or the engine's own checks)."""

    def __init__(self, loc: tuple | list, msg: str, status: int = 422) -> None:
        super().__init__(msg)
        self.loc = list(loc)
        self.msg = msg
        self.status = status

    def detail(self) -> list[dict]:
        return [{"loc": self.loc, "msg": self.msg, "type": "value_error"}]


async def request_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestError)
    return JSONResponse({"detail": exc.detail()}, status_code=exc.status)


def _doc(text: str) -> dict:
    return {"description": text, "content": {"application/json": {"schema": {"type": "object"}}}}


RESPONSES: dict[int | str, dict] = {  # documented in the OpenAPI schema of every API route
    400: _doc("A refused file or a malformed body"),
    413: _doc("Body above the size cap"),
    422: _doc("A field out of range: detail names the field and the limit"),
    503: _doc("Busy: too many runs at once, retry shortly"),
}
