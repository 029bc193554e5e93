"""The answer cache: identical requests computed once (even together), LRU by bytes, errors
never kept, counts in /healthz?detail, keys that tell different answers apart."""

import asyncio
import json
import threading

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api import runs
from app.api.cache import Answer, AnswerCache, request_key
from app.api.routes import compare as compare_route
from app.api.routes import trace as trace_route
from app.api.routes.compare import CompareRequest
from app.api.schemas import TraceRequest
from app.main import app

client = TestClient(app)
BODY = {"model": {"hidden_size": 4, "init": {"seed": 1}}, "input": {"text": "hello"}}


def counting(monkeypatch, module, name="build_run", gate=None):
    """Count the calls of `module.name`; with a gate, each call waits for it (in its worker
    thread) so that requests arriving meanwhile find the computation under way."""
    calls = []
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(1)
        if gate is not None:
            assert gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


async def concurrent_posts(path, body, n):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        return await asyncio.gather(*(c.post(path, json=body) for _ in range(n)))


def test_identical_requests_arriving_together_are_computed_once(monkeypatch):
    gate = threading.Event()
    calls = counting(monkeypatch, trace_route, gate=gate)

    async def burst():
        task = asyncio.ensure_future(concurrent_posts("/api/trace", BODY, 8))
        while not calls:  # the first has started computing; the others arrive meanwhile
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        gate.set()
        return await task

    answers = asyncio.run(burst())
    assert len(calls) == 1
    assert {r.status_code for r in answers} == {200}
    assert len({r.content for r in answers}) == 1
    stats = app.state.cache.stats()
    assert stats["misses"] == 1 and stats["waits"] == 7 and stats["entries"] == 1


def test_a_repeated_request_is_answered_from_the_cache_equal_to_the_first(monkeypatch):
    calls = counting(monkeypatch, trace_route)
    first = client.post("/api/trace", json=BODY)
    again = client.post("/api/trace", json={**BODY, "live": False, "frames": "step"})
    assert first.status_code == again.status_code == 200
    assert first.content == again.content and len(calls) == 1
    assert app.state.cache.stats()["hits"] == 1


def test_websocket_streams_are_cached_and_equal_to_a_fresh_computation(monkeypatch):
    calls = counting(monkeypatch, trace_route)

    def stream():
        with client.websocket_connect("/ws/trace") as ws:
            ws.send_text(json.dumps(BODY))
            frames = [ws.receive_text()]
            while not frames[-1].startswith('{"type":"end"'):
                frames.append(ws.receive_text())
        return frames

    first, second = stream(), stream()
    assert first == second and len(first) == 1 + 5 + 5 + 1 and len(calls) == 1


def test_batched_frames_hold_the_same_rows_as_the_per_step_frames():
    body = {"model": {"hidden_size": 3, "num_layers": 2},
            "input": {"task": {"name": "sine", "length": 40}}}  # fmt: skip
    post = client.post("/api/trace", json=body).json()
    with client.websocket_connect("/ws/trace") as ws:
        ws.send_text(json.dumps({**body, "frames": "batch"}))
        frames = [json.loads(ws.receive_text())]
        while frames[-1]["type"] != "end":
            frames.append(json.loads(ws.receive_text()))
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "start" and kinds[-1] == "end" and set(kinds[1:-1]) == {"steps", "grads"}
    for k, want in enumerate(post["layers"]):
        steps = [f for f in frames if f["type"] == "steps"]
        grads = sorted((f for f in frames if f["type"] == "grads"), key=lambda f: f["t"])
        assert [row for f in steps for row in f["layers"][k]["gates"]["f"]] == want["gates"]["f"]
        assert [row for f in steps for row in f["layers"][k]["h"]] == want["h"]
        assert [row for f in grads for row in f["layers"][k]["grad_c"]] == want["grad_c"]
        norms = [v for f in grads for v in f["layers"][k]["grad_h_log10_norm"]]
        assert norms == want["grad_h_log10_norm"]
    assert frames[-1]["loss"] == post["loss"]


def test_errors_are_not_cached(monkeypatch):
    real = runs.build_run
    failures = [RuntimeError("engine broke")]

    def fail_once(*args, **kwargs):
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(trace_route, "build_run", fail_once)
    with pytest.raises(RuntimeError):  # TestClient re-raises the server's 500
        client.post("/api/trace", json=BODY)
    assert app.state.cache.stats()["entries"] == 0
    assert client.post("/api/trace", json=BODY).status_code == 200  # computed again


def test_a_limit_error_reaches_every_waiter_and_is_not_kept():
    body = {"model": {"hidden_size": 9999}, "input": {"text": "ab"}}
    answers = asyncio.run(concurrent_posts("/api/trace", body, 3))
    assert [r.status_code for r in answers] == [422] * 3
    assert app.state.cache.stats()["entries"] == 0


def test_the_lab_computes_identical_settings_once(monkeypatch):
    calls = counting(monkeypatch, compare_route, name="compare")
    body = {"input": {"task": {"name": "random", "length": 20}}, "hidden_size": 4}
    first = client.post("/api/compare", json=body)
    second = client.post("/api/compare", json=body)
    assert first.status_code == 200 and first.content == second.content and len(calls) == 1
    client.post("/api/compare", json={**body, "seed": 1})
    assert len(calls) == 2


def test_healthz_detail_counts_hits_misses_entries_and_bytes():
    client.post("/api/trace", json=BODY)
    client.post("/api/trace", json=BODY)
    cache = client.get("/healthz?detail=true").json()["cache"]
    assert cache["misses"] == 1 and cache["hits"] == 1 and cache["entries"] == 1
    with client.stream("POST", "/api/trace", json=BODY) as r:  # as sent: gzipped, as kept
        body_bytes = len(b"".join(r.iter_raw()))
    assert body_bytes <= cache["bytes"] < body_bytes + 10_000  # the answer and a little more


