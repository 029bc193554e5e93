"""Round trip of POST /api/compare: the gradient lab recomputes on every slider move.

    python bench/compare.py                 # T=1000, H=32, all three networks (target 100 ms)
    python bench/compare.py --T 2000 --H 64 --n 15
    python bench/compare.py --url http://127.0.0.1:8000   # against a running server

Without --url the request goes through the ASGI app in process (fastapi TestClient: routing,
validation, the engine in the thread pool, JSON), so only the socket is left out. As a
reference from the same run it also times the engine alone (app.engine.trace) per network.
Medians over n repeats after a warm-up. Prints, never fails on time. On a busy machine
OpenBLAS's own threads slow the engine's small per-step products several-fold:
`OPENBLAS_NUM_THREADS=1 python bench/compare.py` shows the single-threaded figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_MS = 100.0


def body(T: int, H: int) -> dict:
    return {"input": {"task": {"name": "random", "length": T, "seed": 0}}, "hidden_size": H}


def timed(fn, n: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - t0))
    return out


def local_post():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from app.api.errors import RequestError, request_error_handler
    from app.api.routes import compare
    from app.api.slots import RunSlots

    app = FastAPI()
    app.state.slots = RunSlots(8)
    app.add_exception_handler(RequestError, request_error_handler)
    app.include_router(compare.router)
    client = TestClient(app)

    def post(payload: dict) -> int:
        r = client.post("/api/compare", json=payload)
        r.raise_for_status()
        return len(r.content)

    return post


def url_post(url: str):
    def post(payload: dict) -> int:
        req = urllib.request.Request(
            f"{url}/api/compare",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            return len(r.read())

    return post


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--T", type=int, default=1000)
    ap.add_argument("--H", type=int, default=32)
    ap.add_argument("--n", type=int, default=11, help="repeats (median reported)")
    ap.add_argument("--url", help="a running server instead of the in-process app")
    args = ap.parse_args()

    from app.engine import trace
    from app.engine.training import tasks

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    blas = {k: v for k, v in os.environ.items() if k.endswith("_NUM_THREADS")}
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, cpus {os.cpu_count()}, "
          f"BLAS threads {blas or 'not set'}")  # fmt: skip
    X = tasks.generate("random", args.T, 1, 0)[0][0]
    engine_total = 0.0
    for cell in ("rnn", "lstm", "gru"):
        model = {"cell": cell, "input_size": X.shape[1], "hidden_size": args.H}
        ms = statistics.median(timed(lambda m=model: trace(m, X), args.n))
        engine_total += ms
        print(f"engine alone  {cell:4s} T={args.T} H={args.H}: {ms:7.1f} ms (median)")
    post = url_post(args.url) if args.url else local_post()
    size = post(body(args.T, args.H))
    times = timed(lambda: post(body(args.T, args.H)), args.n)
    med = statistics.median(times)
    where = args.url or "in-process ASGI"
    print(
        f"POST /api/compare ({where}) T={args.T} H={args.H}, 3 networks: median {med:.1f} ms, "
        f"min {min(times):.1f}, max {max(times):.1f}; answer {size / 1024:.0f} KiB"
    )
    print(
        f"engine share {engine_total / med:.0%} (sum of the three engine medians "
        f"{engine_total:.1f} ms); target {TARGET_MS:.0f} ms: "
        f"{'met' if med <= TARGET_MS else 'not met'}"
    )


if __name__ == "__main__":
    main()
