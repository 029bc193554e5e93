"""The model store: a model that is not in the URL (uploaded or trained weights) travels with
a class under the SHA-256 of its canonical JSON; followers fetch it once by that key.

In-process: an LRU within a byte budget (LSTMX_MODEL_STORE_BYTES). With LSTMX_REDIS_URL: Redis
keys with a time to live (LSTMX_MODEL_STORE_SECONDS, renewed by every fetch), so every server
process answers for every model (redis_hub.RedisModelStore; backends.make_model_store chooses).
"""

from __future__ import annotations

from collections import OrderedDict

from .protocol import LimitError


class ModelStore:
    async def put(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    async def get(self, key: str) -> bytes | None:
        """The model's JSON, or None when it was never stored or has been dropped."""
        raise NotImplementedError


class MemoryModelStore(ModelStore):
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.models: OrderedDict[str, bytes] = OrderedDict()  # least recently used first
        self.used = 0

    async def put(self, key: str, data: bytes) -> None:
        if len(data) > self.budget:
            raise LimitError(f"the model is {len(data)} bytes, above the store's {self.budget}")
        old = self.models.pop(key, None)
        self.used -= len(old) if old is not None else 0
        while self.models and self.used + len(data) > self.budget:
            self.used -= len(self.models.popitem(last=False)[1])
        self.models[key] = data
        self.used += len(data)

    async def get(self, key: str) -> bytes | None:
        data = self.models.get(key)
        if data is not None:
            self.models.move_to_end(key)
        return data
