"""Classroom bench: one teacher and N follower WebSocket clients, on one server process (the
in-process hub), then across two processes on a Redis (LSTMX_REDIS_URL).

    .venv/bin/python bench/classroom.py                  # 200 followers, 50 changes, both setups
    .venv/bin/python bench/classroom.py --followers 50 --changes 20 --no-redis

Loopback only: it starts its own uvicorn processes (with `make run`'s options) on free
127.0.0.1 ports and its own redis-server (no persistence), and stops them at the end. Bounded:
every wait has a timeout.

Each setup: the teacher joins; a warm-up round (N followers join, follow the changes, leave)
loads every code path; then the measured round. The teacher sends `--changes` states at
`--rate` per second (30: a teacher playing at 30 steps/s). Reported: per change, the time from
the teacher's send to the LAST follower's receipt (p50, p99, max), and over every receipt
(p50, p99); errors (a follower that could not join, a missed, duplicated or out-of-order
state, an error frame); the server's RSS before the followers join, with them joined, and
after they left (and after the warm-up's leaving, to tell a leak from a first-use cost);
kB per follower. With Redis, followers are split evenly between the two processes (a load
balancer) and the teacher is on the first: every frame goes through Redis. It prints figures
and never fails on a time. The clients share this process's one core-share with the servers,
so on a busy 2-core machine the client side inflates the latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.procs import die_with_parent, free_port, stop  # noqa: E402

UVICORN_OPTS = ["--timeout-graceful-shutdown", "5", "--ws-ping-interval", "20",
                "--ws-ping-timeout", "20", "--ws-max-size", str(8 * 2**20)]  # fmt: skip
MALLOC_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072"}  # `make run`'s
TIMEOUT = 30.0


@dataclass
class Process:
    proc: subprocess.Popen
    port: int
    log: object = field(repr=False)

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def request(self, method: str, path: str) -> tuple[int, dict]:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        c.request(method, path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, json.loads(body) if body.startswith(b"{") else {}

    def stop(self) -> None:
        stop(self.proc)


def start_server(env: dict[str, str]) -> Process:
    port = free_port()
    log = tempfile.TemporaryFile()
    cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning", *UVICORN_OPTS]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **MALLOC_ENV, **env},
                            stdout=subprocess.DEVNULL, stderr=log,
                            preexec_fn=die_with_parent)  # fmt: skip
    server = Process(proc, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if server.request("GET", "/healthz")[0] == 200:
                return server
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    log.seek(0)
    raise SystemExit(f"the server did not start:\n{log.read().decode(errors='replace')}")


def start_redis() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, preexec_fn=die_with_parent)  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return proc, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


@dataclass
class Round:
    sent: dict[int, float] = field(default_factory=dict)  # seq -> when the teacher sent it
    got: list[list[tuple[int, float]]] = field(default_factory=list)  # per follower: (seq, t)
    errors: list[str] = field(default_factory=list)
    cpu: tuple[float, float] = (0.0, 0.0)  # CPU s of the servers and of these clients


async def follower(port: int, code: str, rnd: Round, joined: asyncio.Event,
                   count: list[int], n: int, sockets: list) -> None:  # fmt: skip
    mine_counted = False
    try:
        async with connect(f"ws://127.0.0.1:{port}/ws/class/{code}",
                           open_timeout=TIMEOUT, max_size=2**20) as ws:  # fmt: skip
            await ws.send('{"type": "hello", "role": "student"}')
            welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            if welcome.get("type") != "welcome":
                raise RuntimeError(f"no welcome: {welcome}")
            last = welcome["state"]["seq"]
            mine: list[tuple[int, float]] = []
            rnd.got.append(mine)
            mine_counted = True
            count[0] += 1
            if count[0] == n:
                joined.set()
            sockets.append(ws)
            async for raw in ws:  # ends when the round closes the socket (the student leaves)
                t = time.perf_counter()
                frame = json.loads(raw)
                if frame["type"] == "state":  # a follower behind may skip stale states
                    if frame["seq"] <= last:
                        rnd.errors.append(f"seq {frame['seq']} after {last}")
                    last = frame["seq"]
                    mine.append((last, t))
                elif frame["type"] in ("error", "ended"):
                    rnd.errors.append(f"{frame['type']}: {frame}")
    except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
        rnd.errors.append(f"{type(exc).__name__}: {exc}")
        if not mine_counted:
            count[0] += 1
            if count[0] == n:
                joined.set()


async def one_round(teacher, seq0: int, servers: list[Process], code: str, n: int,
                    changes: int, rate: float, on_joined) -> tuple[Round, int]:  # fmt: skip
    """N followers join (spread over `ports`), `changes` states at `rate`/s, they leave."""
    rnd, joined, count, sockets = Round(), asyncio.Event(), [0], []
    ports = [s.port for s in servers]
    tasks = [asyncio.ensure_future(follower(ports[k % len(ports)], code, rnd, joined, count, n,
                                            sockets)) for k in range(n)]  # fmt: skip
    await asyncio.wait_for(joined.wait(), 120)
    await asyncio.sleep(0.5)  # the member-count frames to the teacher settle
    with_followers = on_joined()
    seq = seq0
    cpu0 = (sum(s.cpu_s() for s in servers), sum(os.times()[:2]))
    for k in range(changes):
        seq += 1
        rnd.sent[seq] = time.perf_counter()
        await teacher.send(json.dumps({"type": "state", "url": f"/?t={k}", "playing": True}))
        await asyncio.sleep(1 / rate)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sum(bool(g) and g[-1][0] == seq for g in rnd.got) < n:
        await asyncio.sleep(0.05)
    rnd.cpu = (sum(s.cpu_s() for s in servers) - cpu0[0], sum(os.times()[:2]) - cpu0[1])
    await asyncio.sleep(0.2)
    await asyncio.gather(*(ws.close() for ws in sockets))
    await asyncio.gather(*tasks)
    return rnd, with_followers


async def drain(ws) -> None:
    """Read the teacher's frames (echoes, member counts) so its socket never backs up."""
    with contextlib.suppress(Exception):
        async for _ in ws:
            pass


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def report(title: str, rnd: Round, n: int, rss: dict[str, int], servers: int) -> None:
    last, every, missed, skipped = [], [], 0, 0
    shown: dict[int, list[float]] = {seq: [] for seq in rnd.sent}  # when each follower showed it
    for mine in rnd.got:
        skipped += len(rnd.sent) - len(mine)
        k = 0
        for seq in sorted(rnd.sent):  # change `seq` is shown by the first state >= seq
            while k < len(mine) and mine[k][0] < seq:
                k += 1
            if k < len(mine):
                shown[seq].append(mine[k][1])
                every.append((mine[k][1] - rnd.sent[seq]) * 1000)
            else:
                missed += 1
    for seq, times in shown.items():
        if len(times) == n:
            last.append((max(times) - rnd.sent[seq]) * 1000)
    joined = rss["with"] - rss["before"]
    print(f"\n## {title}")
    print(f"followers {n}, changes {len(rnd.sent)}, server processes {servers}")
    print(f"teacher -> last follower (ms): p50 {pct(last, 0.5):.1f}  p99 {pct(last, 0.99):.1f}"
          f"  max {max(last) if last else float('nan'):.1f}  (changes all received: "
          f"{len(last)}/{len(rnd.sent)})")  # fmt: skip
    print(f"teacher -> each follower showing it (ms): p50 {pct(every, 0.5):.1f}  "
          f"p99 {pct(every, 0.99):.1f}")  # fmt: skip
    print(f"CPU while the changes went out: servers {rnd.cpu[0]:.2f} s, clients "
          f"{rnd.cpu[1]:.2f} s, for {n * len(rnd.sent)} frames delivered")  # fmt: skip
    errors = len(rnd.errors) + missed + n - len(rnd.got)
    print(f"errors: {errors} (changes never shown {missed}; {rnd.errors[:3]}); stale states "
          f"skipped by followers behind: {skipped} of {n * len(rnd.sent)}")  # fmt: skip
    print(f"server RSS (MB): before {rss['before'] / 1024:.1f}  with followers "
          f"{rss['with'] / 1024:.1f}  after they left {rss['after'] / 1024:.1f}  "
          f"(at the start {rss['start'] / 1024:.1f}, before the warm-up round)")  # fmt: skip
    print("RSS after each round left (MB): " + ", ".join(f"{a / 1024:.1f}" for a in rss["afters"]))  # type: ignore[attr-defined]
    share = n // servers if servers > 1 else n
    print(
        f"memory per follower: {joined / share:.1f} kB (on the measured process, {share} "
        f"followers); after leaving: {rss['after'] - rss['before']:+d} kB against before"
    )


