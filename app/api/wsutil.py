"""WebSocket helpers shared by the streaming routes: origin check, bounded sends, closing.

A browser sends an Origin header with every WebSocket handshake; a page on another site must
not be able to drive this server with a visitor's browser, so a foreign origin is refused.
Clients without an Origin (scripts, tests) are allowed: they are not a browser-borne attack.
A client that stops reading is dropped after SEND_TIMEOUT instead of holding its run forever.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

SEND_TIMEOUT = 10.0  # seconds a single frame may wait on a client that does not read


class ClientGoneError(Exception):
    """The client left, stalled or was refused; the route just returns."""


def origin_allowed(ws: WebSocket, extra: str = "") -> bool:
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    host = ws.headers.get("host", "")
    allowed = {host} | {h.strip() for h in extra.split(",") if h.strip()}
    return urlsplit(origin).netloc in allowed


async def send(ws: WebSocket, frame: bytes) -> None:
    """Send one frame; a closed or stalled client raises ClientGoneError."""
    try:
        await asyncio.wait_for(ws.send_text(frame.decode()), SEND_TIMEOUT)
    except TimeoutError:
        await close(ws, 1008)
        raise ClientGoneError from None
    except (WebSocketDisconnect, RuntimeError, OSError):
        raise ClientGoneError from None


async def close(ws: WebSocket, code: int = 1000, reason: str = "") -> None:
    if ws.application_state != WebSocketState.DISCONNECTED:
        try:
            await ws.close(code=code, reason=reason)
        except (RuntimeError, OSError):
            pass
