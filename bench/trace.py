"""Trace service bench: what serving a trace costs on top of computing it (issue 3's targets).

    .venv/bin/python bench/trace.py            # T = 1000, H = 64 LSTM
    .venv/bin/python bench/trace.py --browser  # also the page's frame times in Chromium

Starts its own `uvicorn app.main:app` on a free 127.0.0.1 port and prints medians:

- the engine's own time for the trace (forward + BPTT, in this process) against the round
  trip of POST /api/trace on loopback (target: at most 2x: serialisation must not dominate),
  side by side for the JSON answer plain, gzipped, zstd-compressed (curl --compressed:
  received and decoded) and the .npz, each with its bytes on the wire; every repetition a
  new seed, so no answer comes from the server's answer cache;
- the time from sending the WebSocket request to the first frame (target: within 50 ms);
- with --browser: the step-through page playing the same trace at 30 steps per second in
  Debian's Chromium; the 95th percentile of requestAnimationFrame intervals (target < 33 ms).

It prints figures and never fails on a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `make bench` sets no path

import app  # noqa: E402, F401, I001  (pins BLAS to one thread, as in the server)
import numpy as np  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from app.engine import trace  # noqa: E402
from tests.procs import free_port, stop  # noqa: E402
from app.engine.training.tasks import generate  # noqa: E402


def start_server(port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("the server did not start")


def median_ms(fn, n: int) -> tuple[float, float]:
    fn()  # warm-up
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times)


def post(url: str, body: bytes) -> bytes:
    req = urllib.request.Request(url, body, {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


CURL_WAYS = {  # curl's options for each way of asking
    "JSON": ["-H", "Accept-Encoding: identity"],
    "JSON, gzip": ["--compressed", "-H", "Accept-Encoding: gzip"],
    "JSON, zstd": ["--compressed", "-H", "Accept-Encoding: zstd"],
    "npz": ["-H", "Accept: application/x-npz"],
}


def curl_ms(url: str, bodies: list[bytes], way: str) -> tuple[float, float, int] | None:
    """Round trips timed by curl itself, one per body after a warm-up on the first: Python's
    HTTP clients take ~20 ms just to read 10 MiB, which would be the client's cost, not the
    server's (a browser reads like curl). Median, min, and the bytes received."""
    times, size = [], 0
    for body in bodies:
        try:
            out = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download}",
                 "-H", "content-type: application/json", *CURL_WAYS[way], "--data-binary",
                 "@-", url],
                input=body, capture_output=True, check=True, timeout=60,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return None
        seconds, size_text = out.stdout.split()
        times.append(float(seconds) * 1000)
        size = int(size_text)
    return statistics.median(times[1:]), min(times[1:]), size


async def first_frame_ms(ws_url: str, bodies: list[bytes]) -> list[float]:
    out = []
    for body in bodies:
        async with connect(ws_url, max_size=None) as ws:
            t = time.perf_counter()
            await ws.send(body.decode())  # a text frame, as the page sends it
            await ws.recv()
            out.append((time.perf_counter() - t) * 1000)
            async for frame in ws:  # drain to the end, as a viewer does
                if json.loads(frame)["type"] == "end":
                    break
    return out[1:]


def browser_frames(base: str, T: int, H: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
            ]  # fmt: skip
    exe = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(f"{base}/?kind=random&len={T}&hidden={H}&speed=30")
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        page.evaluate("""() => {
            window.__frames = [];
            let last = performance.now();
            const tick = (now) => {
                window.__frames.push(now - last);
                last = now;
                if (window.__frames.length < 200) requestAnimationFrame(tick);
            };
            requestAnimationFrame(tick);
        }""")
        page.click("#btn-play")
        page.wait_for_function("() => window.__frames.length >= 200", timeout=60_000)
        frames = page.evaluate("() => window.__frames")
        browser.close()
    return frames[5:]  # the first frames include the click itself


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--T", type=int, default=1000)
    ap.add_argument("--H", type=int, default=64)
    ap.add_argument("--n", type=int, default=15, help="repeats per figure")
    ap.add_argument("--browser", action="store_true", help="measure the page's frame times")
    a = ap.parse_args()
    X, _ = generate("random", a.T, 1, 0)
    model = {"cell": "lstm", "input_size": X.shape[2], "hidden_size": a.H}
    print(
        f"LSTM T={a.T} H={a.H} D={X.shape[2]} float64, median (min) of {a.n}; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    engine_ms = median_ms(lambda: trace(model, X[0]), a.n)
    port = free_port()
    proc = start_server(port)

    def request(seed: int) -> bytes:  # a new seed: never an answer the server has kept
        task = {"name": "random", "length": a.T, "seed": seed}
        return json.dumps(
            {"model": {"cell": "lstm", "hidden_size": a.H}, "input": {"task": task}}
        ).encode()

    seeds = iter(range(1, 10**6))
    try:
        base = f"http://127.0.0.1:{port}"
        api: dict[str, tuple[float, float, int]] = {}
        for way in CURL_WAYS:
            got = curl_ms(f"{base}/api/trace", [request(next(seeds)) for _ in range(a.n + 1)], way)
            if got is None:
                raise SystemExit("curl is needed for the round trips")
            api[way] = got
        ws_url = f"ws://127.0.0.1:{port}/ws/trace"
        first = asyncio.run(first_frame_ms(ws_url, [request(next(seeds)) for _ in range(a.n + 1)]))
        print(f"  engine trace() in process      {engine_ms[0]:8.1f} ms ({engine_ms[1]:.1f})")
        for way, (median, least, size) in api.items():
            print(f"  POST /api/trace, {way:11}  {median:8.1f} ms ({least:.1f}), "
                  f"{size / 2**20:6.2f} MiB on the wire")  # fmt: skip
        ratio = api["JSON"][0] / engine_ms[0]
        print(
            f"  ratio API (JSON) / engine      {ratio:8.2f}   target <= 2   "
            f"{'PASS' if ratio <= 2 else 'MISS'}"
        )
        gz, zs = (api[way][0] / api["JSON"][0] for way in ("JSON, gzip", "JSON, zstd"))
        print(f"  ratio gzip, zstd / plain JSON  {gz:8.2f}, {zs:.2f}  (bench/wire.py --api: httpx)")
        p50 = statistics.median(first)
        verdict = "PASS" if p50 <= 50 else "MISS"
        print(
            f"  WebSocket first frame          {p50:8.1f} ms ({min(first):.1f})   "
            f"target <= 50   {verdict}"
        )
        if a.browser:
            frames = browser_frames(base, a.T, a.H)
            p95 = float(np.percentile(frames, 95))
            print(
                f"  page frame interval p50 / p95  {statistics.median(frames):8.1f} / "
                f"{p95:.1f} ms over {len(frames)} frames playing at 30 steps/s   "
                f"target p95 < 33   {'PASS' if p95 < 33 else 'MISS'}"
            )
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
