"""Classroom bench with real browsers: one teacher and N students (Chromium pages, each in its
own context as on separate laptops) through every stop of a lesson.

    .venv/bin/python bench/class_browsers.py                       # 30 students, inside-the-cell
    .venv/bin/python bench/class_browsers.py --students 10 --lesson reading-gates

For each stop: from the teacher's page being ready (its lesson panel complete at that stop) to
each student's page showing it (the student's panel complete at that stop), on one clock (every
page's performance.timeOrigin + now()); reported per stop: the last student's time, the median
student's, and how many student pages loaded anew (a stop on another page must; one on the same
page should not), and the last student's time from the teacher's key press (Next). Then the
medians over the stops. It starts its own server (`make run`'s
options, 127.0.0.1, a free port) and Chromium (/usr/bin/chromium, never looking outside
loopback). Figures only: it never fails on a time. Every page runs on the same machine as the
server: on a shared 2-core machine the 30 pages' own rendering dominates (see the load averages
it prints).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # tests/browser/conftest.py imports procs as a module
from bench.classroom import start_server  # noqa: E402
from tests.browser.conftest import CHROMIUM_ARGS  # noqa: E402

# Records, in each page, when its lesson panel became complete at each stop (epoch ms), and
# counts the page's loads in sessionStorage (a reload keeps sessionStorage).
RECORDER = """
(() => {
  const loads = Number(sessionStorage.getItem('bench.loads') || 0) + 1;
  sessionStorage.setItem('bench.loads', String(loads));
  window.__stops = {};
  const look = () => {
    const p = document.getElementById('lesson-panel');
    if (p && p.dataset.complete === 'true' && !(p.dataset.stop in window.__stops)) {
      window.__stops[p.dataset.stop] = performance.timeOrigin + performance.now();
    }
  };
  new MutationObserver(look).observe(document, {subtree: true, attributes: true,
    attributeFilter: ['data-complete', 'data-stop']});
})();
"""
STOP_AT = "k => (window.__stops || {})[k] ?? null"
LOADS = "() => Number(sessionStorage.getItem('bench.loads') || 0)"


def wait_stop(page, k: int, timeout_s: float = 120.0) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            at = page.evaluate(STOP_AT, str(k))
        except Exception:  # noqa: BLE001 - the page is navigating: ask again
            at = None
        if at is not None:
            return float(at)
        time.sleep(0.02)
    raise TimeoutError(f"stop {k} not shown within {timeout_s:g} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--lesson", default="inside-the-cell")
    ap.add_argument("--width", type=int, default=1280, help="students' window width")
    ap.add_argument("--height", type=int, default=720)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from app.lessons import all_lessons

    lesson = next(les for les in all_lessons() if les["slug"] == args.lesson)
    print(f"load averages {os.getloadavg()}; {args.students} students; lesson {args.lesson} "
          f"({len(lesson['stops'])} stops: {[s['page'] for s in lesson['stops']]})")  # fmt: skip
    server = start_server({"LSTMX_REDIS_URL": ""})
    base = f"http://127.0.0.1:{server.port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            teacher_ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
            teacher_ctx.add_init_script(RECORDER)
            teacher = teacher_ctx.new_page()
            teacher.set_default_timeout(120_000)
            teacher.goto(f"{base}/lessons/{args.lesson}/1")
            wait_stop(teacher, 1)
            teacher.get_by_role("button", name="Start a class").click()
            code = teacher.locator("[data-class-code]").get_attribute("data-class-code")
            students = []
            t0 = time.monotonic()
            for _ in range(args.students):
                ctx = browser.new_context(viewport={"width": args.width, "height": args.height})
                ctx.add_init_script(RECORDER)
                pg = ctx.new_page()
                pg.set_default_timeout(120_000)
                pg.goto(f"{base}/c/{code}", wait_until="commit")
                students.append(pg)
            for pg in students:
                wait_stop(pg, 1, 300)
            print(f"{args.students} students on stop 1 after {time.monotonic() - t0:.1f} s")
            last_times, median_times = [], []
            for k in range(2, len(lesson["stops"]) + 1):
                loads = [pg.evaluate(LOADS) for pg in students]
                pressed = teacher.evaluate("() => performance.timeOrigin + performance.now()")
                teacher.keyboard.press("PageDown")
                ready = wait_stop(teacher, k)
                shown = [wait_stop(pg, k) for pg in students]
                lag = [max(0.0, s - ready) / 1000 for s in shown]
                now = [pg.evaluate(LOADS) for pg in students]
                reloaded = sum(a != b for a, b in zip(now, loads, strict=True))
                same = lesson["stops"][k - 1]["page"] == lesson["stops"][k - 2]["page"]
                since_press = (max(shown) - pressed) / 1000
                last_times.append(max(lag))
                median_times.append(statistics.median(lag))
                print(f"stop {k} ({'same page' if same else 'other page'}): last student "
                      f"{max(lag):.3f} s, median {statistics.median(lag):.3f} s after the "
                      f"teacher's page was ready ({since_press:.3f} s after Next); "
                      f"{reloaded}/{len(students)} pages loaded anew")  # fmt: skip
            print(f"median over stops: last student {statistics.median(last_times):.3f} s, "
                  f"median student {statistics.median(median_times):.3f} s; "
                  f"load averages {os.getloadavg()}")  # fmt: skip
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
