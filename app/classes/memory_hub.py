"""The in-process hub (the default, for one server process): classes in this process's memory."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..settings import Settings
from .hub import Hub
from .protocol import (
    AUDIENCES,
    ClassGoneError,
    LimitError,
    ProtocolError,
    dumps,
    ended_frame,
    initial_state,
    members_frame,
)


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
    driver: str | None = None  # the teacher's tab that drives the class
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

    async def join(self, code: str, member: str | None, tab: str | None = None) -> dict[str, Any]:
        room = self._room(code)
        if member is None and tab is not None and room.driver is None:
            room.driver = tab
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
                "tally": room.tally(), "answer": answer, "driver": room.driver,
                "rev": room.rev}  # fmt: skip

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

    async def open_poll(
        self, code: str, question: str, choices: list[str], hide: list[str] | None = None
    ) -> None:
        room = self._room(code)
        if room.poll is not None:
            self._publish(code, room, "all", room.tally("poll_closed") or {})
        room.polls += 1
        room.poll = {"type": "poll", "poll": room.polls, "question": question,
                     "choices": choices}  # fmt: skip
        if hide:  # left out when empty, as the Redis hub's JSON does
            room.poll["hide"] = hide
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

    async def take_over(self, code: str, tab: str) -> None:
        room = self._room(code)
        room.driver = tab
        self._publish(code, room, "teacher", {"type": "driver", "tab": tab})

    async def driver(self, code: str) -> str | None:
        return self._room(code).driver

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
