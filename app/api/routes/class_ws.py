"""Classroom mode's socket (DESIGN.md "Classes" and "Class roles").

WS /ws/class/{code} (codes are case-insensitive). Client -> server:
    {"type": "hello", "role": "student", ["member": "<32 hex digits>"]}
    | {"type": "hello", "role": "teacher", "token": "..."}
        first, within 10 s. member: the student's id, which the tab keeps across its pages, so
        a page change (a new socket) is the same student, counted once, with their answer;
        left out, the server makes one for this socket. Then, from the teacher only:
    {"type": "state", "url": "/compare?T=200", "mode": "follow"|"explore", "playing": bool,
     "model": "<model key>"|null}      any field left out keeps its value; url is a path on
                                       this server; a "seq" is ignored (the server numbers)
    {"type": "recall"}                 bring everyone back: a new state, mode "follow"
    {"type": "poll", "question": "...", "choices": ["closed", "partly", "open"]}  (2-8 choices)
    {"type": "close_poll"}
    {"type": "relay", "run": "<id>", "frames": [{"cell": "lstm", "type": "progress", ...}],
     ["replay": k]}                    the teacher's training frames (WS /ws/train; at most 64,
                                       within the message limit), for the students' /train
                                       pages to draw as their own; a new run id starts afresh;
                                       replay: part k of the run so far, sent again when a
                                       student joins mid-run (others have it and skip it)
    {"type": "end"}
    and from students only:
    {"type": "answer", "poll": <poll id>, "choice": <index into choices>}  (a new answer to the
                                       same poll replaces the old one)
    {"type": "status", "following": bool}   false: exploring on their own; true: back
Server -> client:
    {"type": "welcome", "role", "state": <state frame>, "members": n, "following": k,
     "poll": <poll frame>|null, ["tally": <tally frame>|null: teacher only],
     ["answer": this student's choice in the open poll | null: students only]}   first, at once
    {"type": "state", "seq", "url", "mode", "playing", "model", ["recall": true]}   to all, in
        seq order (seq 0, url null: the teacher has not sent a view yet); a state whose seq is
        not above the one applied is stale; "recall": true asks every student to return.
        seq may jump: a socket that is behind skips a state when a newer one is already queued
        for it (a follower shows the latest view, not a backlog); recall states are never
        skipped. model: a key of GET /api/models/{key} (fetch it once; 404: say it expired)
    {"type": "poll", "poll": id, "question", "choices"}              to all
    {"type": "tally", "poll", "counts": [per choice], "answered", "members"}  teacher only, live
    {"type": "poll_closed", "poll", "counts", "answered", "members"} to all
    {"type": "members", "members": n, "following": k, "exploring": n-k}  teacher only, live
    {"type": "answered", "poll", "choice"}   to the student who answered
    {"type": "relay", "run", "frames", ["replay"]}  to the students, as the teacher sent it
                                       (not kept: the teacher's page replays a run to late joiners)
    {"type": "ended", "reason"}              to all, then close 1000 (ended or idle expiry)
    {"type": "error", "detail"}              nothing of the message applied; the socket stays
        open, except: unknown code, wrong token, too many guesses, class full, bad hello
        (close 1008); class service (Redis) unreachable (close 1011)
Members are students only (the teacher's sockets are not counted), each once however many
sockets carry their id; an answer stays in the open poll's tally when its student leaves (a
vote cast counts, and a page change must not lose it), so "answered" may exceed "members". A
socket that falls QUEUE_FRAMES behind, or does not read for the send timeout, is dropped;
nobody else waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from ...classes import (
    ClassGoneError,
    Hub,
    HubUnavailableError,
    LimitError,
    ProtocolError,
    Subscriber,
    token_digest,
)
from ...classes.protocol import Close, cancel, dumps, ended_frame
from ...settings import Settings, get_settings
from .. import wsutil
from ..class_hub import CODE, client_ip, hub_of
from ..class_messages import (
    HELLO,
    MESSAGE,
    STUDENT_ONLY,
    TEACHER_ONLY,
    AnswerIn,
    Hello,
    PollIn,
    RelayIn,
    StateIn,
    StatusIn,
)
from ..errors import clean_errors
from ..wsutil import ClientGoneError

router = APIRouter(tags=["classes"])
HELLO_SECONDS = 10.0
VIEWER = "a viewer: another tab of the teacher's browser drives this class; take it over first"


@dataclass(slots=True)
class _Conn:
    """One class socket: who it is and where its frames go."""

    hub: Hub
    code: str
    role: str  # "teacher" | "student"
    member: str | None  # a student's id
    tab: str | None  # a teacher's tab
    sub: Subscriber


async def _close(ws: WebSocket, code: int = 1000, reason: str = "") -> None:
    """wsutil.close, and quiet when the client has gone (Starlette then raises a disconnect)."""
    with contextlib.suppress(WebSocketDisconnect):
        await wsutil.close(ws, code, reason)


class _RefusedError(Exception):
    def __init__(self, detail: Any, close_code: int = 1008) -> None:
        super().__init__(str(detail))
        self.detail, self.close_code = detail, close_code


class _Bucket:
    """Token bucket: `rate` messages per second, bursts of up to one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate, self.tokens, self.t = rate, max(rate, 1.0), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(max(self.rate, 1.0), self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


async def _receive_text(ws: WebSocket, s: Settings) -> str:
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise _RefusedError("send JSON text frames, not binary ones")
    size = len(text.encode())
    if size > s.class_message_bytes:
        raise _RefusedError(f"message is {size} bytes, above the limit of {s.class_message_bytes}")
    return str(text)


async def _admit(ws: WebSocket, hub: Hub, code: str, s: Settings) -> tuple[Hello, str]:
    """The hello, the code and the token checked; the code upper-cased."""
    try:
        raw = await asyncio.wait_for(_receive_text(ws, s), HELLO_SECONDS)
        hello = HELLO.validate_json(raw)
    except TimeoutError:
        raise _RefusedError(f"no hello within {HELLO_SECONDS:g} s") from None
    except ValidationError as exc:
        raise _RefusedError(clean_errors(exc.errors())) from None
    ip = client_ip(ws)
    try:
        if await hub.locked_out(ip):
            raise _RefusedError("too many unknown class codes from this address: "
                                f"wait {s.class_miss_window:g} s")  # fmt: skip
        code = code.upper()
        digest = await hub.digest(code) if CODE.match(code) else None
        if digest is None:
            await hub.miss(ip)
            raise _RefusedError("unknown class code: check it, or the class has ended")
        if hello.role == "teacher":
            given = token_digest(hello.token or "")
            if not hmac.compare_digest(given, digest):
                await hub.miss(ip)
                raise _RefusedError("wrong token: only the class's teacher may drive it")
    except HubUnavailableError as exc:
        raise _RefusedError(str(exc), 1011) from None
    return hello, code


@router.websocket("/ws/class/{code}")
async def ws_class(ws: WebSocket, code: str) -> None:
    s = get_settings()
    if not wsutil.origin_allowed(ws, s.allowed_origins):
        await ws.close(code=1008, reason="foreign origin")
        return
    await ws.accept()
    hub = hub_of(ws.app)
    sub: Subscriber | None = None
    member: str | None = None
    try:
        hello, code = await _admit(ws, hub, code, s)
        sub = Subscriber(hello.role)
        member = (hello.member or secrets.token_hex(16)) if hello.role == "student" else None
        tab = hello.tab if hello.role == "teacher" else None
        try:
            await hub.subscribe(code, sub)
            snap = await hub.join(code, member, tab)
        except LimitError as exc:
            member = None
            raise _RefusedError(str(exc)) from None
        except ClassGoneError:
            member = None
            raise _RefusedError("unknown class code: the class has ended") from None
        except HubUnavailableError as exc:
            member = None
            raise _RefusedError(str(exc), 1011) from None
        role: str = hello.role
        if role == "teacher" and tab is not None and snap["driver"] not in (None, tab):
            role = "viewer"
        welcome = {"type": "welcome", "role": role, "state": snap["state"],
                   "members": snap["members"], "following": snap["following"],
                   "poll": snap["poll"]}  # fmt: skip
        if hello.role == "teacher":
            welcome["tally"] = snap["tally"]
            welcome["driver"] = snap["driver"]
        else:
            welcome["answer"] = snap["answer"]
        sub.start(snap["rev"], dumps(welcome))
        await _session(ws, _Conn(hub, code, hello.role, member, tab, sub), s)
    except _RefusedError as exc:
        with contextlib.suppress(ClientGoneError):
            await wsutil.send(ws, dumps({"type": "error", "detail": exc.detail}))
        await _close(ws, exc.close_code)
    except (WebSocketDisconnect, ClientGoneError):
        pass
    finally:
        if sub is not None:
            hub.unsubscribe(code, sub)
        if member is not None:
            await _leave(hub, code, member)


_leaving: set[asyncio.Future[None]] = set()  # leaves under way, kept until they finish


async def _leave(hub: Hub, code: str, member: str) -> None:
    """The student leaves the class even when this handler is being cancelled (shutdown, a
    test client closing): the counts and tallies of everyone else depend on it."""

    async def leave() -> None:
        with contextlib.suppress(ClassGoneError, HubUnavailableError):
            await hub.leave(code, member)

    task = asyncio.ensure_future(leave())
    _leaving.add(task)
    task.add_done_callback(_leaving.discard)
    await asyncio.shield(task)


async def _session(ws: WebSocket, conn: _Conn, s: Settings) -> None:
    """The socket's sender (its queue, in order) and receiver, until either ends."""
    sender = asyncio.create_task(_send_loop(ws, conn.sub))
    receiver = asyncio.create_task(_receive_loop(ws, conn, s))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel(receiver)
        if not sender.done():  # the receiver ended (the client left): nothing more to send
            await cancel(sender)
            await _close(ws)


async def _send_loop(ws: WebSocket, sub: Subscriber) -> None:
    """The socket's frames in order, each bounded by the send timeout. asyncio.timeout rather
    than wsutil.send's wait_for: no task per frame (every state goes to every follower)."""
    timeout = get_settings().send_timeout
    while True:
        item = await sub.next()
        if isinstance(item, Close):
            if item.frame is not None:
                with contextlib.suppress(ClientGoneError):
                    await wsutil.send(ws, item.frame)
            await _close(ws, item.code, item.reason)
            return
        try:
            async with asyncio.timeout(timeout):
                await ws.send_text(item.decode())
        except TimeoutError:
            await wsutil.abort(ws)
            return
        except (WebSocketDisconnect, RuntimeError, OSError):
            return


async def _receive_loop(ws: WebSocket, conn: _Conn, s: Settings) -> None:
    sub = conn.sub
    bucket = _Bucket(s.class_messages_per_second)
    while True:
        try:
            raw = await _receive_text(ws, s)
        except _RefusedError as exc:
            sub.send(dumps({"type": "error", "detail": exc.detail}))
            continue
        except (WebSocketDisconnect, RuntimeError):
            return
        if not bucket.take():
            rate = f"{s.class_messages_per_second:g}"
            sub.send(dumps({"type": "error", "detail": f"more than {rate} messages/s: dropped"}))
            continue
        try:
            await _apply(raw, conn)
        except ClassGoneError:
            sub.close(1000, ended_frame("the class has ended"))
            return
        except HubUnavailableError as exc:
            sub.close(1011, dumps({"type": "error", "detail": str(exc)}))
            return


async def _apply(raw: str, conn: _Conn) -> None:
    """One client message: validated, allowed for the role, applied; else an error frame."""
    hub, code, member, sub = conn.hub, conn.code, conn.member, conn.sub
    try:
        msg = MESSAGE.validate_json(raw)
    except ValidationError as exc:
        sub.send(dumps({"type": "error", "detail": clean_errors(exc.errors())}))
        return
    kind = msg.type
    refused = None
    if kind == "hello":
        refused = "already joined: hello is the first message only"
    elif conn.role == "student" and kind in TEACHER_ONLY | {"take_over"}:
        refused = f"only the teacher may send {kind!r}"
    elif conn.role == "teacher" and kind in STUDENT_ONLY:
        refused = f"only a student may send {kind!r}"
    elif kind == "take_over" and conn.tab is None:
        refused = "take_over needs the tab's id in the hello"
    elif conn.role == "teacher" and kind in TEACHER_ONLY and not await hub.drives(code, conn.tab):
        refused = f"{kind!r} refused: this tab is {VIEWER}"
    if refused:
        sub.send(dumps({"type": "error", "detail": refused}))
        return
    try:
        if isinstance(msg, StateIn):
            given = msg.model_dump(include=msg.model_fields_set - {"type", "seq"})
            fields = {k: v for k, v in given.items() if v is not None or k == "model_key"}
            await hub.set_state(code, fields)
        elif kind == "recall":
            await hub.set_state(code, {}, recall=True)
        elif kind == "take_over" and conn.tab is not None:
            await hub.take_over(code, conn.tab)
        elif kind == "end":
            await hub.end(code, "the teacher ended the class")
        elif isinstance(msg, PollIn):
            await hub.open_poll(code, msg.question, msg.choices, list(msg.hide))
        elif kind == "close_poll":
            await hub.close_poll(code)
        elif isinstance(msg, RelayIn):
            frames = [f.model_dump() for f in msg.frames]
            out: dict[str, Any] = {"type": "relay", "run": msg.run, "frames": frames}
            if msg.replay is not None:
                out["replay"] = msg.replay
            await hub.relay(code, out)
        elif isinstance(msg, AnswerIn) and member is not None:
            await hub.answer(code, member, msg.poll, msg.choice)
            sub.send(dumps({"type": "answered", "poll": msg.poll, "choice": msg.choice}))
        elif isinstance(msg, StatusIn) and member is not None:
            await hub.status(code, member, msg.following)
    except ProtocolError as exc:
        sub.send(dumps({"type": "error", "detail": str(exc)}))
