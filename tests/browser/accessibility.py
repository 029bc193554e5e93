"""axe-core's WCAG 2.1 A and AA rules on a page, for every browser test to call.

    from accessibility import assert_accessible     # or the `assert_accessible` fixture
    assert_accessible(page)                          # the whole page, as it is now
    assert_accessible(page, "#heatmaps")            # one part of it (a CSS selector)

axe-core comes inside axe-playwright-python (axe.min.js, injected into the page by
Playwright's evaluate, which the Content-Security-Policy does not govern); it fetches nothing.
A failure lists each violated rule with the elements and axe's own explanation.
"""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe

WCAG_21_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_21_A_AA}, "resultTypes": ["violations"]}
_axe = Axe()


def violations(page, context: str | None = None) -> list[dict]:
    return _axe.run(page, context=context, options=OPTIONS).response["violations"]


def assert_accessible(page, context: str | None = None) -> None:
    found = violations(page, context)
    lines = [f"{len(found)} WCAG 2.1 A/AA violations on {page.url}:"]
    for v in found:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node['failureSummary']}")
    assert found == [], "\n".join(lines)
