"""Classroom mode: the teacher leads, every student's browser follows (DESIGN.md "Classes").

HTTP
    POST /api/classes            -> 201 {"code": "K7QXM", "token": "...", "join_url": "/c/K7QXM"}
                                    503 at max_classes (or Redis unreachable)
    GET  /api/classes/{code}     -> {"code", "join_link"} or 404: does the class exist (for the
                                    /join page); join_link is the absolute link the QR code holds
    GET  /api/classes/{code}/qr.svg  QR code of the absolute join link: the request's host, or
                                    this machine's LAN address when that host is loopback
    POST /api/models             a model object (as POST /api/weights answers it, weights inline)
                                 -> {"key": sha256 of its canonical JSON}
    GET  /api/models/{key}       -> the model, or 404 "expired"
Unknown codes count against the caller's address: class_code_misses in class_miss_window
seconds, then 429 (HTTP) or an error frame and close 1008 (WebSocket), known codes included.

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
import hashlib
import hmac
import io
import re
import secrets
import socket
import time
from typing import Any

import orjson
import segno
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect

from ...classes import (
    ALPHABET,
    ClassGoneError,
    Hub,
    HubUnavailableError,
    LimitError,
    ModelStore,
    ProtocolError,
    Subscriber,
    make_hub,
    make_model_store,
    token_digest,
)
from ...classes.hub import Close, cancel, dumps, ended_frame
from ...engine.params import model_params
from ...settings import Settings, get_settings
from .. import wsutil
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
from ..errors import RESPONSES, RequestError, clean_errors
from ..middleware import OffLoopJSONRoute
from ..schemas import ModelIn
from ..wsutil import ClientGoneError

router = APIRouter(tags=["classes"], route_class=OffLoopJSONRoute)
CODE = re.compile(f"^[{ALPHABET}]{{4,6}}$")
KEY = re.compile("^[0-9a-f]{64}$")
HELLO_SECONDS = 10.0
_doc = {"content": {"application/json": {"schema": {"type": "object"}}}}
LOOKUP = {**RESPONSES,  # answers of the routes that look a class or a model up
          404: {"description": "No such class (or model: expired)", **_doc},
          429: {"description": "Too many unknown codes from this address", **_doc}}  # fmt: skip


def hub_of(app: Any) -> Hub:
    """The app's hub, made on first use (the rest of the app never touches it)."""
    hub: Hub | None = getattr(app.state, "class_hub", None)
    if hub is None:
        settings = get_settings()
        hub = app.state.class_hub = make_hub(settings)
        app.state.model_store = make_model_store(settings, hub)
    return hub


def models_of(app: Any) -> ModelStore:
    hub_of(app)
    store: ModelStore = app.state.model_store
    return store