async def run_setup(title: str, servers: list[Process], n: int, changes: int, rate: float,
                    measured: Process, rounds: int) -> None:  # fmt: skip
    status, made = servers[0].request("POST", "/api/classes")
    assert status == 201, made
    code, token = made["code"], made["token"]
    ports = [s.port for s in servers]
    async with connect(f"ws://127.0.0.1:{ports[0]}/ws/class/{code}", max_size=2**20) as t:
        await t.send(json.dumps({"type": "hello", "role": "teacher", "token": token}))
        seq = json.loads(await t.recv())["state"]["seq"]
        drainer = asyncio.ensure_future(drain(t))
        rss = {"start": measured.rss_kb()}
        warm, _ = await one_round(t, seq, servers, code, n, changes, rate, lambda: 0)
        seq += changes
        await settle(servers)
        await asyncio.sleep(1)
        rss["before"] = measured.rss_kb()
        rnd, rss["with"] = await one_round(t, seq, servers, code, n, changes, rate,
                                           measured.rss_kb)  # fmt: skip
        seq += changes
        afters = []
        for k in range(rounds):  # more rounds: RSS that grows with each is a leak
            if k:
                await one_round(t, seq, servers, code, n, changes, rate, lambda: 0)
                seq += changes
            await settle(servers)
            await asyncio.sleep(1)
            afters.append(measured.rss_kb())
        rss["after"] = afters[0]
        rss["afters"] = afters  # type: ignore[assignment]
        await t.send('{"type": "end"}')
        await asyncio.sleep(0.2)
        drainer.cancel()
    if warm.errors:
        print(f"(warm-up round errors: {len(warm.errors)}: {warm.errors[:3]})")
    report(title, rnd, n, rss, len(servers))


