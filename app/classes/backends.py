"""The hub and the model store for LSTMX_REDIS_URL: empty or memory:// is the in-process
pair; redis://, rediss:// or unix:// the Redis pair (redis is imported only when it is used)."""

from __future__ import annotations

from ..settings import Settings
from .hub import Hub
from .memory_hub import MemoryHub
from .models import MemoryModelStore, ModelStore


def _uses_redis(settings: Settings) -> bool:
    return settings.redis_url.strip() not in ("", "memory://")


def make_hub(settings: Settings) -> Hub:
    url = settings.redis_url.strip()
    if url in ("", "memory://"):
        return MemoryHub(settings)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis_hub import RedisHub

        return RedisHub(settings, url)
    raise ValueError(f"LSTMX_REDIS_URL must be redis://host:port/db or memory://, got {url!r}")


def make_model_store(settings: Settings, hub: Hub) -> ModelStore:
    if _uses_redis(settings):
        from .redis_hub import RedisHub, RedisModelStore

        assert isinstance(hub, RedisHub)
        return RedisModelStore(hub, settings.model_store_seconds, settings.model_store_bytes)
    return MemoryModelStore(settings.model_store_bytes)
