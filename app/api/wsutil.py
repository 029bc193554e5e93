"""WebSocket helpers shared by the streaming routes: origin check, bounded sends, closing.

A browser sends an Origin header with every WebSocket handshake; a page on another site must
not be able to drive this server with a visitor's browser, so a foreign origin is refused.
Clients without an Origin (scripts, tests) are allowed: they are not a browser-borne attack.
A client that stops reading is dropped after the send timeout (LSTMX_SEND_TIMEOUT, 10 s)
instead of holding its run forever; uvicorn's write buffer is bounded (the websockets protocol
waits for the socket to drain), so a stalled client's frames do not pile up in memory. A client
that vanishes without closing is caught by uvicorn's pings (--ws-ping-interval 20
--ws-ping-timeout 20, set in `python -m app` and `make run`).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ..settings import get_settings


class ClientGoneError(Exception):
    """The client left, stalled or was refused; the route just returns."""


def origin_allowed(ws: WebSocket, extra: str = "") -> bool:
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    host = ws.headers.get("host", "")
    allowed = {host} | {h.strip() for h in extra.split(",") if h.strip()}
    return urlsplit(origin).netloc in allowed


async def send(ws: WebSocket, frame: bytes, binary: bool = False) -> None:
    """Send one text frame (or binary); a closed or stalled client raises ClientGoneError."""
    message = ws.send_bytes(frame) if binary else ws.send_text(frame.decode())
    try:
        await asyncio.wait_for(message, get_settings().send_timeout)
    except TimeoutError:
        await abort(ws)
        raise ClientGoneError from None
    except (WebSocketDisconnect, RuntimeError, OSError):
        raise ClientGoneError from None


async def close(ws: WebSocket, code: int = 1000, reason: str = "") -> None:
    if ws.application_state != WebSocketState.DISCONNECTED:
        try:
            await ws.close(code=code, reason=reason)
        except (RuntimeError, OSError):
            pass


async def abort(ws: WebSocket) -> None:
    """Drop a client that does not read: a close frame would wait on it too, so the
    transport is closed at once (bounded by a short timeout whatever the server)."""
    try:
        await asyncio.wait_for(close(ws, 1008, "client too slow"), 1.0)
    except TimeoutError:
        pass
