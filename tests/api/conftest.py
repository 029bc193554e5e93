"""Each API test starts with an empty answer cache: a test that changes the engine (by
monkeypatching) must see its own computation, not an answer another test left behind."""

import pytest

from app.main import app


@pytest.fixture(autouse=True)
def empty_answer_cache():
    app.state.cache.clear()
    yield
