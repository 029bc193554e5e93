"""Bytes on the wire: what a first visit to the step page costs, and what an API client pays.

    .venv/bin/python bench/wire.py                    # T = 1000, H = 64, a first visit
    .venv/bin/python bench/wire.py --root ../other    # the same against another checkout
    .venv/bin/python bench/wire.py --api              # POST /api/trace: JSON, gzip, npz

Starts `uvicorn app.main:app` (from --root, default this repository) on a free loopback port
and a byte-counting TCP proxy in front of it, then opens the step page for a T = 1000, H = 64
LSTM trace in Chromium (Playwright, /usr/bin/chromium, nothing outside 127.0.0.1) through the
proxy, with an empty cache, and waits until the trace has ended. Every byte the server sends
is counted per connection, so the figures include headers, WebSocket framing and whatever
compression the browser and the server agree on (gzip, permessage-deflate). Reported: bytes
of the page load (HTML, scripts, styles, plotly.js), bytes of the trace stream (WebSocket
connections), the time from navigation to the page being ready (`body[data-ready]`) and to
the end of the stream, and the bytes of POST /api/trace for the same trace with and without
`Accept-Encoding: gzip`.

With --api (no browser): POST /api/trace through httpx, the way an API client calls it, for
a T = 1000, H = 32 LSTM (float64) and the issue's example, a 1,000-character float32 trace of
a 2x128 character LM (an embedding of 65 x 64, two LSTM layers of 128, a readout of 65). Each
round sends three different traces (new seeds: never an answer kept from before) in each way:
JSON with `Accept-Encoding: identity`, JSON as httpx asks by default (`gzip, deflate`), JSON
as httpx asks when zstandard is installed (`gzip, deflate, zstd`: the server sends zstd), the
.npz (`Accept: application/x-npz`), and the JSON ways again for the traces just made (kept:
the server sends a copy, so those rows are what sending, receiving and decoding cost alone).
Printed: bytes on the wire and decoded, the median time of the three in a round (to the
decoded body), the time the client then takes to parse one answer (json.loads, np.load of
every array), and the gzip / identity ratio (issue 19's bar: at most 2).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.procs import free_port, stop  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]


def start_server(root: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=root)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc, port
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


class CountingProxy:
    """Forwards 127.0.0.1:port to the server; counts the bytes sent back per connection."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.http = 0  # bytes from the server on ordinary HTTP connections
        self.ws = 0  # ... on WebSocket connections

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        kind = {"ws": False}

        async def upstream_bound() -> None:
            while data := await reader.read(65536):
                if b"upgrade: websocket" in data.lower():
                    kind["ws"] = True
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def client_bound() -> None:
            while data := await up_reader.read(65536):
                if kind["ws"]:
                    self.ws += len(data)
                else:
                    self.http += len(data)
                writer.write(data)
                await writer.drain()
            writer.close()

        with contextlib.suppress(OSError, ConnectionError):
            await asyncio.gather(upstream_bound(), client_bound())


async def visit(proxy_port: int, query: str) -> tuple[float, float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        ended = asyncio.get_running_loop().create_future()

        def on_ws(ws) -> None:  # noqa: ANN001 - playwright's WebSocket
            def frame(payload) -> None:  # noqa: ANN001
                if isinstance(payload, str) and '"type":"end"' in payload and not ended.done():
                    ended.set_result(time.perf_counter())

            ws.on("framereceived", frame)

        page.on("websocket", on_ws)
        t0 = time.perf_counter()
        await page.goto(f"http://127.0.0.1:{proxy_port}/?{query}")
        await page.wait_for_selector("body[data-ready='1']", timeout=120_000)
        ready = time.perf_counter() - t0
        end = await asyncio.wait_for(ended, 120) - t0
        await browser.close()
        return ready, end


def post_bytes(port: int, body: dict, gzip: bool) -> int:
    headers = {"Content-Type": "application/json",
               "Accept-Encoding": "gzip" if gzip else "identity"}  # fmt: skip
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/trace",
                                 data=json.dumps(body).encode(), headers=headers)  # fmt: skip
    with urllib.request.urlopen(req, timeout=120) as r:
        return len(r.read())


async def main_async(args: argparse.Namespace, port: int) -> dict:
    proxy = CountingProxy(port)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    proxy_port = server.sockets[0].getsockname()[1]
    query = f"kind=random&len={args.T}&hidden={args.H}"
    ready, end = await visit(proxy_port, query)
    await asyncio.sleep(0.5)  # the last bytes of closing connections
    server.close()
    return {"page_bytes": proxy.http, "stream_bytes": proxy.ws, "ready_s": ready, "end_s": end}


# --- POST /api/trace as an API client calls it --------------------------------------------

LM = {"cell": "lstm", "hidden_size": 128, "num_layers": 2, "output_size": 65,
      "embedding": {"num_embeddings": 65, "embedding_dim": 64}}  # fmt: skip
GZIP = "JSON, gzip (httpx)"
ZSTD = "JSON, zstd (httpx + zstandard)"
WAYS = {  # the request headers of each way of asking
    "JSON, identity": {"Accept-Encoding": "identity"},
    GZIP: {"Accept-Encoding": "gzip, deflate"},  # httpx's default
    ZSTD: {"Accept-Encoding": "gzip, deflate, zstd"},  # ... when zstandard is installed
    "npz": {"Accept": "application/x-npz"},
}
KEPT = {way: f"{way}, kept" for way in ("JSON, identity", GZIP, ZSTD)}
# ^ the same requests again, answered from the answer cache: what sending and reading cost


