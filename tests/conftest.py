"""Top-level pytest configuration shared by every test directory.

Browser tests (tests/browser/) use the ``chromium_path`` fixture, or call
``require_chromium()`` directly, and carry the ``browser`` marker::

    import pytest

    pytestmark = pytest.mark.browser

    def test_page(chromium_path):
        browser = playwright.chromium.launch(executable_path=chromium_path, ...)

Policy: when Debian's chromium (``/usr/bin/chromium``, or ``$CHROMIUM`` if set) is missing the
test is *skipped* with a clear message, except when the environment variable ``CI`` is set (to
anything non-empty), where a missing browser is a *failure*: CI must really run them.

The ``browser`` marker applies the same policy by itself (checked before the test's fixtures are
set up), so a marked test never starts a server for nothing. Prefer the fixture over
``from conftest import require_chromium``: with several conftest.py files, the module named
``conftest`` is not always this one.

``REPO_ROOT`` is the repository root as a ``pathlib.Path``.

Tests run in parallel (pytest-xdist, ``make pytest``). A test marked ``alone`` (it bounds times
against a real server: a stalled client dropped within seconds, /healthz never held) runs while
no test runs on any other worker, as in a serial run; see ``pytest_runtest_protocol`` below.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHROMIUM = "/usr/bin/chromium"


def require_chromium() -> str:
    """Return the chromium executable path, or skip (locally) / fail (when ``CI`` is set)."""
    path = os.environ.get("CHROMIUM") or DEFAULT_CHROMIUM
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    message = (
        f"chromium not found at {path}: install Debian's package "
        "(apt-get install chromium) or set CHROMIUM=/path/to/chromium"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {message}", pytrace=False)
    pytest.skip(message)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``browser`` need chromium: skip locally, fail under CI, when it is missing."""
    if item.get_closest_marker("browser") is not None:
        require_chromium()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of the chromium executable for Playwright's ``executable_path``.

    Skips the test when chromium is missing, fails it instead when ``CI`` is set.
    """
    return require_chromium()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO_ROOT


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Under pytest-xdist, a test marked ``alone`` holds a lock every other test shares, so it
    runs by itself; a turnstile that each test passes first keeps the tests that keep coming on
    the other workers from overtaking an ``alone`` test that waits. Taken before pytest-timeout
    starts its clock (tryfirst), held through setup, call and teardown. Outside xdist: nothing."""
    workerinput = getattr(item.config, "workerinput", None)
    if workerinput is None:
        yield
        return
    locks = Path(tempfile.gettempdir()) / f"lstmx-pytest-{workerinput['testrunuid']}"
    locks.mkdir(exist_ok=True)
    alone = item.get_closest_marker("alone") is not None
    with open(locks / "turnstile", "a") as turnstile, open(locks / "running", "a") as running:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(running, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(running, fcntl.LOCK_UN)
