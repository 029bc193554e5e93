"""The Redis hub (LSTMX_REDIS_URL=redis://host:port/0): classes shared by every server process.

Per class code C, with the idle time as their time to live (renewed by every operation):
    lstmx:c:C     hash: digest, seq, rev, state (JSON), poll (JSON or ""), poll_id, poll_n, polls
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
from .hub import (
    AUDIENCES,
    ClassGoneError,
    Hub,
    HubUnavailableError,
    LimitError,
    ProtocolError,
    cancel,
    dumps,
    initial_state,
)
from .models import ModelStore

PREFIX = "lstmx:"
CHANNEL = PREFIX + "ch:"
UNREACHABLE = "the class service (Redis) is unreachable"
POOL = 16  # connections to Redis per process (the pub/sub one aside)
BATCH = 1000  # pub/sub messages handed out at most before the sockets' senders run
AUDIENCE_CODES = set(AUDIENCES.values())

# KEYS: room, members, answers, classes, sockets. ARGV: now (ms), idle (ms), channel, code,
# op args...
PREAMBLE = """
local room, mem, ans, all, socks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, idle, chan, code = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local function touch()
  redis.call('PEXPIRE', room, idle)
  redis.call('PEXPIRE', mem, idle)
  redis.call('PEXPIRE', ans, idle)
  redis.call('PEXPIRE', socks, idle)
  redis.call('ZADD', all, now + idle, code)
end
local function publish(aud, frame)
  local rev = redis.call('HINCRBY', room, 'rev', 1)
  redis.call('PUBLISH', chan, aud .. '|' .. rev .. '|' .. frame)
end
local function counts()
  local vals = redis.call('HVALS', mem)
  local k = 0
  for _, v in ipairs(vals) do if v == '1' then k = k + 1 end end
  return #vals, k
end
local function members_frame()
  local n, k = counts()
  return '{"type":"members","members":' .. n .. ',"following":' .. k ..
         ',"exploring":' .. (n - k) .. '}'
end
local function tally(kind)
  local pid = redis.call('HGET', room, 'poll_id')
  if not pid or pid == '' then return nil end
  local c = {}
  for i = 1, tonumber(redis.call('HGET', room, 'poll_n')) do c[i] = 0 end
  local vals = redis.call('HVALS', ans)
  for _, v in ipairs(vals) do local j = tonumber(v) + 1; c[j] = c[j] + 1 end
  return '{"type":"' .. kind .. '","poll":' .. pid .. ',"counts":[' .. table.concat(c, ',') ..
         '],"answered":' .. #vals .. ',"members":' .. redis.call('HLEN', mem) .. '}'
end
local function members_changed()
  publish('t', members_frame())
  local t = tally('tally')
  if t then publish('t', t) end
end
"""
EXISTS = "if redis.call('EXISTS', room) == 0 then return 'gone' end\n"

SCRIPTS = {
    # ARGV[5] digest, [6] max classes, [7] the initial state
    "create": """
redis.call('ZREMRANGEBYSCORE', all, '-inf', now)
if redis.call('EXISTS', room) == 1 then return 'taken' end
if redis.call('ZCARD', all) >= tonumber(ARGV[6]) then return 'full' end
redis.call('DEL', mem, ans, socks)
redis.call('HSET', room, 'digest', ARGV[5], 'seq', 0, 'rev', 0, 'state', ARGV[7], 'poll', '',
           'poll_id', '', 'poll_n', 0, 'polls', 0)
touch()
return 'ok'
""",
    # ARGV[5] member id ('' for a teacher socket), [6] max members
    "join": """
local member = ARGV[5]
local answer = 'null'
if member ~= '' then
  local known = redis.call('HEXISTS', mem, member) == 1
  if not known and redis.call('HLEN', mem) >= tonumber(ARGV[6]) then return 'full' end
  redis.call('HINCRBY', socks, member, 1)
  redis.call('HSET', mem, member, '1')
  answer = redis.call('HGET', ans, member) or 'null'
  touch()
  members_changed()
else
  touch()
end
local n, k = counts()
local poll = redis.call('HGET', room, 'poll')
if poll == '' then poll = 'null' end
return '{"state":' .. redis.call('HGET', room, 'state') .. ',"members":' .. n ..
       ',"following":' .. k .. ',"poll":' .. poll .. ',"tally":' .. (tally('tally') or 'null') ..
       ',"answer":' .. answer .. ',"rev":' .. redis.call('HGET', room, 'rev') .. '}'