def client_ip(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


class ClassCreated(BaseModel):
    code: str
    token: str
    join_url: str


class ModelKey(BaseModel):
    key: str


def _error(status: int, loc: list[str], msg: str, headers: dict[str, str] | None = None) -> Any:
    body = {"detail": [{"loc": loc, "msg": msg, "type": "value_error"}]}
    return JSONResponse(body, status_code=status, headers=headers)


@router.post("/api/classes", status_code=201, summary="Start a class", responses=RESPONSES)
async def create_class(request: Request) -> ClassCreated:
    token = secrets.token_urlsafe(32)  # 256 random bits; only its digest is kept
    try:
        code = await hub_of(request.app).new_class(token_digest(token))
    except (LimitError, HubUnavailableError) as exc:
        raise RequestError(("classes",), str(exc), 503) from None
    return ClassCreated(code=code, token=token, join_url=f"/c/{code}")


async def _known(request: Request, code: str) -> str | Response:
    """The code, upper-cased, if the class exists; otherwise the error answer (a miss)."""
    hub, ip, s = hub_of(request.app), client_ip(request), get_settings()
    try:
        if await hub.locked_out(ip):
            wait = f"{s.class_miss_window:g}"
            return _error(429, ["path", "code"],
                          f"too many unknown class codes from this address: wait {wait} s",
                          {"Retry-After": str(int(s.class_miss_window))})  # fmt: skip
        code = code.upper()
        if CODE.match(code) and await hub.digest(code) is not None:
            return code
        await hub.miss(ip)
    except HubUnavailableError as exc:
        return _error(503, ["classes"], str(exc), {"Retry-After": str(s.retry_after)})
    return _error(404, ["path", "code"], "no class with this code: it may have ended")


@router.get("/api/classes/{code}", summary="Does a class exist; its join link",
            responses=LOOKUP)  # fmt: skip
async def get_class(code: str, request: Request) -> Any:
    known = await _known(request, code)
    if isinstance(known, Response):
        return known
    return {"code": known, "join_link": join_link(request, known)}


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def join_link(request: Request, code: str) -> str:
    """The absolute join link, from the request's own address. A teacher on the laptop that
    serves the class (`python -m app --host 0.0.0.0`) opens http://localhost:8000, which no
    student's device can reach: then the link names this machine's LAN address instead."""
    url = request.base_url
    if url.hostname in LOOPBACK and (lan := lan_address()) is not None:
        url = url.replace(hostname=lan)
    return str(url).rstrip("/") + f"/c/{code}"


def lan_address() -> str | None:
    """The address this machine would use towards a private network (a UDP "connect" sends
    nothing), or None when it has none but loopback."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))
        address = str(s.getsockname()[0])
        if not address.startswith("127."):
            return address
    return None


def qr_svg(url: str) -> bytes:
    """Black on white, 4-module quiet zone, 12 px modules: readable across a classroom."""
    out = io.BytesIO()
    qr = segno.make(url, error="m")
    qr.save(out, kind="svg", scale=12, border=4, dark="#000000", light="#ffffff",
            xmldecl=False, title="Join the class")  # fmt: skip
    return out.getvalue()


@router.get("/api/classes/{code}/qr.svg", summary="QR code of the join link",
            responses={**LOOKUP, 200: {"content": {"image/svg+xml": {}}}},
            response_class=Response)  # fmt: skip
async def class_qr(code: str, request: Request) -> Response:
    known = await _known(request, code)
    if isinstance(known, Response):
        return known
    svg = await run_in_threadpool(qr_svg, join_link(request, known))
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


def canonical_model(model: ModelIn, s: Settings) -> bytes:
    """The model's canonical JSON (sorted keys), once its weights pass the engine's checks."""
    m = model.model_dump()
    if m["weights"] is None:
        raise RequestError(("body", "weights"), "no weights: a seeded model travels in the URL")
    if m["input_size"] is None:
        try:
            m["input_size"] = len(m["weights"]["weight_ih_l0"][0])
        except (KeyError, IndexError, TypeError):
            raise RequestError(("body", "weights"), "no weight_ih_l0 to read D from") from None
    for field, value, limit in (("hidden_size", m["hidden_size"], s.max_hidden),
                                ("num_layers", m["num_layers"], s.max_layers),
                                ("input_size", m["input_size"], s.max_input),
                                ("output_size", m["output_size"] or 0, s.max_input)):  # fmt: skip
        if value > limit:
            raise RequestError(("body", field), f"{field} is {value}, above the limit of {limit}")
    try:
        model_params(m)  # names, shapes and finiteness
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise RequestError(("body", "weights"), f"not a usable model: {exc}") from None
    return orjson.dumps(m, option=orjson.OPT_SORT_KEYS)


@router.post("/api/models", summary="Keep a model for a class; answers its key",
             response_model=ModelKey, responses=RESPONSES)  # fmt: skip
async def post_model(model: ModelIn, request: Request) -> Response:
    """Parsed and validated off the event loop (OffLoopJSONRoute): a model is up to 8 MB."""
    data = await run_in_threadpool(canonical_model, model, get_settings())
    key = hashlib.sha256(data).hexdigest()
    try:
        await models_of(request.app).put(key, data)
    except (LimitError, HubUnavailableError) as exc:
        status = 413 if isinstance(exc, LimitError) else 503
        raise RequestError(("body",), str(exc), status) from None
    return Response(dumps({"key": key}), media_type="application/json")


@router.get("/api/models/{key}", summary="A model kept for a class", responses=LOOKUP)
async def get_model(key: str, request: Request) -> Response:
    if not KEY.match(key):
        return _error(404, ["path", "key"], "not a model key (64 hex digits)")
    try:
        data = await models_of(request.app).get(key)
    except HubUnavailableError as exc:
        return _error(503, ["models"], str(exc), {"Retry-After": str(get_settings().retry_after)})
    if data is None:
        return _error(404, ["path", "key"], "expired: the server no longer holds this model")
    return Response(data, media_type="application/json")


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
        try:
            await hub.subscribe(code, sub)
            snap = await hub.join(code, member)
        except LimitError as exc:
            member = None
            raise _RefusedError(str(exc)) from None
        except ClassGoneError:
            member = None
            raise _RefusedError("unknown class code: the class has ended") from None
        except HubUnavailableError as exc:
            member = None
            raise _RefusedError(str(exc), 1011) from None
        welcome = {"type": "welcome", "role": hello.role, "state": snap["state"],
                   "members": snap["members"], "following": snap["following"],
                   "poll": snap["poll"]}  # fmt: skip
        if hello.role == "teacher":
            welcome["tally"] = snap["tally"]
        else:
            welcome["answer"] = snap["answer"]
        sub.start(snap["rev"], dumps(welcome))
        await _session(ws, hub, code, hello.role, member, sub, s)
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


async def _session(ws: WebSocket, hub: Hub, code: str, role: str, member: str | None,
                   sub: Subscriber, s: Settings) -> None:  # fmt: skip
    """The socket's sender (its queue, in order) and receiver, until either ends."""
    sender = asyncio.create_task(_send_loop(ws, sub))
    receiver = asyncio.create_task(_receive_loop(ws, hub, code, role, member, sub, s))
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


async def _receive_loop(ws: WebSocket, hub: Hub, code: str, role: str, member: str | None,
                        sub: Subscriber, s: Settings) -> None:  # fmt: skip
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
            await _apply(raw, hub, code, role, member, sub)
        except ClassGoneError:
            sub.close(1000, ended_frame("the class has ended"))
            return
        except HubUnavailableError as exc:
            sub.close(1011, dumps({"type": "error", "detail": str(exc)}))
            return


async def _apply(raw: str, hub: Hub, code: str, role: str, member: str | None,
                 sub: Subscriber) -> None:  # fmt: skip
    """One client message: validated, allowed for the role, applied; else an error frame."""
    try:
        msg = MESSAGE.validate_json(raw)
    except ValidationError as exc:
        sub.send(dumps({"type": "error", "detail": clean_errors(exc.errors())}))
        return
    kind = msg.type
    refused = None
    if kind == "hello":
        refused = "already joined: hello is the first message only"
    elif role == "student" and kind in TEACHER_ONLY:
        refused = f"only the teacher may send {kind!r}"
    elif role == "teacher" and kind in STUDENT_ONLY:
        refused = f"only a student may send {kind!r}"
    if refused:
        sub.send(dumps({"type": "error", "detail": refused}))
        return
    try:
        if isinstance(msg, StateIn):
            given = msg.model_dump(include=msg.model_fields_set - {"type", "seq"})
            fields = {k: v for k, v in given.items() if v is not None or k == "model"}
            await hub.set_state(code, fields)
        elif kind == "recall":
            await hub.set_state(code, {}, recall=True)
        elif kind == "end":
            await hub.end(code, "the teacher ended the class")
        elif isinstance(msg, PollIn):
            await hub.open_poll(code, msg.question, msg.choices)
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
