"""The lesson pages and API: the list, one URL per stop (rendered at the lesson's own path,
redirected to the stop's view when bare), GET /api/lessons and POST /api/lessons/parse."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.lessons import all_lessons
from app.main import app

from .test_parse import GOOD


@pytest.fixture(scope="module")
def client():
    with TestClient(app) as c:
        yield c


def test_lessons_page_lists_every_lesson_with_its_stop_count(client):
    r = client.get("/lessons")
    assert r.status_code == 200
    for les in all_lessons():
        assert f'href="/lessons/{les["slug"]}"' in r.text
        assert les["title"] in r.text
        assert f"{len(les['stops'])} stops" in r.text


def test_api_lists_lessons(client):
    listed = client.get("/api/lessons").json()
    assert [x["slug"] for x in listed] == [les["slug"] for les in all_lessons()]
    assert all(
        x["stops"] == len(les["stops"]) for x, les in zip(listed, all_lessons(), strict=True)
    )


def test_lesson_url_redirects_to_its_first_stop_with_the_view(client):
    les = all_lessons()[0]
    r = client.get(f"/lessons/{les['slug']}", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == f"/lessons/{les['slug']}/1?{les['stops'][0]['view']}"


def test_stop_renders_its_page_with_the_lesson_panel(client):
    for les in all_lessons():
        for k, stop in enumerate(les["stops"], 1):
            r = client.get(f"/lessons/{les['slug']}/{k}?{stop['view']}")
            assert r.status_code == 200
            assert 'id="lesson-panel"' in r.text and "/static/js/lesson.js" in r.text
            page_script = {"step": "main.js", "compare": "compare.js", "train": "train.js"}[
                stop["page"]
            ]
            assert f"/static/js/{page_script}" in r.text


def test_unknown_lesson_or_stop_is_404(client):
    assert client.get("/lessons/no-such-lesson/1?x=1").status_code == 404
    slug = all_lessons()[0]["slug"]
    r = client.get(f"/lessons/{slug}/99?t=1")
    assert r.status_code == 404
    assert "stops 1 to" in r.json()["detail"][0]["msg"]


def test_parse_answers_the_parsed_lesson(client):
    r = client.post("/api/lessons/parse", json={"text": GOOD})
    assert r.status_code == 200
    assert r.json()["slug"] == "a-small-lesson" and len(r.json()["stops"]) == 2


def test_parse_names_the_line_of_a_malformed_file(client):
    bad = GOOD.replace("highlight: gate f", "highlight: gate q")
    r = client.post("/api/lessons/parse", json={"text": bad})
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["line"] == 9 and detail["msg"].startswith("line 9: highlight:")
    assert detail["loc"] == ["body", "text"]


def test_parse_refuses_a_file_above_the_size_cap(client):
    r = client.post("/api/lessons/parse", json={"text": "#" * 70_000})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "text"]


def test_own_lesson_stop_renders_the_named_page(client):
    r = client.get("/lessons/own/compare/2?len=30")
    assert r.status_code == 200 and "/static/js/compare.js" in r.text
    assert client.get("/lessons/own/nowhere/1").status_code == 422