async def settle(servers: list[Process]) -> None:
    """Until every server reports only the teacher's socket open (followers gone)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        streams = [s.request("GET", "/healthz?detail=true")[1].get("streams", 0) for s in servers]
        if sum(streams) <= 1:
            return
        await asyncio.sleep(0.1)
    print(f"(sockets still open after 30 s: {streams})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", type=int, default=200)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--rate", type=float, default=30.0, help="teacher's changes per second")
    parser.add_argument("--rounds", type=int, default=3, help="rounds after the warm-up")
    parser.add_argument("--redis-only", action="store_true", help="the two-process setup only")
    parser.add_argument("--no-redis", action="store_true", help="the one-process setup only")
    args = parser.parse_args()
    print(
        f"classroom bench: {args.followers} followers, {args.changes} changes at "
        f"{args.rate:g}/s; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    env = {"LSTMX_REDIS_URL": "", "LSTMX_MAX_CLASS_MEMBERS": str(args.followers + 10)}
    one = start_server(env) if not args.redis_only else None
    try:
        if one is not None:
            asyncio.run(run_setup("one process, in-process hub", [one], args.followers,
                                  args.changes, args.rate, one, args.rounds))  # fmt: skip
    finally:
        if one is not None:
            one.stop()
    if args.no_redis:
        return
    if shutil.which("redis-server") is None:
        print("\n(redis-server not found: the two-process setup is skipped)")
        return
    redis, url = start_redis()
    pair: list[Process] = []
    try:
        pair = [start_server({**env, "LSTMX_REDIS_URL": url}) for _ in range(2)]
        asyncio.run(run_setup("two processes on Redis", pair, args.followers, args.changes,
                              args.rate, pair[1], args.rounds))  # fmt: skip
    finally:
        for s in pair:
            s.stop()
        redis.kill()
        redis.wait()
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
