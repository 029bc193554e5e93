"""Pure ASGI middleware (security headers, body caps, a count of open WebSockets, gzip for the
answers not compressed already) and a route class that parses JSON bodies off the loop."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import (
    DEFAULT_EXCLUDED_CONTENT_TYPES,
    GZipMiddleware,
    GZipResponder,
    IdentityResponder,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import encoding

# plotly.js inserts <style> elements when it loads, so styles need 'unsafe-inline' (scripts do
# not: every script comes from this server). WebGL traces would need 'unsafe-eval': we use SVG.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
)
HEADERS = [
    (b"content-security-policy", CSP.format(ancestors="'self'").encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """frame_ancestors: who may embed the pages ('self' by default; set it to allow an embed)."""

    def __init__(self, app: ASGIApp, frame_ancestors: str = "'self'") -> None:
        self.app = app
        csp = CSP.format(ancestors=frame_ancestors).encode()
        self.headers = [(b"content-security-policy", csp)] + HEADERS[1:]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """413 for bodies above the cap (a larger cap on the upload route), checked as they stream.

    JSON bodies are also capped in their number of lists (`max_lists`, counted as "[" bytes as
    they stream): parsing turns each "[0]," into a Python list and a validated one, so a 4 MB
    body of a million one-number rows would take seconds and hundreds of MB before any limit
    could be checked. The cap is far above what any request within the limits needs.
    """

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int, max_lists: int) -> None:
        self.app, self.limit, self.upload_limit = app, limit, upload_limit
        self.max_lists = max_lists

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        upload = scope["path"] == "/api/weights"
        limit = self.upload_limit + 65536 if upload else self.limit
        max_lists = None if upload else self.max_lists
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _too_large(send, f"request body above {limit} bytes")
        seen = lists = 0
        refused = ""  # set when the body breaks a cap: the app's own answer is replaced
        answered = False

        async def counting_receive() -> Message:
            nonlocal seen, lists, refused
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                seen += len(body)
                if seen > limit:
                    refused = f"request body above {limit} bytes"
                elif max_lists is not None:
                    lists += body.count(b"[")
                    if lists > max_lists:
                        refused = f"request body holds more than {max_lists} lists ('[')"
                if refused:
                    raise _TooLargeError  # FastAPI may catch it and answer 400: replaced below
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if refused:
                if not answered:
                    answered = True
                    await _too_large(send, refused)
                return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLargeError:
            pass
        if refused and not answered:
            await _too_large(send, refused)


class _TooLargeError(Exception):
    pass


async def _too_large(send: Send, msg: str) -> None:
    body = orjson.dumps({"detail": [{"loc": ["body"], "msg": msg, "type": "too_large"}]})
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json")] + HEADERS})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class OpenStreams:
    """Counts the WebSocket connections in progress (every route), in `counter["open"]`.

    GET /healthz?detail=true reports it: after clients leave it must return to its baseline.
    """

    def __init__(self, app: ASGIApp, counter: dict[str, int]) -> None:
        self.app, self.counter = app, counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        self.counter["open"] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.counter["open"] -= 1


class GZip(GZipMiddleware):
    """Starlette's GZipMiddleware for the answers that are not compressed already.

    What differs: gzip is ISA-L's, at encoding.GZIP_LEVEL, above 64 KiB off the event
    loop; Accept-Encoding is read with its q-values ("gzip;q=0" is a refusal); an answer that
    carries a Content-Encoding (POST /api/trace compresses its own, static files are gzipped
    once) or is binary (an .npz) passes through untouched; a strong ETag on an answer it
    compresses gets "-gzip" (two representations, two validators); Vary names each field once.
    """

    def __init__(self, app: ASGIApp, minimum_size: int = 1024) -> None:
        binary = ("application/x-npz", "application/octet-stream")
        super().__init__(app, minimum_size, compresslevel=encoding.GZIP_LEVEL,
                         thread_minimum_size=64 * 1024,
                         exclude_content_types=DEFAULT_EXCLUDED_CONTENT_TYPES + binary)  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        encoded_by_app = False

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            async def note(message: Message) -> None:
                nonlocal encoded_by_app
                if message["type"] == "http.response.start":
                    encoded_by_app = "content-encoding" in Headers(raw=message["headers"])
                await send(message)

            await self.app(scope, receive, note)

        async def tidy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=message["headers"])
                if "vary" in headers:  # the app's Vary and the responder's, each name once
                    names = [v.strip() for v in ",".join(headers.getlist("vary")).split(",")]
                    headers["vary"] = ", ".join(dict.fromkeys(n for n in names if n))
                etag = headers.get("etag", "")
                gzipped = headers.get("content-encoding") == "gzip" and not encoded_by_app
                if gzipped and etag.startswith('"') and not etag.endswith('-gzip"'):
                    headers["etag"] = f'{etag[:-1]}-gzip"'
            await send(message)

        responder: ASGIApp
        excluded = self.exclude_content_types
        if encoding.accepts_gzip(Headers(scope=scope)):
            responder = _IsalResponder(app, self.minimum_size, self.compresslevel,
                                       thread_minimum_size=self.thread_minimum_size,
                                       exclude_content_types=excluded)  # fmt: skip
        else:
            responder = IdentityResponder(app, self.minimum_size, exclude_content_types=excluded)
        await responder(scope, receive, tidy)


class _IsalResponder(GZipResponder):
    @property
    def compressor(self) -> Any:
        if self._compressor is None:
            self._compressor = encoding.gzip_compressobj(self.compresslevel)
        return self._compressor


class OffLoopJSONRoute(APIRoute):
    """An APIRoute whose JSON body is parsed and validated in a worker thread.

    FastAPI parses a body (json.loads, then pydantic) on the event loop: an 8 MB body of
    numbers held the loop for ~0.45 s, so every other client waited. This route reads the
    bytes, runs `Model.model_validate_json` off the loop (the same parser as the WebSocket
    routes), and calls the endpoint with the model; the OpenAPI schema is unchanged. Errors are
    FastAPI's: a RequestValidationError with locations under "body". For endpoints with exactly
    one body parameter, a pydantic model, and otherwise only `request: Request`.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        body = self.dependant.body_params
        names = set(inspect.signature(self.endpoint).parameters)
        if len(body) != 1 or not names <= {body[0].name, "request"}:
            return super().get_route_handler()
        name, model = body[0].name, body[0].field_info.annotation
        if not hasattr(model, "model_validate_json"):
            return super().get_route_handler()
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            raw = await request.body()
            try:
                value = await run_in_threadpool(model.model_validate_json, raw or b"null")  # type: ignore[union-attr]
            except ValidationError as exc:
                errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
                raise RequestValidationError(errors, body=None) from None
            kwargs = {name: value, **({"request": request} if "request" in names else {})}
            return await endpoint(**kwargs)

        return handler
