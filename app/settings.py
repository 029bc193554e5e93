"""One Settings object from the environment (prefix LSTMX_), with documented defaults.

Every field is LSTMX_<NAME> in the environment (LSTMX_MAX_STEPS=2000, LSTMX_SEND_TIMEOUT=2.5).
The defaults are sized to a few seconds of compute on a 2-core laptop: a T = 2,000, H = 128,
2-layer LSTM trace is well inside them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Settings:
    max_steps: int = 10_000  # T
    max_hidden: int = 512  # H
    max_layers: int = 4  # L
    max_input: int = 256  # D
    max_vocab: int = 100_000  # V, rows of a model's embedding
    max_work: int = 400_000_000  # T·L·H·(H+D): ~ a few seconds of forward + BPTT
    max_answer_numbers: int = 8_000_000  # numbers in one trace answer (~ 8 per T·H·L)
    max_text: int = 10_000  # characters of a text input
    max_clamps: int = 1_000  # clamp entries in one request
    max_body_bytes: int = 8 * 2**20  # JSON request bodies and WebSocket messages
    max_upload_bytes: int = 64 * 2**20  # weight files
    max_concurrent_runs: int = 8  # heavy engine runs at once; beyond: 503 "busy, retry"
    run_queue_seconds: float = 5.0  # a run waits this long for a slot before "busy"
    retry_after: int = 2  # seconds, in the Retry-After header of a 503 busy answer
    send_timeout: float = 10.0  # seconds one WebSocket frame may wait on a client not reading
    max_trainings: int = 3  # trainings at once (one race of three); others queue
    max_train_work: float = 2e10  # steps·batch·T·L·H·(H+D): ~ three minutes on 2 cores
    allowed_hosts: str = "*"  # comma-separated, for TrustedHostMiddleware
    allowed_origins: str = ""  # extra WebSocket origins (host:port), comma-separated
    frame_ancestors: str = "'self'"  # CSP frame-ancestors: who may embed the pages
    # classroom mode (app/classes, routes/classes.py)
    redis_url: str = ""  # "" or memory://: classes in this process; redis://host:port/0: shared
    class_idle_seconds: float = 7200.0  # a class with no message and no teacher socket ends
    class_code_length: int = 5  # characters of a class code (4-6), from 31 without look-alikes
    max_classes: int = 200  # classes at once on this server (or this Redis); beyond: 503
    max_class_members: int = 300  # students in one class; beyond: an error frame, close 1008
    class_message_bytes: int = 8192  # one client message on /ws/class; beyond: an error frame
    class_messages_per_second: float = 40.0  # per socket (a teacher playing sends 30/s)
    class_code_misses: int = 20  # unknown codes (or wrong tokens) per client address ...
    class_miss_window: float = 60.0  # ... in this many seconds; beyond: refused (429 / 1008)
    model_store_bytes: int = 128 * 2**20  # models kept for classes (in-process, LRU)
    model_store_seconds: int = 86_400  # how long Redis keeps a model after its last fetch
    cache_bytes: int = 256 * 2**20  # answers kept for identical requests (a classroom's worth)

    @property
    def max_lists(self) -> int:
        """Lists ("[") a JSON body within the limits can need, with room: rows of a sequence
        and a loss target, clamp step and unit lists, rows of inline weights (both directions
        of every layer, an embedding's rows), "[" in text."""
        weights_rows = 2 * self.max_layers * (9 * self.max_hidden + 8) + self.max_hidden + 8
        weights_rows += self.max_vocab
        return 3 * self.max_steps + self.max_text + 2 * self.max_clamps + weights_rows + 64


@lru_cache
def get_settings() -> Settings:
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = os.environ.get(f"LSTMX_{f.name.upper()}")
        if raw is not None:
            kind = {"int": int, "float": float}.get(str(f.type), f.type)
            values[f.name] = kind(raw) if kind in (int, float) else raw
    return Settings(**values)
