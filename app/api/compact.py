"""The compact frames of one client of WS /ws/trace (the step page's).

Every client gets the shared frames of the cached answer as they come: "start", the heatmaps'
rounded "steps" blocks, the exact "grads" norms, "end" (app/api/binframes.py). The
answer also holds every unit's exact columns; a client gets only those of the view it shows,
and the reading counts of its thresholds, counted here on the exact columns. Its first view
comes with the request (`view`), later ones as {"type": "view", "layer", "unit", "lo", "hi",
"also"} messages ("also", optional: more units of the layer whose columns the client reads,
as a lesson does), so the socket stays open after "end" until the client closes it. Nothing
is sent twice; a bad view gets an error frame marked "view": true, and the stream goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import WebSocket
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from . import binframes, serialize, wsutil
from .schemas import ViewIn

VIEW_CHARS = 1000  # a view message is a few numbers


@dataclass(frozen=True)
class View:
    layer: int
    unit: int | None  # None: every unit (the mean)
    lo: float
    hi: float
    also: frozenset[int] = frozenset()  # more units whose columns the client reads


class ViewMessage(ViewIn):
    type: Literal["view"]


def parse_view(raw: str, start: dict[str, Any]) -> View | str:
    """A client's view message: ViewIn's fields, then checked against the trace's layout
    ("start"); or the error, in a sentence."""
    if len(raw) > VIEW_CHARS:
        return f"a view message is at most {VIEW_CHARS} characters"
    try:
        msg = ViewMessage.model_validate_json(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        if not where:
            return f'expected {{"type": "view", "layer", "unit", "lo", "hi"}}: {err["msg"]}'
        return f"view.{where}: {err['msg']}"
    directions = 2 if start.get("bidirectional") else 1
    entries = start["num_layers"] * directions
    if msg.layer >= entries:
        return f"view.layer must be a trace entry, 0 to {entries - 1}"
    widths = start["hidden_size"]
    H = widths[msg.layer // directions] if isinstance(widths, list) else widths
    if msg.unit != "mean" and msg.unit >= H:
        return f'view.unit must be "mean" or a unit of layer {msg.layer}, 0 to {H - 1}'
    if not all(0 <= u < H for u in msg.also):
        return f"view.also must be a list of units of layer {msg.layer}, 0 to {H - 1}"
    shown = None if msg.unit == "mean" else msg.unit
    return View(msg.layer, shown, lo=msg.lo, hi=msg.hi, also=frozenset(msg.also))


class Client:
    """What one client shows, and what it has been sent of the columns and counts."""

    def __init__(self, ws: WebSocket, parts: list[bytes]) -> None:
        self.ws, self.parts = ws, parts  # parts: the answer's, as far as they are made
        self.view: View | None = None
        self.sent: set[int] = set()  # indexes of the column frames sent
        self.forward_end = -1  # index of the ForwardEnd mark once read
        self.counted: tuple[int, float, float] | None = None  # what the last counts were for

    def wants(self, part: bytes) -> bool:
        v = self.view
        return (
            v is not None
            and isinstance(part, binframes.ColumnFrame)
            and part.layer == v.layer
            and (v.unit in (None, part.unit) or part.unit in v.also)
        )

    async def send_column(self, i: int) -> None:
        self.sent.add(i)
        await wsutil.send(self.ws, self.parts[i], binary=True)

    async def show(self, view: View, upto: int) -> None:
        """Show `view`: the columns among parts[:upto] it lacks, and its counts."""
        self.view = view
        for i in range(upto):
            if i not in self.sent and self.wants(self.parts[i]):
                await self.send_column(i)
        await self.count()

    async def count(self) -> None:
        """The reading counts of the view's layer and thresholds, once the forward is in."""
        if self.view is None or self.forward_end < 0:
            return
        want = (self.view.layer, self.view.lo, self.view.hi)
        if self.counted == want:
            return
        self.counted = want
        columns = self.parts[: self.forward_end]
        frame = await run_in_threadpool(binframes.reading_frame, columns, *want)
        await wsutil.send(self.ws, frame, binary=True)


async def serve(ws: WebSocket, answer: Any, first_view: dict[str, Any] | None) -> None:
    """Send one client its frames of `answer` (app/api/cache.py), then its views' until it
    leaves. A client that stalls or leaves raises wsutil.ClientGoneError from a send."""
    messages: asyncio.Queue[str] = asyncio.Queue()
    if first_view is not None:
        messages.put_nowait(json.dumps({"type": "view", **first_view}))

    async def listen() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, KeyError):  # KeyError: bytes
            while True:
                messages.put_nowait(await ws.receive_text())

    listener = asyncio.create_task(listen())
    client = Client(ws, answer.parts)
    start: dict[str, Any] = {}

    async def take(upto: int) -> None:
        """The views asked for so far, given the first `upto` parts."""
        while not messages.empty():
            view = parse_view(messages.get_nowait(), start)
            if isinstance(view, str):
                error = {"type": "error", "detail": view, "view": True}  # the stream goes on
                await wsutil.send(ws, serialize.dumps(error))
            else:
                await client.show(view, upto)

    try:
        i = 0
        async with contextlib.aclosing(answer.read()) as parts:  # closed when the client leaves
            async for part in parts:
                if i == 0:
                    start = json.loads(part)
                await take(i)
                if isinstance(part, binframes.ForwardEnd):
                    client.forward_end = i
                    await client.count()
                elif isinstance(part, binframes.ColumnFrame):
                    if client.wants(part):
                        await client.send_column(i)
                else:
                    await wsutil.send(ws, part, binary=isinstance(part, binframes.BinaryFrame))
                i += 1
        while True:  # until the client leaves
            waiting = asyncio.ensure_future(messages.get())
            await asyncio.wait({waiting, listener}, return_when=asyncio.FIRST_COMPLETED)
            if not waiting.done():
                waiting.cancel()
                return
            messages.put_nowait(waiting.result())
            await take(i)
    finally:
        listener.cancel()
