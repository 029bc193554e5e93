"""The students' ways in: GET /join (type a code) and GET /c/{code} (the follower page)."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.api.routes import pages


@pytest.fixture(scope="module")
def client():
    app = FastAPI()
    app.include_router(pages.router)
    return TestClient(app, follow_redirects=False)


def test_join_page_offers_a_labelled_code_field(client):
    r = client.get("/join")
    assert r.status_code == 200
    assert '<label for="join-code">Class code</label>' in r.text
    assert 'src="/static/js/classroom.js"' in r.text


def test_a_typed_code_goes_to_its_class_page_whatever_its_case_or_dashes(client):
    r = client.get("/join", params={"code": " k7-qx "})
    assert r.status_code == 303
    assert r.headers["location"] == "/c/K7QX"


def test_a_typed_code_that_cannot_be_one_is_answered_on_the_form(client):
    r = client.get("/join", params={"code": "k7!"})
    assert r.status_code == 200
    assert "4 to 6 letters or digits" in r.text
    assert 'aria-invalid="true"' in r.text


def test_the_class_page_carries_its_code_for_the_script(client):
    r = client.get("/c/K7QX")
    assert r.status_code == 200
    assert 'data-join-code="K7QX"' in r.text
    assert 'id="join-status"' in r.text


def test_a_lower_case_class_link_is_sent_to_its_upper_case_page(client):
    r = client.get("/c/k7qx")
    assert r.status_code == 307
    assert r.headers["location"] == "/c/K7QX"


def test_a_class_link_that_cannot_be_a_code_is_a_404_that_says_so(client):
    r = client.get("/c/K7%3Cb%3E")
    assert r.status_code == 404
    assert "is not a class code" in r.text
    assert "<b>" not in r.text  # the typed text is escaped
    assert "data-join-code" not in r.text
