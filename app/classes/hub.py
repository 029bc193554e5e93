"""The class hub: one publish/subscribe interface, backends chosen by URL (encode/broadcaster's
shape). `make_hub(settings)` reads LSTMX_REDIS_URL: empty or memory:// is this module's
in-process hub (nothing else to start); redis:// or rediss:// is redis_hub.RedisHub, with which
any number of server processes serve one class.

A class (a "room") holds the SHA-256 of the teacher's token, the current state frame
{"type": "state", "seq", "url", "mode", "playing", "model"}, the students present (member id ->
following?), the open poll and its answers (member id -> choice index). Every operation changes
the room and publishes the frames it causes, each to an audience ("a" all, "t" the teacher's
sockets, "s" the students', "x" all and then close) with the room's revision `rev` (+1 per frame
published, so frames are totally ordered per class). Each process hands the frames to its own
sockets through a Fanout: one unbounded-but-checked queue per socket, drained by that socket's
own sender task, so a slow socket fills only its own queue and is dropped when it falls
`limit` frames behind; it never delays anyone else. A socket that is behind skips a state
frame when a newer one is already queued for it (a follower shows the teacher's latest view,
never a backlog of old ones; seq then has gaps); recall states and every other frame are sent.

A socket subscribes before it joins, so nothing published after its snapshot is missed; frames
that arrive before the welcome is queued are held, and those the snapshot already includes
(rev <= the snapshot's rev) are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..settings import Settings

# no look-alikes: no 0/O, no 1/I/L
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
# "v": a view (state) frame to all that a newer one makes stale; "x": to all, then close
AUDIENCES = {"all": "a", "view": "v", "teacher": "t", "students": "s", "end": "x"}
TRIM_AFTER = 20  # class sockets: when that many have come and (all but one) gone, trim
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
            "model": None}  # fmt: skip


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


def release_memory() -> None:
    """Collect cycles and hand freed heap pages back to the OS (glibc's malloc_trim).

    Python frees a class's sockets, queues and frames when they leave, but glibc keeps the
    pages: measured with 200 followers (bench/classroom.py), RSS stayed ~10 MB above its level
    before they joined; with this it returns to it. Not glibc: collection only."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


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


class Hub:
    """The interface. Every method may raise HubUnavailableError (backend unreachable); those
    naming a class raise ClassGoneError for a class that does not exist (or no longer)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.fanout = Fanout()
        self._watchdog: asyncio.Task[None] | None = None
        self._peak = 0  # most class sockets at once since memory was last given back

    # -- the backend's part ------------------------------------------------------------------
    async def create(self, code: str, digest: str) -> bool:
        """Make a class; False when the code is taken. LimitError at max_classes."""
        raise NotImplementedError

    async def digest(self, code: str) -> str | None:
        """The class's token digest, or None for an unknown code."""
        raise NotImplementedError

    async def join(self, code: str, member: str | None) -> dict[str, Any]:
        """Add a student's socket (member id) or a teacher socket (None); the snapshot for the
        welcome: {"state", "members", "following", "poll", "tally", "answer" (the student's
        choice in the open poll, or None), "rev"}. LimitError when full."""
        raise NotImplementedError

    async def leave(self, code: str, member: str) -> None:
        raise NotImplementedError

    async def status(self, code: str, member: str, following: bool) -> None:
        raise NotImplementedError

    async def set_state(self, code: str, fields: dict[str, Any], recall: bool = False) -> None:
        """Merge `fields` into the state, number it (seq + 1), relay it; recall: mode follow,
        every student counted as following, and the relayed frame carries "recall": true."""
        raise NotImplementedError

    async def open_poll(self, code: str, question: str, choices: list[str]) -> None:
        raise NotImplementedError

    async def answer(self, code: str, member: str, poll: int, choice: int) -> None:
        raise NotImplementedError

    async def close_poll(self, code: str) -> None:
        raise NotImplementedError

    async def relay(self, code: str, frame: dict[str, Any]) -> None:
        """Send a frame to the students as it is; the class's state does not change."""
        raise NotImplementedError

    async def end(self, code: str, reason: str) -> None:
        raise NotImplementedError

    async def alive(self, code: str, keep: bool) -> bool:
        """Whether the class still exists; keep: count this as activity (a teacher present)."""
        raise NotImplementedError

    async def miss(self, ip: str) -> None:
        """Count one unknown-code (or wrong-token) attempt from this address."""
        raise NotImplementedError

    async def misses(self, ip: str) -> int:
        """Attempts counted for this address in the current window."""
        raise NotImplementedError

    async def ready(self) -> None:
        """Before the first subscription: whatever delivery needs (Redis: its listener)."""

    async def aclose(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()

    # -- shared ------------------------------------------------------------------------------
    async def new_class(self, digest: str) -> str:
        for _ in range(20):
            code = "".join(secrets.choice(ALPHABET) for _ in range(self.settings.class_code_length))
            if await self.create(code, digest):
                return code
        raise LimitError("could not find a free class code: too many classes")

    async def locked_out(self, ip: str) -> bool:
        return await self.misses(ip) >= self.settings.class_code_misses

    async def subscribe(self, code: str, sub: Subscriber) -> None:
        await self.ready()
        self.fanout.add(code, sub)
        self._count()
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._watch())

    def unsubscribe(self, code: str, sub: Subscriber) -> None:
        self.fanout.remove(code, sub)
        left = sum(map(len, self.fanout.rooms.values()))
        if left <= 1 and self._peak >= TRIM_AFTER:  # a class has left: give its memory back
            self._peak = left
            asyncio.get_running_loop().run_in_executor(None, release_memory)

    def _count(self) -> None:
        self._peak = max(self._peak, sum(map(len, self.fanout.rooms.values())))

    async def _watch(self) -> None:
        """Ends, for this process's sockets, the classes that expired; a class with a teacher
        socket here is kept alive. Stops when this process has no class socket left."""
        interval = max(0.05, min(self.settings.class_idle_seconds / 4, 30.0))
        while self.fanout.rooms:
            await asyncio.sleep(interval)
            for code in list(self.fanout.rooms):
                try:
                    alive = await self.alive(code, keep=self.fanout.has_teacher(code))
                except HubUnavailableError:
                    continue  # the listener reports an outage to the sockets
                if not alive:
                    idle = f"{self.settings.class_idle_seconds:g}"
                    frame = ended_frame(f"the class was idle for {idle} s")
                    self.fanout.close_room(code, 1000, frame)


@dataclass
class Room:
    digest: str
    touched: float
    state: dict[str, Any] = field(default_factory=initial_state)
    members: dict[str, bool] = field(default_factory=dict)  # member id -> following
    poll: dict[str, Any] | None = None  # the open poll's frame
    answers: dict[str, int] = field(default_factory=dict)  # member id -> choice index
    sockets: dict[str, int] = field(default_factory=dict)  # member id -> its sockets
    polls: int = 0  # polls opened so far: the next poll's id is polls + 1
    rev: int = 0

    def counts(self) -> tuple[int, int]:
        return len(self.members), sum(self.members.values())

    def tally(self, kind: str = "tally") -> dict[str, Any] | None:
        if self.poll is None:
            return None
        counts = [0] * len(self.poll["choices"])
        for choice in self.answers.values():
            counts[choice] += 1
        return {"type": kind, "poll": self.poll["poll"], "counts": counts,
                "answered": len(self.answers), "members": len(self.members)}  # fmt: skip


class MemoryHub(Hub):
    """Classes in this process's memory: the default, for one server process."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.rooms: dict[str, Room] = {}
        self._misses: dict[str, tuple[int, float]] = {}  # ip -> (count, window start)

    def _room(self, code: str) -> Room:
        room = self.rooms.get(code)
        if room is None or time.monotonic() - room.touched > self.settings.class_idle_seconds:
            self.rooms.pop(code, None)
            raise ClassGoneError(code)
        room.touched = time.monotonic()
        return room

    def _publish(self, code: str, room: Room, audience: str, frame: dict[str, Any]) -> None:
        room.rev += 1
        self.fanout.deliver(code, AUDIENCES[audience], room.rev, dumps(frame))

    def _members_changed(self, code: str, room: Room) -> None:
        self._publish(code, room, "teacher", members_frame(*room.counts()))
        tally = room.tally()
        if tally is not None:
            self._publish(code, room, "teacher", tally)

    async def create(self, code: str, digest: str) -> bool:
        now, idle = time.monotonic(), self.settings.class_idle_seconds
        for old in [c for c, r in self.rooms.items() if now - r.touched > idle]:
            del self.rooms[old]
        if code in self.rooms:
            return False
        if len(self.rooms) >= self.settings.max_classes:
            raise LimitError(f"the server holds its limit of {self.settings.max_classes} classes")
        self.rooms[code] = Room(digest, now)
        return True

    async def digest(self, code: str) -> str | None:
        try:
            return self._room(code).digest
        except ClassGoneError:
            return None

    async def join(self, code: str, member: str | None) -> dict[str, Any]:
        room = self._room(code)
        if member is not None:
            full = len(room.members) >= self.settings.max_class_members
            if member not in room.members and full:
                raise LimitError(
                    f"the class is full: at most {self.settings.max_class_members} students"
                )
            room.sockets[member] = room.sockets.get(member, 0) + 1
            room.members[member] = True
            self._members_changed(code, room)
        n, following = room.counts()
        answer = room.answers.get(member) if member is not None else None
        return {"state": room.state, "members": n, "following": following, "poll": room.poll,
                "tally": room.tally(), "answer": answer, "rev": room.rev}  # fmt: skip

    async def leave(self, code: str, member: str) -> None:
        room = self._room(code)
        left = room.sockets.get(member, 0) - 1
        if left > 0:
            room.sockets[member] = left
            return
        room.sockets.pop(member, None)
        room.members.pop(member, None)  # their answer stays in the open poll's tally
        self._members_changed(code, room)

    async def status(self, code: str, member: str, following: bool) -> None:
        room = self._room(code)
        if member in room.members and room.members[member] != following:
            room.members[member] = following
            self._publish(code, room, "teacher", members_frame(*room.counts()))

    async def set_state(self, code: str, fields: dict[str, Any], recall: bool = False) -> None:
        room = self._room(code)
        state = {**room.state, **fields, "seq": room.state["seq"] + 1}
        if recall:
            state["mode"] = "follow"
            room.members = dict.fromkeys(room.members, True)
        room.state = state
        if recall:
            self._publish(code, room, "all", {**state, "recall": True})
        else:
            self._publish(code, room, "view", state)
        if recall:
            self._publish(code, room, "teacher", members_frame(*room.counts()))

    async def open_poll(self, code: str, question: str, choices: list[str]) -> None:
        room = self._room(code)
        if room.poll is not None:
            self._publish(code, room, "all", room.tally("poll_closed") or {})
        room.polls += 1
        room.poll = {"type": "poll", "poll": room.polls, "question": question,
                     "choices": choices}  # fmt: skip
        room.answers = {}
        self._publish(code, room, "all", room.poll)
        self._publish(code, room, "teacher", room.tally() or {})

    async def answer(self, code: str, member: str, poll: int, choice: int) -> None:
        room = self._room(code)
        if room.poll is None or room.poll["poll"] != poll:
            raise ProtocolError(f"poll {poll} is not open")
        if not 0 <= choice < len(room.poll["choices"]):
            raise ProtocolError(f"choice must be 0..{len(room.poll['choices']) - 1}")
        if member not in room.members:
            raise ProtocolError("only a student in the class may answer")
        room.answers[member] = choice  # a changed answer replaces the old one
        self._publish(code, room, "teacher", room.tally() or {})

    async def close_poll(self, code: str) -> None:
        room = self._room(code)
        if room.poll is None:
            raise ProtocolError("no poll is open")
        closed = room.tally("poll_closed") or {}
        room.poll, room.answers = None, {}
        self._publish(code, room, "all", closed)

    async def relay(self, code: str, frame: dict[str, Any]) -> None:
        self._publish(code, self._room(code), "students", frame)

    async def end(self, code: str, reason: str) -> None:
        room = self._room(code)
        del self.rooms[code]
        room.rev += 1
        self.fanout.deliver(code, "x", room.rev, ended_frame(reason))

    async def alive(self, code: str, keep: bool) -> bool:
        room = self.rooms.get(code)
        if room is None or time.monotonic() - room.touched > self.settings.class_idle_seconds:
            self.rooms.pop(code, None)
            return False
        if keep:
            room.touched = time.monotonic()
        return True

    async def miss(self, ip: str) -> None:
        count = await self.misses(ip)
        start = self._misses[ip][1] if count else time.monotonic()
        self._misses.pop(ip, None)  # re-inserted last: the dict runs from the oldest miss
        self._misses[ip] = (count + 1, start)
        while len(self._misses) > 10_000:  # bounded: the oldest address is forgotten
            del self._misses[next(iter(self._misses))]

    async def misses(self, ip: str) -> int:
        count, start = self._misses.get(ip, (0, 0.0))
        if time.monotonic() - start > self.settings.class_miss_window:
            self._misses.pop(ip, None)
            return 0
        return count


def make_hub(settings: Settings) -> Hub:
    url = settings.redis_url.strip()
    if url in ("", "memory://"):
        return MemoryHub(settings)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis_hub import RedisHub  # redis is imported only when it is used

        return RedisHub(settings, url)
    raise ValueError(f"LSTMX_REDIS_URL must be redis://host:port/db or memory://, got {url!r}")


async def cancel(task: asyncio.Task[Any] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
