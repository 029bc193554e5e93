"""GET /docs in a real browser with every outside host unresolvable: Swagger UI comes from this
server, runs under the Content-Security-Policy and lists the API's operations."""

from __future__ import annotations

import pytest
from pagetools import artifact

pytestmark = pytest.mark.browser
playwright_sync = pytest.importorskip("playwright.sync_api")


def test_docs_lists_the_operations_offline_under_the_csp(page, base_url):
    page.goto(f"{base_url}/docs")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector(".opblock-summary-path")
    paths = {p.strip() for p in page.locator(".opblock-summary-path").all_inner_texts()}
    assert {"/api/trace", "/api/weights", "/api/compare", "/healthz"} <= paths
    page.locator(".opblock-summary", has_text="/api/trace").first.click()  # it opens: it runs
    page.wait_for_selector(".opblock.is-open .opblock-section")
    page.screenshot(path=artifact("docs_1280x720.png"))
    # zero console errors (a CSP refusal is one) and no request off 127.0.0.1: checked at teardown
