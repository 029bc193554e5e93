"""The client messages of WS /ws/class/{code}, validated strictly (no coercion, no extra
fields, every string and list capped) before anything is applied. routes/classes.py documents
the protocol."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from .schemas import Strict

MAX_URL = 4096  # the teacher's page and its whole URL state
MAX_QUESTION, MAX_CHOICE, MAX_CHOICES = 500, 200, 8
# a path on this server ("/compare?T=200"): never another site ("//evil", "https://...")
LOCAL_URL = r"^/([^/\s\\][^\s\\]*)?$"
MODEL_KEY = r"^[0-9a-f]{64}$"  # SHA-256 of a model's canonical JSON (POST /api/models)
MAX_RELAY_FRAMES = 64  # training frames in one relay message


class Hello(BaseModel):
    model_config = Strict
    type: Literal["hello"]
    role: Literal["student", "teacher"]
    token: str | None = Field(None, max_length=128, description="the teacher's secret")
    member: str | None = Field(
        None, pattern=r"^[0-9a-f]{32}$",
        description="a student's id, kept by the tab: a page change is the same student",
    )  # fmt: skip
    tab: str | None = Field(
        None, pattern=r"^[0-9a-f]{32}$",
        description="the teacher's tab, kept across its pages: one tab drives, others view",
    )  # fmt: skip


class StateIn(BaseModel):
    """The teacher's view; fields left out keep their value. `seq` is the server's to set."""

    model_config = Strict
    type: Literal["state"]
    url: str | None = Field(None, max_length=MAX_URL, pattern=LOCAL_URL)
    mode: Literal["follow", "explore"] | None = None
    playing: bool | None = None
    model_key: str | None = Field(
        None, pattern=MODEL_KEY, description="the page's model by its model store key, or null"
    )
    seq: int | None = Field(None, description="ignored: the server numbers states")


class RecallIn(BaseModel):
    model_config = Strict
    type: Literal["recall"]


class TakeOverIn(BaseModel):
    """From a viewer tab of the teacher's browser: drive the class from this tab."""

    model_config = Strict
    type: Literal["take_over"]


class EndIn(BaseModel):
    model_config = Strict
    type: Literal["end"]


class PollIn(BaseModel):
    model_config = Strict
    type: Literal["poll"]
    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    choices: list[Annotated[str, Field(min_length=1, max_length=MAX_CHOICE)]] = Field(
        min_length=2, max_length=MAX_CHOICES
    )
    hide: list[Literal["i", "f", "g", "o", "r", "z", "n", "c", "h"]] = Field(
        [], max_length=9,
        description="what the question is about: every screen hides its reading while it is open",
    )  # fmt: skip


class ClosePollIn(BaseModel):
    model_config = Strict
    type: Literal["close_poll"]


class AnswerIn(BaseModel):
    model_config = Strict
    type: Literal["answer"]
    poll: int = Field(ge=1, le=2**31)
    choice: int = Field(ge=0, lt=MAX_CHOICES, description="index into the poll's choices")


class StatusIn(BaseModel):
    model_config = Strict
    type: Literal["status"]
    following: bool


class RelayFrame(BaseModel):
    """One frame of the teacher's training (WS /ws/train) for one of its networks; its other
    fields pass as they are (the whole message stays within class_message_bytes). A snapshot
    carries the key of its trace (POST /api/classes/{code}/snapshots), not the trace."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)
    cell: Literal["lstm", "gru", "rnn"]
    type: Literal["start", "queued", "progress", "eval", "snapshot", "sample", "paused", "resumed",
                  "done", "error"]  # fmt: skip

    @model_validator(mode="after")
    def _snapshot_by_key(self) -> RelayFrame:
        extra = self.model_extra or {}
        key = extra.get("key")
        if self.type == "snapshot" and not (isinstance(key, str) and re.fullmatch(MODEL_KEY, key)):
            raise ValueError("a relayed snapshot names its trace by key (64 hex digits)")
        if "trace" in extra:
            raise ValueError("a trace is stored (POST /api/classes/{code}/snapshots), not relayed")
        return self


class RelayIn(BaseModel):
    """What the teacher's /train page receives, passed on to the students' pages, which draw
    it as their own: a training runs once, on the teacher's page."""

    model_config = Strict
    type: Literal["relay"]
    run: str = Field(pattern=r"^[0-9a-z]{1,16}$", description="the teacher's run: a new one resets")
    frames: list[RelayFrame] = Field(min_length=1, max_length=MAX_RELAY_FRAMES)
    replay: int | None = Field(
        None, ge=1, le=10_000,
        description="part k of the run so far, resent for a student who joined mid-run",
    )  # fmt: skip


ClientMessage = Annotated[
    StateIn
    | RecallIn
    | TakeOverIn
    | EndIn
    | PollIn
    | ClosePollIn
    | AnswerIn
    | StatusIn
    | RelayIn
    | Hello,
    Field(discriminator="type"),
]
MESSAGE = TypeAdapter(ClientMessage)
HELLO = TypeAdapter(Hello)
TEACHER_ONLY = {"state", "recall", "end", "poll", "close_poll", "relay"}
STUDENT_ONLY = {"answer", "status"}
