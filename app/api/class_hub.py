"""The app's class hub and model store, made on first use (the rest of the app never touches
them, so the pages and the engine routes never wait on Redis), and what the class routes share."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import HTTPConnection

from ..classes import ALPHABET, Hub, ModelStore, make_hub, make_model_store
from ..settings import get_settings

CODE = re.compile(f"^[{ALPHABET}]{{4,6}}$")
KEY = re.compile("^[0-9a-f]{64}$")


def hub_of(app: Any) -> Hub:
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