""",
    # ARGV[5] member id
    # (their answer stays in the open poll's tally)
    "leave": """
touch()
if redis.call('HINCRBY', socks, ARGV[5], -1) > 0 then return 'ok' end
redis.call('HDEL', socks, ARGV[5])
redis.call('HDEL', mem, ARGV[5])
members_changed()
return 'ok'
""",
    # ARGV[5] member id, [6] '1' following | '0' exploring
    "status": """
touch()
local old = redis.call('HGET', mem, ARGV[5])
if old and old ~= ARGV[6] then
  redis.call('HSET', mem, ARGV[5], ARGV[6])
  publish('t', members_frame())
end
return 'ok'
""",
    # ARGV[5] the fields to merge (JSON object), [6] '1' recall
    "state": """
local st = cjson.decode(redis.call('HGET', room, 'state'))
for k, v in pairs(cjson.decode(ARGV[5])) do st[k] = v end
st['seq'] = redis.call('HINCRBY', room, 'seq', 1)
local recall = ARGV[6] == '1'
if recall then
  st['mode'] = 'follow'
  for _, id in ipairs(redis.call('HKEYS', mem)) do redis.call('HSET', mem, id, '1') end
end
local s = cjson.encode(st)
redis.call('HSET', room, 'state', s)
touch()
if recall then
  st['recall'] = true
  publish('a', cjson.encode(st))
  publish('t', members_frame())
else
  publish('v', s)
end
return 'ok'
""",
    # ARGV[5] {"question", "choices"} (JSON), [6] number of choices
    "poll": """
local old = tally('poll_closed')
if old then publish('a', old) end
local pid = redis.call('HINCRBY', room, 'polls', 1)
local p = cjson.decode(ARGV[5])
p['type'] = 'poll'
p['poll'] = pid
local pj = cjson.encode(p)
redis.call('DEL', ans)
redis.call('HSET', room, 'poll', pj, 'poll_id', pid, 'poll_n', ARGV[6])
touch()
publish('a', pj)
publish('t', tally('tally'))
return 'ok'
""",
    # ARGV[5] member id, [6] poll id, [7] choice index
    "answer": """
if redis.call('HGET', room, 'poll_id') ~= ARGV[6] then return 'closed' end
if tonumber(ARGV[7]) >= tonumber(redis.call('HGET', room, 'poll_n')) then return 'choice' end
if redis.call('HEXISTS', mem, ARGV[5]) == 0 then return 'member' end
redis.call('HSET', ans, ARGV[5], ARGV[7])
touch()
publish('t', tally('tally'))
return 'ok'
""",
    "close_poll": """
local t = tally('poll_closed')
if not t then return 'none' end
redis.call('HSET', room, 'poll', '', 'poll_id', '')
redis.call('DEL', ans)
touch()
publish('a', t)
return 'ok'
""",
    # ARGV[5] the frame (JSON), for the students
    "relay": """
touch()
publish('s', ARGV[5])
return 'ok'
""",
    # ARGV[5] the "ended" frame
    "end": """
publish('x', ARGV[5])
redis.call('DEL', room, mem, ans, socks)
redis.call('ZREM', all, code)
return 'ok'
""",
    # ARGV[5] '1': count as activity
    "alive": """
if ARGV[5] == '1' then touch() end
return 'ok'
""",
}
MISS = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""


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

    async def join(self, code: str, member: str | None) -> dict[str, Any]:
        out = await self._run("join", code, member or "", self.settings.max_class_members)
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

    async def open_poll(self, code: str, question: str, choices: list[str]) -> None:
        body = dumps({"question": question, "choices": choices})
        await self._run("poll", code, body, len(choices))

    async def answer(self, code: str, member: str, poll: int, choice: int) -> None:
        out = await self._run("answer", code, member, poll, choice)
        if out == b"closed":
            raise ProtocolError(f"poll {poll} is not open")
        if out == b"choice":
            raise ProtocolError("choice is not one of the poll's choices")
        if out == b"member":
            raise ProtocolError("only a student in the class may answer")

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
