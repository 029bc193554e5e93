"""Load bench: a classroom of WebSocket viewers against a real server, then a soak.

    .venv/bin/python bench/load.py                 # 100-viewer burst, then a 600 s soak
    .venv/bin/python bench/load.py --quick         # 20 viewers, ~30 s soak
    .venv/bin/python bench/load.py --soak 0        # the burst only

Loopback only: it starts its own `uvicorn app.main:app` (with `make run`'s options) on a free
127.0.0.1 port, and stops it at the end. Bounded: a fixed number of viewers, every wait has a
timeout and the whole run a deadline; it stops by itself.

Burst: N viewers at once, each loads the page (GET / and /vendor/plotly.min.js), opens
/ws/trace and streams the same T = 1000, H = 32 LSTM trace (a classroom opening one link;
`--seeds distinct` gives each viewer a seed of its own) with `--frames` framing: "step" (start,
T step frames, T grad frames, end), "batch" (several steps per frame) or "compact" (the step
page's binary blocks). Pages are asked for with `Accept-Encoding: gzip`, as a browser does.
Reported: error rate (must be 0), p50/p99 time to the first frame and to the last frame,
frames per second over the burst, the server's peak RSS (VmHWM in /proc/<pid>/status) and
its answer cache.

Soak: viewers join and leave for the given seconds (a quarter of them leave mid-stream, as a
closed laptop does); the server's RSS is sampled every second. Reported: RSS just after the
warm-up (the first fifth) and at the end of the load (growth must stay under 10%), and the
open connections (sockets in /proc/<pid>/fd, and /healthz?detail's streams and active runs)
before the load and after it, which must be back to their baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app.api.serialize import batch_rows  # noqa: E402
from tests.procs import die_with_parent, free_port, stop  # noqa: E402

# `make run`'s options (the Makefile's UVICORN_OPTS), permessage-deflate off included
UVICORN_OPTS = ["--timeout-graceful-shutdown", "5", "--ws-ping-interval", "20",
                "--ws-ping-timeout", "20", "--ws-per-message-deflate", "false",
                "--ws-max-size", str(8 * 2**20)]  # fmt: skip
# the Makefile's MALLOC_ENV (`make run`): without it RSS grows ~30% in a 10-minute soak
MALLOC_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072"}
PAGES = ("/", "/vendor/plotly.min.js")
TIMEOUT = 120.0  # seconds any one viewer may take


@dataclass
class Viewer:
    ok: bool = False
    error: str = ""
    first: float = float("nan")  # seconds from sending the request to the first frame
    last: float = float("nan")  # ... to the last ("end") frame
    frames: int = 0
    left_early: bool = False


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: object = field(repr=False)

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM in kB."""
        out = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
        return out

    def sockets(self) -> int:
        fd = Path(f"/proc/{self.proc.pid}/fd")
        count = 0
        for entry in fd.iterdir():
            with contextlib.suppress(OSError):
                count += os.readlink(entry).startswith("socket:")
        return count

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