def key(body, model=TraceRequest, kind="post"):
    return request_key(model.model_validate(body), kind)


def test_keys_differ_with_anything_that_changes_the_answer():
    weights = {"weight_ih_l0": [[1.0]], "weight_hh_l0": [[0.5]]}
    other = {"weight_ih_l0": [[1.0]], "weight_hh_l0": [[0.25]]}
    base = {"model": {"cell": "rnn", "hidden_size": 1, "weights": weights},
            "input": {"sequence": [[1.0]]}}  # fmt: skip
    assert key(base) != key({**base, "model": {**base["model"], "weights": other}})
    assert key(BODY) != key({**BODY, "model": {"hidden_size": 4, "init": {"seed": 2}}})
    assert key(BODY) != key({**BODY, "dtype": "float32"})
    assert key(BODY) != key(BODY, kind="ws-step") != key(BODY, kind="ws-batch")
    lab = {"input": {"text": "ab"}}
    assert key(lab, CompareRequest, "compare") != key({**lab, "seed": 1}, CompareRequest, "compare")


def test_keys_ignore_what_does_not_change_the_answer():
    assert key(BODY) == key({**BODY, "live": False}) == key({**BODY, "frames": "batch"})
    explicit = {**BODY, "loss": {"at": "last"}, "dtype": "float64", "clamp": None}  # defaults
    assert key(BODY) == key(explicit)
    typed = {**BODY, "model": {**BODY["model"], "init": {"seed": 1, "forget_bias": 0}}}
    assert key(BODY) == key(typed)  # forget_bias is a float field: 0 is 0.0


# --- the cache itself ----------------------------------------------------------------------


async def parts(answer: Answer) -> list[bytes]:
    return [p async for p in answer.read()]


def sized(n: int, size: int):
    async def make(answer: Answer) -> None:
        for _ in range(n):
            answer.add(b"x" * size)

    return make


def test_least_recently_used_answers_leave_first_when_the_bytes_exceed_the_budget():
    async def scenario():
        cache = AnswerCache(budget=3 * 1100)
        for name in "abc":
            await parts(cache.get(name, sized(1, 1000)))
        await parts(cache.get("a", sized(1, 1000)))  # a is used again: b is now the oldest
        await parts(cache.get("d", sized(1, 1000)))
        return cache

    cache = asyncio.run(scenario())
    stats = cache.stats()
    assert stats["entries"] == 3 and stats["bytes"] <= stats["budget"]
    assert set(cache._kept) == {"a", "c", "d"}
    assert stats["hits"] == 1 and stats["misses"] == 4


def test_an_answer_larger_than_the_budget_is_served_but_not_kept():
    async def scenario():
        cache = AnswerCache(budget=1000)
        got = await parts(cache.get("big", sized(3, 600)))
        return cache, got

    cache, got = asyncio.run(scenario())
    assert len(got) == 3 and cache.stats()["entries"] == 0 and cache.stats()["bytes"] == 0


def test_a_cancelled_first_requester_does_not_break_the_ones_waiting():
    async def scenario():
        cache = AnswerCache(budget=2**20)
        release = asyncio.Event()

        async def make(answer: Answer) -> None:
            answer.add(b"first")
            await release.wait()
            answer.add(b"second")

        first = asyncio.ensure_future(parts(cache.get("k", make)))
        await asyncio.sleep(0)
        second = asyncio.ensure_future(parts(cache.get("k", make)))
        await asyncio.sleep(0.01)
        first.cancel()
        release.set()
        return await second, first.cancelled(), cache.stats()

    got, cancelled, stats = asyncio.run(scenario())
    assert cancelled and got == [b"first", b"second"]
    assert stats["misses"] == 1 and stats["waits"] == 1 and stats["entries"] == 1


def test_a_failed_computation_fails_every_waiter_and_the_next_request_computes_again():
    async def scenario():
        cache = AnswerCache(budget=2**20)

        async def broken(answer: Answer) -> None:
            await asyncio.sleep(0.01)
            raise ValueError("no")

        waiters = [asyncio.ensure_future(parts(cache.get("k", broken))) for _ in range(3)]
        results = await asyncio.gather(*waiters, return_exceptions=True)
        again = await parts(cache.get("k", sized(1, 10)))
        return results, again, cache.stats()

    results, again, stats = asyncio.run(scenario())
    assert all(isinstance(r, ValueError) for r in results)
    assert again == [b"x" * 10] and stats["misses"] == 2 and stats["entries"] == 1


def test_an_answer_whose_reader_left_after_its_last_part_is_kept():
    """The reader reads every part and leaves while the computation is still returning: the
    answer is whole, so it is kept and the next request is a hit (a parallel test run saw a
    stream's second request compute again). A computation left before its last part raises
    AbandonedError in fill() and is never kept."""

    async def scenario():
        cache = AnswerCache(budget=2**20)
        finish = asyncio.Event()

        async def make(answer: Answer) -> None:
            answer.add(b"all")
            await finish.wait()  # every part made; returning takes a moment

        answer = cache.get("k", make)
        reader = answer.read()
        first = await reader.__anext__()
        await reader.aclose()  # the last reader leaves before `make` has returned
        finish.set()
        await asyncio.sleep(0.01)
        again = cache.get("k", make)
        return first, cache.stats(), again is answer

    first, stats, same = asyncio.run(scenario())
    assert first == b"all"
    assert stats["entries"] == 1 and same and stats["hits"] == 1 and stats["misses"] == 1
