"""The class protocol's pieces that every hub shares: the errors, the frames, and the way
frames reach this process's sockets.

Every hub operation changes a class and publishes the frames it causes, each to an audience
("a" all, "v" a view (state) frame that a newer one makes stale, "t" the teacher's sockets, "s"
the students', "x" all and then close) with the class's revision `rev` (+1 per frame published,
so frames are totally ordered per class). Each process hands the frames to its own sockets
through a Fanout: one unbounded-but-checked queue per socket, drained by that socket's own
sender task, so a slow socket fills only its own queue and is dropped when it falls `limit`
frames behind; it never delays anyone else. A socket that is behind skips a state frame when a
newer one is already queued for it (a follower shows the teacher's latest view, never a backlog
of old ones; seq then has gaps); recall states and every other frame are sent.

A socket subscribes before it joins, so nothing published after its snapshot is missed; frames
that arrive before the welcome is queued are held, and those the snapshot already includes
(rev <= the snapshot's rev) are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

# no look-alikes: no 0/O, no 1/I/L
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
# "v": a view (state) frame to all that a newer one makes stale; "x": to all, then close
AUDIENCES = {"all": "a", "view": "v", "teacher": "t", "students": "s", "end": "x"}
QUEUE_FRAMES = 256  # frames a socket may fall behind (8 s of a 30 steps/s play) before a drop


class HubUnavailableError(Exception):
    """The hub's backend (Redis) cannot be reached; the message says so."""


class ClassGoneError(Exception):
    """No such class (never made, ended or expired)."""


class LimitError(Exception):
    """A limit (classes, members) is reached; the message names it."""


class ProtocolError(Exception):
    """A well-formed message that cannot apply now (a poll that is not open, ...)."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def dumps(frame: dict[str, Any]) -> bytes:
    return orjson.dumps(frame)


def initial_state() -> dict[str, Any]:
    return {"type": "state", "seq": 0, "url": None, "mode": "follow", "playing": False,
            "model_key": None}  # fmt: skip


@dataclass(slots=True)
class View:
    """A state frame (not a recall): skipped when a newer one is queued behind it."""

    data: bytes


@dataclass(slots=True)
class Close:
    """In a subscriber's queue: send `frame` (if any), then close with `code`."""

    code: int
    frame: bytes | None = None
    reason: str = ""


class Subscriber:
    """One socket's share of a class: the frames its sender task sends, in order."""

    def __init__(self, role: str, limit: int = QUEUE_FRAMES) -> None:
        self.role = role
        self.audiences = {"a", "v", "x", "t" if role == "teacher" else "s"}
        self.queue: asyncio.Queue[bytes | View | Close] = asyncio.Queue()
        self.views = 0  # View items in the queue
        self.loop = asyncio.get_running_loop()
        self.limit = limit
        self.rev: int | None = None  # the welcome's revision, once it is queued
        self.early: list[tuple[str, int, bytes]] = []
        self.closed = False

    def deliver(self, audience: str, rev: int, data: bytes) -> None:
        if self.closed or audience not in self.audiences:
            return
        if self.rev is None:
            self.early.append((audience, rev, data))
            if len(self.early) > self.limit:
                self.close(1008, reason="too slow: fell behind the class")
        elif rev > self.rev:
            self._put(audience, data)

    def start(self, rev: int, welcome: bytes) -> None:
        """Queue the welcome (a snapshot at `rev`), then what came after it."""
        self.rev = rev
        self.queue.put_nowait(welcome)
        early, self.early = self.early, []
        for audience, r, data in early:
            if r > rev:
                self._put(audience, data)

    def send(self, data: bytes) -> None:
        """A frame for this socket alone (an error, an acknowledgement)."""
        if not self.closed:
            self._put("a", data)

    def close(self, code: int, frame: bytes | None = None, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(Close(code, frame, reason))

    def _put(self, audience: str, data: bytes) -> None:
        if audience == "x":
            self.close(1000, data)
        elif self.queue.qsize() >= self.limit:
            self.close(1008, reason="too slow: fell behind the class")
        elif audience == "v":
            self.views += 1
            self.queue.put_nowait(View(data))
        else:
            self.queue.put_nowait(data)

    async def next(self) -> bytes | Close:
        """The next frame to send, skipping a state that a newer queued state makes stale."""
        while True:
            item = await self.queue.get()
            if not isinstance(item, View):
                return item
            self.views -= 1
            if self.views == 0:
                return item.data


class Fanout:
    """The sockets of this process, by class code; delivers published frames to them."""

    def __init__(self) -> None:
        self.rooms: dict[str, set[Subscriber]] = {}

    def add(self, code: str, sub: Subscriber) -> None:
        self.rooms.setdefault(code, set()).add(sub)

    def remove(self, code: str, sub: Subscriber) -> None:
        subs = self.rooms.get(code)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self.rooms[code]

    def deliver(self, code: str, audience: str, rev: int, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        for sub in list(self.rooms.get(code, ())):
            if sub.loop is loop:
                sub.deliver(audience, rev, data)
            else:  # a socket served by another event loop (a test client's thread)
                sub.loop.call_soon_threadsafe(sub.deliver, audience, rev, data)

    def close_room(self, code: str, close_code: int, frame: bytes) -> None:
        for sub in list(self.rooms.get(code, ())):
            _threadsafe(sub, sub.close, close_code, frame)

    def close_all(self, close_code: int, frame: bytes) -> None:
        for code in list(self.rooms):
            self.close_room(code, close_code, frame)

    def has_teacher(self, code: str) -> bool:
        return any(sub.role == "teacher" for sub in self.rooms.get(code, ()))


def _threadsafe(sub: Subscriber, fn: Any, *args: Any) -> None:
    try:
        same = sub.loop is asyncio.get_running_loop()
    except RuntimeError:
        same = False
    if same:
        fn(*args)
    else:
        sub.loop.call_soon_threadsafe(fn, *args)


def members_frame(n: int, following: int) -> dict[str, Any]:
    return {"type": "members", "members": n, "following": following,
            "exploring": n - following}  # fmt: skip


def ended_frame(reason: str) -> bytes:
    return dumps({"type": "ended", "reason": reason})


async def cancel(task: asyncio.Task[Any] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
