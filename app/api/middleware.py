"""Pure ASGI middleware: security headers on every HTTP answer and a cap on request bodies."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    """413 for bodies above the cap (a larger cap on the upload route), checked as they stream."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int) -> None:
        self.app, self.limit, self.upload_limit = app, limit, upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.upload_limit + 65536 if scope["path"] == "/api/weights" else self.limit
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _too_large(send, limit)
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLargeError
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLargeError:
            await _too_large(send, limit)


class _TooLargeError(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = b'{"detail":[{"loc":["body"],"msg":"request body above %d bytes","type":"too_large"}]}'
    body = body % limit
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json")] + HEADERS})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
