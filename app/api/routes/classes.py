"""Classroom mode: the teacher leads, every student's browser follows (DESIGN.md "Classes").

HTTP
    POST /api/classes            -> 201 {"code": "K7QXM", "token": "...", "join_url": "/c/K7QXM"}
                                    503 at max_classes (or Redis unreachable)
    GET  /api/classes/{code}     -> {"code", "join_link", "reachable"} or 404: does the class
                                    exist (for the /join page); join_link is the absolute link
                                    the QR code holds; reachable: whether this server answers
                                    on that link's address (false when it listens on loopback
                                    only, so no other machine can open it)
    GET  /api/classes/{code}/qr.svg  QR code of the absolute join link: the request's host, or
                                    this machine's LAN address when that host is loopback
    POST /api/models             a model object (as POST /api/weights answers it, weights inline)
                                 -> {"key": sha256 of its canonical JSON}
    GET  /api/models/{key}       -> the model (or snapshot), or 404 "expired"
    POST /api/classes/{code}/snapshots  (header X-Class-Token: the teacher's token) a training
                                 snapshot's trace (WS /ws/train's "snapshot" frame) -> {"key"}:
                                 kept in the model store, too large for a class message; the
                                 teacher relays the key, the students' Train pages fetch it
Unknown codes count against the caller's address: class_code_misses in class_miss_window
seconds, then 429 (HTTP) or an error frame and close 1008 (WebSocket), known codes included.
The class socket, WS /ws/class/{code}, is class_ws.py (included here).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
import secrets
import socket
import time
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
import segno
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ...classes import HubUnavailableError, LimitError, token_digest
from ...classes.protocol import dumps
from ...engine.params import model_params
from ...settings import Settings, get_settings
from ..class_hub import CODE, KEY, client_ip, hub_of, models_of
from ..errors import RESPONSES, RequestError
from ..middleware import OffLoopJSONRoute
from ..schemas import ModelIn
from . import class_ws

router = APIRouter(tags=["classes"], route_class=OffLoopJSONRoute)
router.include_router(class_ws.router)
_doc = {"content": {"application/json": {"schema": {"type": "object"}}}}
LOOKUP = {**RESPONSES,  # answers of the routes that look a class or a model up
          404: {"description": "No such class (or model: expired)", **_doc},
          429: {"description": "Too many unknown codes from this address", **_doc}}  # fmt: skip


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
    link = join_link(request, known)
    return {"code": known, "join_link": link, "reachable": await reachable(link)}


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


PROBE_SECONDS = 0.5
_probed: dict[tuple[str, int], tuple[bool, float]] = {}  # (host, port) -> (answer, when)


async def reachable(link: str) -> bool:
    """Whether this server answers on the join link's address: a TCP connection to it from this
    machine. A server bound to 127.0.0.1 refuses one to its LAN address; bound to 0.0.0.0 it
    accepts. (A firewall may still stand between it and the room: the README says so.) The
    answer is kept a few seconds: every page of the teacher's asks."""
    url = urlsplit(link)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    if host in LOOPBACK or host.startswith("127."):
        return False
    known = _probed.get((host, port))
    if known is not None and time.monotonic() - known[1] < 5:
        return known[0]
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), PROBE_SECONDS)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        answer = True
    except (OSError, TimeoutError):
        answer = False
    _probed[(host, port)] = (answer, time.monotonic())
    return answer


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


async def _keep(request: Request, data: bytes) -> Response:
    """Keep canonical bytes (a model, a snapshot) in the model store under their sha256."""
    key = hashlib.sha256(data).hexdigest()
    try:
        await models_of(request.app).put(key, data)
    except (LimitError, HubUnavailableError) as exc:
        status = 413 if isinstance(exc, LimitError) else 503
        raise RequestError(("body",), str(exc), status) from None
    return Response(dumps({"key": key}), media_type="application/json")


@router.post("/api/models", summary="Keep a model for a class; answers its key",
             response_model=ModelKey, responses=RESPONSES)  # fmt: skip
async def post_model(model: ModelIn, request: Request) -> Response:
    """Parsed and validated off the event loop (OffLoopJSONRoute): a model is up to 8 MB."""
    data = await run_in_threadpool(canonical_model, model, get_settings())
    return await _keep(request, data)


Rows = list[list[float | None]]  # (T, H) or (T, D): null where a number was not finite


class SnapshotLayerIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    gates: dict[Literal["i", "f", "g", "o", "r", "z", "n"], Rows]
    c: Rows | None = None
    h: Rows


class SnapshotIn(BaseModel):
    """The parts of a training snapshot's trace that a Train page draws."""

    model_config = ConfigDict(extra="ignore", strict=True)
    cell: Literal["lstm", "gru", "rnn"]
    steps: int = Field(ge=1, le=10_000)
    hidden_size: int | list[int]
    num_layers: int = Field(ge=1, le=8)
    gates: list[str] = Field(max_length=8)
    inputs: Rows
    layers: list[SnapshotLayerIn] = Field(min_length=1, max_length=16)


def canonical_snapshot(snap: SnapshotIn) -> bytes:
    return orjson.dumps(snap.model_dump(), option=orjson.OPT_SORT_KEYS)


@router.post("/api/classes/{code}/snapshots", summary="Keep a training snapshot for a class",
             response_model=ModelKey,
             responses={**LOOKUP, 403: {"description": "Not its teacher", **_doc}})  # fmt: skip
async def post_snapshot(code: str, snap: SnapshotIn, request: Request) -> Response:
    """Only the class's teacher (its token in X-Class-Token) stores snapshots for it."""
    known = await _known(request, code)
    if isinstance(known, Response):
        return known
    digest = await hub_of(request.app).digest(known)
    given = token_digest(request.headers.get("x-class-token", ""))
    if digest is None or not hmac.compare_digest(given, digest):
        return _error(403, ["header", "x-class-token"], "only the class's teacher keeps snapshots")
    data = await run_in_threadpool(canonical_snapshot, snap)
    return await _keep(request, data)


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
    # the key is the sha256 of these bytes: a browser may keep them (every stop of a lesson and
    # every reload of a student's page would otherwise fetch a model of up to 8 MB again)
    immutable = "private, max-age=86400, immutable"
    return Response(data, media_type="application/json", headers={"cache-control": immutable})
