"""Classroom mode's server side: protocol.py (errors, frames, delivery to this process's
sockets), hub.py (the interface), memory_hub.py and redis_hub.py (+ redis_scripts.py) its two
backends, models.py the model store, backends.py the choice by LSTMX_REDIS_URL.

Nothing here is imported by the rest of the app except app/api/routes/classes.py: the hub is
made on first use, so the pages and the engine routes never wait on it (or on Redis).
"""

from .backends import make_hub, make_model_store
from .hub import Hub
from .models import ModelStore
from .protocol import (
    ALPHABET,
    ClassGoneError,
    HubUnavailableError,
    LimitError,
    ProtocolError,
    Subscriber,
    token_digest,
)

__all__ = [
    "ALPHABET",
    "ClassGoneError",
    "Hub",
    "HubUnavailableError",
    "LimitError",
    "ModelStore",
    "ProtocolError",
    "Subscriber",
    "make_hub",
    "make_model_store",
    "token_digest",
]
