"""The Redis hub (LSTMX_REDIS_URL=redis://host:port/0): classes shared by every server process.

Per class code C, with the idle time as their time to live (renewed by every operation):
    lstmx:c:C     hash: digest, seq, rev, state (JSON), poll (JSON or ""), poll_id, poll_n, polls,
                  driver (the teacher's tab that drives the class)
    lstmx:c:C:m   hash: student member id -> "1" following | "0" exploring
    lstmx:c:C:a   hash: student member id -> choice index (answers to the open poll)
    lstmx:c:C:n   hash: student member id -> its sockets (a page change overlaps two)
    lstmx:classes sorted set: code -> expiry time (ms), to count the classes against max_classes
Frames go over the channel lstmx:ch:C as b"<audience>|<rev>|<JSON>". Every operation is one Lua
script that changes the keys AND publishes the frames it causes, so the frames of all processes
are numbered and sent in the order Redis applied the changes: member counts and tallies are
computed by Redis from the hashes, right across processes. Each process holds ONE pattern
subscription (lstmx:ch:*) and hands frames to its own sockets (hub.Fanout); with at most
max_classes classes that is cheaper than a subscription per class and has no race between
subscribing and joining.

Outage: every call fails fast (short timeouts, no retries) with HubUnavailableError; a lost
subscription closes this process's class sockets with an error frame (close 1011). Nothing
else in the app talks to Redis.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..settings import Settings
from .hub import Hub
from .models import ModelStore
from .protocol import (
    AUDIENCES,
    ClassGoneError,
    HubUnavailableError,
    LimitError,
    ProtocolError,
    cancel,
    dumps,
    initial_state,
)
from .redis_scripts import EXISTS, MISS, PREAMBLE, SCRIPTS

PREFIX = "lstmx:"
CHANNEL = PREFIX + "ch:"
UNREACHABLE = "the class service (Redis) is unreachable"
POOL = 16  # connections to Redis per process (the pub/sub one aside)
BATCH = 1000  # pub/sub messages handed out at most before the sockets' senders run
AUDIENCE_CODES = set(AUDIENCES.values())


class RedisHub(Hub):
    def __init__(self, settings: Settings, url: str) -> None:
        super().__init__(settings)
        # fail fast: a class socket waits at most a few seconds on an outage, then says so
        # A bounded pool that queues callers: 100 students joining at once share POOL
        # connections instead of opening 100 (which, on a busy machine, timed out connecting).
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=POOL, timeout=5, socket_connect_timeout=2, socket_timeout=5,
            retry=Retry(NoBackoff(), 0),
        )  # fmt: skip
        self.redis = aioredis.Redis(connection_pool=pool)
        # every script but "create" first checks that the class exists
        self.scripts = {name: self.redis.register_script(
                            PREAMBLE + ("" if name == "create" else EXISTS) + body)
                        for name, body in SCRIPTS.items()}  # fmt: skip
        self.miss_script = self.redis.register_script(MISS)
        self._listener: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def _run(self, name: str, code: str, *args: Any) -> bytes:
        keys = [f"{PREFIX}c:{code}", f"{PREFIX}c:{code}:m", f"{PREFIX}c:{code}:a",
                f"{PREFIX}classes", f"{PREFIX}c:{code}:n"]  # fmt: skip
        idle_ms = max(1, int(self.settings.class_idle_seconds * 1000))
        argv = [int(time.time() * 1000), idle_ms, CHANNEL + code, code, *args]
        try:
            out = await self.scripts[name](keys=keys, args=argv)
        except (RedisError, OSError, TimeoutError) as exc:
            raise HubUnavailableError(f"{UNREACHABLE}: {type(exc).__name__}") from None
        if out == b"gone":
            raise ClassGoneError(code)
        return out

    async def create(self, code: str, digest: str) -> bool:
        out = await self._run("create", code, digest, self.settings.max_classes,
                              dumps(initial_state()))  # fmt: skip
        if out == b"full":
            raise LimitError(f"the server holds its limit of {self.settings.max_classes} classes")
        return out == b"ok"

    async def digest(self, code: str) -> str | None:
        try:
            out = await self.redis.hget(f"{PREFIX}c:{code}", "digest")
        except (RedisError, OSError, TimeoutError) as exc:
            raise HubUnavailableError(f"{UNREACHABLE}: {type(exc).__name__}") from None
        return _text(out) if out is not None else None

    async def join(self, code: str, member: str | None, tab: str | None = None) -> dict[str, Any]:
        out = await self._run("join", code, member or "", self.settings.max_class_members,
                              tab or "")  # fmt: skip
        if out == b"full":
            raise LimitError(
                f"the class is full: at most {self.settings.max_class_members} students"
            )
        snapshot: dict[str, Any] = orjson.loads(out)
        return snapshot

    async def leave(self, code: str, member: str) -> None:
        await self._run("leave", code, member)

    async def status(self, code: str, member: str, following: bool) -> None:
        await self._run("status", code, member, "1" if following else "0")

    async def set_state(self, code: str, fields: dict[str, Any], recall: bool = False) -> None:
        await self._run("state", code, dumps(fields), "1" if recall else "0")

    async def open_poll(
        self, code: str, question: str, choices: list[str], hide: list[str] | None = None
    ) -> None:
        poll: dict[str, Any] = {"question": question, "choices": choices}
        if hide:  # cjson would write an empty list as {}
            poll["hide"] = hide
        body = dumps(poll)
        await self._run("poll", code, body, len(choices))

    async def answer(self, code: str, member: str, poll: int, choice: int) -> None:
        out = await self._run("answer", code, member, poll, choice)
        if out == b"closed":
            raise ProtocolError(f"poll {poll} is not open")
        if out == b"choice":
            raise ProtocolError("choice is not one of the poll's choices")
        if out == b"member":
            raise ProtocolError("only a student in the class may answer")

    async def take_over(self, code: str, tab: str) -> None:
        await self._run("take_over", code, tab)

    async def driver(self, code: str) -> str | None:
        try:
            out = await self.redis.hget(f"{PREFIX}c:{code}", "driver")
        except (RedisError, OSError, TimeoutError) as exc:
            raise HubUnavailableError(f"{UNREACHABLE}: {type(exc).__name__}") from None
        return _text(out) or None if out is not None else None

    async def relay(self, code: str, frame: dict[str, Any]) -> None:
        await self._run("relay", code, dumps(frame))

    async def close_poll(self, code: str) -> None:
        if await self._run("close_poll", code) == b"none":
            raise ProtocolError("no poll is open")

    async def end(self, code: str, reason: str) -> None:
        await self._run("end", code, dumps({"type": "ended", "reason": reason}))

    async def alive(self, code: str, keep: bool) -> bool:
        try:
            await self._run("alive", code, "1" if keep else "0")
        except ClassGoneError:
            return False
        return True

    async def miss(self, ip: str) -> None:
        window_ms = max(1, int(self.settings.class_miss_window * 1000))
        try:
            await self.miss_script(keys=[f"{PREFIX}miss:{ip}"], args=[window_ms])
        except (RedisError, OSError, TimeoutError) as exc:
            raise HubUnavailableError(f"{UNREACHABLE}: {type(exc).__name__}") from None

    async def misses(self, ip: str) -> int:
        try:
            out = await self.redis.get(f"{PREFIX}miss:{ip}")
        except (RedisError, OSError, TimeoutError) as exc:
            raise HubUnavailableError(f"{UNREACHABLE}: {type(exc).__name__}") from None
        return int(out) if out is not None else 0

    async def ready(self) -> None:
        """One pattern subscription per process, confirmed before the first join."""
        if self._listener is not None and not self._listener.done():
            return
        async with self._lock:
            if self._listener is not None and not self._listener.done():
                return
            pubsub = self.redis.pubsub()
            try:
                await pubsub.psubscribe(CHANNEL + "*")
                deadline = time.monotonic() + 5
                while True:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is not None and msg["type"] == "psubscribe":
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError("no subscription confirmed")
            except (RedisError, OSError, TimeoutError) as exc:
                await _quietly_close(pubsub)
                raise HubUnavailableError(f"{UNREACHABLE}: {type(exc).__name__}") from None
            self._listener = asyncio.create_task(self._listen(pubsub))

    async def _listen(self, pubsub: Any) -> None:
        """Frames from Redis to this process's sockets. Every message already received is
        handed out before the sockets' senders run again (up to BATCH): a process that fell
        behind then queues several states per socket at once, and each socket skips to the
        newest, instead of working through the backlog one message per turn of the loop."""
        try:
            while True:
                try:
                    msg = await pubsub.get_message(timeout=30.0)
                except (TimeoutError, RedisTimeoutError):  # a quiet channel: not an outage
                    continue
                for _ in range(BATCH):
                    if msg is None:
                        break
                    self._hand_out(msg)
                    msg = await pubsub.get_message(timeout=0.0)  # only what has arrived
        except (RedisError, OSError) as exc:
            detail = f"{UNREACHABLE}: lost the connection ({type(exc).__name__}); rejoin shortly"
            self.fanout.close_all(1011, dumps({"type": "error", "detail": detail}))
        finally:
            await _quietly_close(pubsub)

    def _hand_out(self, msg: dict[str, Any]) -> None:
        if msg["type"] != "pmessage":
            return
        code = msg["channel"][len(CHANNEL) :].decode()
        audience, rev, frame = msg["data"].split(b"|", 2)
        if audience.decode() in AUDIENCE_CODES:
            self.fanout.deliver(code, audience.decode(), int(rev), frame)

    async def aclose(self) -> None:
        await super().aclose()
        await cancel(self._listener)
        await self.redis.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _quietly_close(pubsub: Any) -> None:
    try:
        await asyncio.wait_for(pubsub.aclose(), 2)
    except Exception:  # noqa: BLE001, S110 - closing a connection that is already broken
        pass


class RedisModelStore(ModelStore):
    def __init__(self, hub: RedisHub, ttl: int, budget: int) -> None:
        self.redis, self.ttl, self.budget = hub.redis, ttl, budget

    async def put(self, key: str, data: bytes) -> None:
        if len(data) > self.budget:
            raise LimitError(f"the model is {len(data)} bytes, above the store's {self.budget}")
        try:
            await self.redis.set(f"{PREFIX}model:{key}", data, ex=self.ttl)
        except (RedisError, OSError, TimeoutError) as exc:
            raise HubUnavailableError(f"{UNREACHABLE}: {type(exc).__name__}") from None

    async def get(self, key: str) -> bytes | None:
        try:
            out = await self.redis.getex(f"{PREFIX}model:{key}", ex=self.ttl)
        except (RedisError, OSError, TimeoutError) as exc:
            raise HubUnavailableError(f"{UNREACHABLE}: {type(exc).__name__}") from None
        if out is None:
            return None
        return out if isinstance(out, bytes) else out.encode()