def start_server(env: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> Server:
    port = free_port()
    log = tempfile.TemporaryFile()
    cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning", *UVICORN_OPTS, *extra]  # fmt: skip
    env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
                            preexec_fn=die_with_parent)  # fmt: skip
    server = Server(proc, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if asyncio.run(http_get(port, "/healthz"))[0] == 200:
                return server
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the server did not start:\n{server.stderr()}")


async def http_get(port: int, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
    """A minimal HTTP/1.1 GET (Connection: close): status and body."""

    async def get() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                         "Accept-Encoding: gzip\r\nConnection: close\r\n\r\n".encode())  # fmt: skip
            data = await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body

    return await asyncio.wait_for(get(), timeout)


async def detail(port: int) -> dict:
    return json.loads((await http_get(port, "/healthz?detail=true"))[1])


def request_body(steps: int, hidden: int, seed: int, frames: str = "step") -> str:
    model = {"cell": "lstm", "hidden_size": hidden, "init": {"seed": seed}}
    body = {"model": model, "input": {"task": {"name": "sine", "length": steps}}}
    return json.dumps({**body, "frames": frames} if frames != "step" else body)


def expected_frames(steps: int, hidden: int, frames: str) -> int:
    """start + forward frames + gradient frames + end, for a one-layer LSTM."""
    if frames == "step":
        return 1 + 2 * steps + 1
    forward = batch_rows(hidden * 6)
    backward = batch_rows(2 * hidden + 4)  # dL/dh and dL/dc rows and four norms, either framing
    return 1 + -(-steps // forward) + -(-steps // backward) + 1


async def view(
    port: int,
    steps: int,
    hidden: int,
    seed: int,
    leave_after: int | None = None,
    frames: str = "step",
):
    """One student: the page, then one streamed trace (or leave after `leave_after` frames)."""
    v = Viewer()
    try:
        for path in PAGES:
            status, body = await http_get(port, path)
            if status != 200 or not body:
                v.error = f"GET {path}: {status}"
                return v
        async with connect(f"ws://127.0.0.1:{port}/ws/trace", max_size=2**24,
                           open_timeout=TIMEOUT, close_timeout=5) as ws:  # fmt: skip
            t0 = time.perf_counter()
            await ws.send(request_body(steps, hidden, seed, frames))
            while True:
                frame = await asyncio.wait_for(ws.recv(), TIMEOUT)
                v.frames += 1
                if v.frames == 1:
                    v.first = time.perf_counter() - t0
                if isinstance(frame, bytes):  # a compact block
                    continue
                if frame.startswith('{"type":"error"'):
                    v.error = frame[:200]
                    return v
                if frame.startswith('{"type":"end"'):
                    v.last = time.perf_counter() - t0
                    break
                if leave_after is not None and v.frames >= leave_after:
                    v.left_early = True
                    break
        expected = expected_frames(steps, hidden, frames)
        v.ok = v.left_early or v.frames == expected
        if not v.ok:
            v.error = f"{v.frames} frames, expected {expected}"
    except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
        v.error = f"{type(exc).__name__}: {exc}"[:200]
    return v


def pct(values: list[float], q: float) -> float:
    values = sorted(x for x in values if x == x)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def burst(
    server: Server, viewers: int, steps: int, hidden: int, frames: str, distinct: bool
) -> dict:
    t0 = time.perf_counter()
    results = await asyncio.gather(
        *(view(server.port, steps, hidden, k if distinct else 0, None, frames)
          for k in range(viewers))
    )  # fmt: skip
    wall = time.perf_counter() - t0
    errors = [v.error for v in results if not v.ok]
    frames = sum(v.frames for v in results)
    return {
        "viewers": viewers,
        "errors": len(errors),
        "error_rate": len(errors) / viewers,
        "first_errors": errors[:3],
        "first_p50_s": pct([v.first for v in results], 0.5),
        "first_p99_s": pct([v.first for v in results], 0.99),
        "last_p50_s": pct([v.last for v in results], 0.5),
        "last_p99_s": pct([v.last for v in results], 0.99),
        "frames": frames,
        "frames_per_s": frames / wall,
        "wall_s": wall,
        "peak_rss_mb": server.status()["VmHWM"] / 1024,
        "server_cache": (await detail(server.port)).get("cache"),
    }


async def soak(server: Server, seconds: float, viewers: int, steps: int, hidden: int) -> dict:
    baseline_sockets = server.sockets()
    baseline = await detail(server.port)
    deadline = time.monotonic() + seconds
    warm_end = time.monotonic() + seconds / 5
    samples: list[tuple[float, int]] = []
    counts = {"sessions": 0, "left_early": 0, "errors": 0}
    errors: list[str] = []

    async def student(k: int) -> None:
        rng = random.Random(k)
        await asyncio.sleep(rng.uniform(0, 2))  # join at different times
        while time.monotonic() < deadline:
            leave = rng.randint(5, 2 * steps) if rng.random() < 0.25 else None
            v = await view(server.port, steps, hidden, rng.randrange(1000), leave)
            counts["sessions"] += 1
            counts["left_early"] += v.left_early
            if not v.ok:
                counts["errors"] += 1
                errors.append(v.error)
            await asyncio.sleep(rng.uniform(0.2, 2.0))  # reads, thinks, comes back

    async def sampler() -> None:
        while time.monotonic() < deadline:
            samples.append((time.monotonic(), server.status()["VmRSS"]))
            await asyncio.sleep(1.0)

    t0 = time.monotonic()
    await asyncio.gather(sampler(), *(student(k) for k in range(viewers)))
    # the load is over: give the server a moment, then look at what is left open
    for _ in range(50):
        await asyncio.sleep(0.2)
        after = await detail(server.port)
        if (after["streams"], after["active_runs"]) == (0, 0):
            break
    await asyncio.sleep(0.5)
    after_sockets = server.sockets()
    warm = [rss for t, rss in samples if warm_end <= t < warm_end + max(seconds / 10, 3)]
    tail = [rss for t, rss in samples if t >= deadline - max(seconds / 10, 3)]
    rss_warm = statistics.mean(warm) / 1024 if warm else float("nan")
    rss_end = statistics.mean(tail) / 1024 if tail else float("nan")
    return {
        "seconds": time.monotonic() - t0,
        "viewers": viewers,
        **counts,
        "first_errors": errors[:3],
        "rss_after_warmup_mb": rss_warm,
        "rss_end_mb": rss_end,
        "rss_growth": rss_end / rss_warm - 1,
        "rss_peak_mb": server.status()["VmHWM"] / 1024,
        "rss_trajectory_mb": [
            round(rss / 1024) for _, rss in samples[:: max(1, len(samples) // 10)]
        ],
        "sockets_before": baseline_sockets,
        "sockets_after": after_sockets,
        "streams_before": baseline["streams"],
        "streams_after": after["streams"],
        "active_runs_after": after["active_runs"],
    }


def report(title: str, rows: dict) -> None:
    print(f"\n{title}\n")
    print("| figure | value |\n| --- | --- |")
    for key, value in rows.items():
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"| {key} | {text} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, help="burst viewers (default 100; quick 20)")
    parser.add_argument("--soak", type=float, help="soak seconds (default 600; quick 30; 0: none)")
    parser.add_argument("--soak-viewers", type=int, help="viewers in the soak (default 20)")
    parser.add_argument("--steps", type=int, default=1000, help="T of each trace")
    parser.add_argument("--hidden", type=int, default=32, help="H of each trace")
    parser.add_argument("--quick", action="store_true", help="20 viewers, a 30 s soak")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--frames",
        choices=("step", "batch", "compact"),
        default="step",
        help="WebSocket framing of the burst (default step: DESIGN.md's; compact: the step page's)",
    )
    parser.add_argument(
        "--uvicorn",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra uvicorn argument, repeatable "
        "(--uvicorn=--ws-per-message-deflate --uvicorn=true: deflate back on)",
    )
    parser.add_argument(
        "--seeds",
        choices=("same", "distinct"),
        default="same",
        help="burst viewers ask for the same trace (default) or one seed each",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="server environment, repeatable (default: make run's MALLOC_ENV; "
        "MALLOC_ARENA_MAX= removes one)",
    )
    args = parser.parse_args(argv)
    viewers = args.viewers or (20 if args.quick else 100)
    soak_s = args.soak if args.soak is not None else (30.0 if args.quick else 600.0)
    soak_viewers = args.soak_viewers or 20
    print(f"load bench: {viewers} viewers, T={args.steps}, H={args.hidden}, frames "
          f"{args.frames}, {args.seeds} seeds; soak {soak_s:.0f} s with {soak_viewers} viewers; "
          f"load average {os.getloadavg()}")  # fmt: skip
    server_env = {**MALLOC_ENV, **dict(item.split("=", 1) for item in args.server_env)}
    server_env = {k: v for k, v in server_env.items() if v}  # KEY= removes a default
    print(f"server environment: {server_env}")
    server = start_server(server_env, tuple(args.uvicorn))
    figures: dict = {}
    failed = False
    try:
        idle = server.status()["VmRSS"] / 1024
        figures["burst"] = asyncio.run(
            asyncio.wait_for(
                burst(
                    server, viewers, args.steps, args.hidden, args.frames, args.seeds == "distinct"
                ),
                900,
            )  # fmt: skip
        )
        figures["burst"]["idle_rss_mb"] = idle
        report(f"burst: {viewers} viewers at once", figures["burst"])
        failed |= figures["burst"]["errors"] > 0
        if soak_s > 0:
            figures["soak"] = asyncio.run(
                asyncio.wait_for(
                    soak(server, soak_s, soak_viewers, args.steps, args.hidden), soak_s + 300
                )
            )
            s = figures["soak"]
            report(f"soak: {soak_s:.0f} s, {soak_viewers} viewers joining and leaving", s)
            failed |= s["errors"] > 0 or s["rss_growth"] >= 0.10
            failed |= s["sockets_after"] > s["sockets_before"] or s["streams_after"] != 0
    finally:
        stop(server.proc, 15)
        log = server.stderr()
        bad = [line for line in log.splitlines() if "Traceback" in line or "ASGI" in line]
        print(f"\nserver stderr: {len(log.splitlines())} lines, {len(bad)} errors")
        failed |= bool(bad)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    print("RESULT:", "FAIL" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
