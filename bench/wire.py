"""Bytes on the wire: what a first visit to the step page costs, measured through a proxy.

    .venv/bin/python bench/wire.py                    # T = 1000, H = 64, a first visit
    .venv/bin/python bench/wire.py --root ../other    # the same against another checkout

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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.async_api import async_playwright

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to serve")
    parser.add_argument("--T", type=int, default=1000)
    parser.add_argument("--H", type=int, default=64)
    args = parser.parse_args(argv)
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
