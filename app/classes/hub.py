"""The class hub's interface: one publish/subscribe interface, backends chosen by URL
(encode/broadcaster's shape; backends.make_hub reads LSTMX_REDIS_URL): memory_hub.MemoryHub in
this process (nothing else to start), or redis_hub.RedisHub, with which any number of server
processes serve one class.

A class (a "room") holds the SHA-256 of the teacher's token, the current state frame
{"type": "state", "seq", "url", "mode", "playing", "model_key"}, the teacher's tab that drives
it (`driver`: the other tabs of the teacher's browser are viewers until one takes over), the
students present (member id -> following?), the open poll and its answers (member id -> choice
index). protocol.py says how frames reach the sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import secrets
from typing import Any

from ..settings import Settings
from .protocol import ALPHABET, Fanout, HubUnavailableError, LimitError, Subscriber, ended_frame

TRIM_AFTER = 20  # class sockets: when that many have come and (all but one) gone, trim


def release_memory() -> None:
    """Collect cycles and hand freed heap pages back to the OS (glibc's malloc_trim).

    Python frees a class's sockets, queues and frames when they leave, but glibc keeps the
    pages: measured with 200 followers (bench/classroom.py), RSS stayed ~10 MB above its level
    before they joined; with this it returns to it. Not glibc: collection only."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


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

    async def join(self, code: str, member: str | None, tab: str | None = None) -> dict[str, Any]:
        """Add a student's socket (member id) or a teacher socket (None; tab: the teacher's tab,
        which becomes the driver when the class has none yet); the snapshot for the welcome:
        {"state", "members", "following", "poll", "tally", "answer" (the student's choice in
        the open poll, or None), "driver" (the driving tab or None), "rev"}. LimitError when
        full."""
        raise NotImplementedError

    async def leave(self, code: str, member: str) -> None:
        raise NotImplementedError

    async def status(self, code: str, member: str, following: bool) -> None:
        raise NotImplementedError

    async def set_state(self, code: str, fields: dict[str, Any], recall: bool = False) -> None:
        """Merge `fields` into the state, number it (seq + 1), relay it; recall: mode follow,
        every student counted as following, and the relayed frame carries "recall": true."""
        raise NotImplementedError

    async def open_poll(
        self, code: str, question: str, choices: list[str], hide: list[str] | None = None
    ) -> None:
        raise NotImplementedError

    async def answer(self, code: str, member: str, poll: int, choice: int) -> None:
        raise NotImplementedError

    async def close_poll(self, code: str) -> None:
        raise NotImplementedError

    async def take_over(self, code: str, tab: str) -> None:
        """This teacher's tab drives the class from now on; the teachers' sockets are told
        ({"type": "driver", "tab"}), and the tab that drove becomes a viewer."""
        raise NotImplementedError

    async def driver(self, code: str) -> str | None:
        """The tab that drives the class (None: none has said yet)."""
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

    async def drives(self, code: str, tab: str | None) -> bool:
        """May this teacher socket drive? A socket that names no tab (an outside client of the
        protocol) drives as before; a tab drives when it is the driver or there is none."""
        if tab is None:
            return True
        return (await self.driver(code)) in (None, tab)

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
