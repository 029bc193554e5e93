"""Every claim of every lesson is true for its stop's view: each stop's quantities are
computed by the API (the engine) for the view the page would show, every `check:` holds,
every number in the text exists, and every question has exactly one right choice."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.lessons import all_lessons, evaluate
from app.main import app

from .runs import stop_context

STOPS = [(les["slug"], k, stop) for les in all_lessons() for k, stop in enumerate(les["stops"], 1)]

# the module's cache of computed views (a training takes seconds) is built on one xdist worker
pytestmark = pytest.mark.xdist_group("lessons_consistency")


@pytest.fixture(scope="module")
def client():
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def contexts(client):
    """One computation per distinct (page, view): a training is the slowest part (a few s)."""
    cache: dict[tuple[str, str], dict] = {}

    def get(stop):
        key = (stop["page"], stop["view"])
        if key not in cache:
            cache[key] = stop_context(client, stop)
        return cache[key]

    return get


@pytest.mark.parametrize(("slug", "k", "stop"), STOPS, ids=[f"{s}-{k}" for s, k, _ in STOPS])
def test_stop_claims_hold_for_its_view(contexts, slug, k, stop):
    ctx = contexts(stop)
    for para in stop["say"]:
        for seg in para:
            if "q" in seg:
                v = evaluate.value(seg["q"], ctx)
                assert v is not None, f"{{{seg['q']['src']}}} has no value in this view"
    for check in stop["checks"]:
        assert evaluate.holds(check, ctx) is True, f"check “{check['src']}” is false"
    if stop["question"]:
        right = evaluate.answer(stop["question"], ctx)
        assert len(right) == 1, f"the question has {right} as right choices, not one"
        assert right[0] in [c["text"] for c in stop["question"]["choices"]]


def test_a_false_claim_is_caught(contexts):
    """The check above can fail: the same stop with its claim turned around is false."""
    slug, k, stop = next(s for s in STOPS if s[2]["checks"] and s[2]["page"] == "step")
    flipped = {
        **stop["checks"][0],
        "op": {"<": ">=", ">": "<=", "<=": ">", ">=": "<", "~=": "<"}[stop["checks"][0]["op"]],
    }
    assert evaluate.holds(flipped, contexts(stop)) is False


def test_split_of_dl_dc_adds_up_on_the_step_pages(contexts):
    """The lessons say dL/dc = (along the belt) + (through h): true wherever they use the split."""
    for _, _, stop in STOPS:
        if stop["page"] != "step" or "dL/dc_belt" not in str(stop["say"]):
            continue
        ctx = contexts(stop)
        L = ctx["trace"]["layers"][0]
        for t in range(ctx["trace"]["steps"]):
            for u in range(ctx["trace"]["hidden_size"]):
                belt = evaluate._series("dL/dc_belt", L, "lstm", t, u, 0)
                out = evaluate._series("dL/dc_out", L, "lstm", t, u, 0)
                assert belt + out == pytest.approx(L["grad_c"][t][u], rel=1e-9, abs=1e-12)
