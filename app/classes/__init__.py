"""Classroom mode's server side: the class hub (in-process or Redis) and the model store.

Nothing here is imported by the rest of the app except app/api/routes/classes.py: the hub is
made on first use, so the pages and the engine routes never wait on it (or on Redis).
"""

from .hub import (
    ALPHABET,
    ClassGoneError,
    Hub,
    HubUnavailableError,
    LimitError,
    ProtocolError,
    Subscriber,
    make_hub,
    token_digest,
)
from .models import ModelStore, make_model_store

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