def trace_body(case: str, seed: int, T: int, H: int) -> bytes:
    if case == "lm":
        tokens = np.random.default_rng(seed).integers(0, 65, T).tolist()
        body = {"model": LM, "input": {"tokens": tokens}, "dtype": "float32"}
    else:
        body = {"model": {"cell": "lstm", "hidden_size": H},
                "input": {"task": {"name": "random", "length": T, "seed": seed}}}  # fmt: skip
    return json.dumps(body).encode()


def post_all(client: httpx.Client, bodies: list[bytes], headers: dict) -> tuple[float, list]:
    """Seconds to post the bodies one after another, each read and decoded to the end."""
    answers = []
    t = time.perf_counter()
    for body in bodies:
        r = client.post("/api/trace", content=body,
                        headers={"content-type": "application/json", **headers})  # fmt: skip
        r.read()
        if r.status_code != 200:
            raise SystemExit(f"POST /api/trace answered {r.status_code}: {r.text[:300]}")
        answers.append(r)
    return time.perf_counter() - t, answers


def parse_ms(r: httpx.Response) -> float:
    t = time.perf_counter()
    if r.headers["content-type"] == "application/x-npz":
        with np.load(io.BytesIO(r.content)) as z:
            _ = [z[name] for name in z.files]
    else:
        json.loads(r.content)
    return (time.perf_counter() - t) * 1000


def api_figures(port: int, case: str, T: int, H: int, rounds: int) -> list[dict]:
    """One row per way of asking: bytes and the median time of three different traces."""
    seeds = itertools.count(1000 * rounds * (case == "lm"))
    times: dict[str, list[float]] = {way: [] for way in [*WAYS, *KEPT.values()]}
    last: dict[str, httpx.Response] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
        for way, headers in WAYS.items():  # warm-up: imports, first allocations
            post_all(client, [trace_body(case, 10**6 + len(way), T, H)], headers)
        for n in range(rounds):
            ways = list(WAYS)[n % 4 :] + list(WAYS)[: n % 4]  # each way first in turn
            for way in ways:
                bodies = [trace_body(case, next(seeds), T, H) for _ in range(3)]
                seconds, answers = post_all(client, bodies, WAYS[way])
                times[way].append(seconds)
                last[way] = answers[-1]
                if way in KEPT:
                    seconds, answers = post_all(client, bodies, WAYS[way])
                    times[KEPT[way]].append(seconds)
                    last[KEPT[way]] = answers[-1]
    rows = []
    for way, values in times.items():
        r = last[way]
        rows.append({"way": way, "wire": r.num_bytes_downloaded, "decoded": len(r.content),
                     "ms": 1000 * statistics.median(values), "parse_ms": parse_ms(r)})  # fmt: skip
    return rows


def print_api(case: str, rows: list[dict], rounds: int) -> None:
    title = ("1,000-character float32 trace of a 2x128 character LM (V = 65)" if case == "lm"
             else "T = 1000, H = 32 LSTM trace, float64")  # fmt: skip
    print(f"\n{title}: median of {rounds} rounds of three different traces")
    print("| answer | bytes on the wire | decoded | 3 traces, ms | per trace, ms | parse one, ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['way']} | {row['wire'] / 1e6:.2f} MB | {row['decoded'] / 1e6:.2f} MB | "
              f"{row['ms']:.0f} | {row['ms'] / 3:.0f} | {row['parse_ms']:.0f} |")  # fmt: skip
    by = {row["way"]: row["ms"] for row in rows}
    plain = by["JSON, identity"]
    ratio = by[GZIP] / plain
    verdict = "PASS" if ratio <= 2 else "MISS"
    print(f"gzip / identity: {ratio:.2f} (bar: at most 2: {verdict}); zstd / identity: "
          f"{by[ZSTD] / plain:.2f}; npz / identity: {by['npz'] / plain:.2f}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to serve")
    parser.add_argument("--T", type=int, default=1000)
    parser.add_argument("--H", type=int, default=64)
    parser.add_argument("--api", action="store_true", help="POST /api/trace only, no browser")
    parser.add_argument("--rounds", type=int, default=7, help="--api: rounds per figure")
    parser.add_argument("--cases", default="lstm,lm", help="--api: lstm (T=1000 H=32), lm")
    args = parser.parse_args(argv)
    if args.api:
        print(f"wire bench, API: {args.root}; load {os.getloadavg()}")
        proc, port = start_server(args.root.resolve())
        try:
            for case in args.cases.split(","):
                rounds = args.rounds if case == "lstm" else max(1, args.rounds // 2)
                print_api(case, api_figures(port, case, 1000, 32, rounds), rounds)
        finally:
            stop(proc, 15)
        print(f"load {os.getloadavg()}")
        return 0
    print(f"wire bench: {args.root}, T={args.T}, H={args.H}; load {os.getloadavg()}")
    proc, port = start_server(args.root.resolve())
    try:
        figures = asyncio.run(main_async(args, port))
        body = {"model": {"cell": "lstm", "hidden_size": args.H},
                "input": {"task": {"name": "random", "length": args.T, "seed": 0}}}  # fmt: skip
        figures["post_plain_bytes"] = post_bytes(port, body, gzip=False)
        figures["post_gzip_bytes"] = post_bytes(port, body, gzip=True)
    finally:
        stop(proc, 15)
    print("| figure | value |\n| --- | --- |")
    for key, value in figures.items():
        text = f"{value / 2**20:.2f} MiB" if key.endswith("bytes") else f"{value:.2f} s"
        print(f"| {key} | {text} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
