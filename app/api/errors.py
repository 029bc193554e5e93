"""Errors a client can act on: every one names the field and the limit.

Validation errors are answered by `validation_error_handler` rather than FastAPI's default:
the offending input is echoed only when it is small (a 10^6-row sequence is not sent back),
and the body is written by orjson, so it can never hold a bare NaN or Infinity.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from ..settings import get_settings

MAX_ECHO_BYTES = 200  # an input longer than this (as JSON) is not echoed in an error


class RequestError(ValueError):
    """Bad input found after schema validation (a limit, or the engine's own checks)."""

    def __init__(self, loc: tuple | list, msg: str, status: int = 422) -> None:
        super().__init__(msg)
        self.loc = list(loc)
        self.msg = msg
        self.status = status

    def detail(self) -> list[dict]:
        return [{"loc": self.loc, "msg": self.msg, "type": "value_error"}]


def busy_headers() -> dict[str, str]:
    return {"Retry-After": str(get_settings().retry_after)}


async def request_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestError)
    headers = busy_headers() if exc.status == 503 else None
    return JSONResponse({"detail": exc.detail()}, status_code=exc.status, headers=headers)


def clean_errors(errors: Any) -> list[dict]:
    """Pydantic errors as JSON-safe dicts: type, loc, msg, and the input only if it is small."""
    out = []
    for err in errors:
        item = {"type": err.get("type"), "loc": list(err.get("loc", ())), "msg": err.get("msg")}
        if "input" in err:
            try:
                echo = orjson.dumps(err["input"])
            except TypeError:
                echo = b""
            if 0 < len(echo) <= MAX_ECHO_BYTES:
                item["input"] = orjson.loads(echo)
        out.append(item)
    return out


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    body = orjson.dumps({"detail": clean_errors(exc.errors())})
    return Response(body, status_code=422, media_type="application/json")


def _doc(text: str) -> dict:
    return {"description": text, "content": {"application/json": {"schema": {"type": "object"}}}}


RESPONSES: dict[int | str, dict] = {  # documented in the OpenAPI schema of every API route
    400: _doc("A refused file or a malformed body"),
    413: _doc("Body above the size cap"),
    422: _doc("A field out of range: detail names the field and the limit"),
    503: _doc("Busy: too many runs at once, retry after the Retry-After header's seconds"),
}
