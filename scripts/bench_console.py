#!/usr/bin/env python3
"""The console's JSON API with a million requests in the rollups: answer times per endpoint, p50 and p95.

    .venv/bin/python scripts/bench_console.py [--lines N] [--calls N] [--keys N] [--models N]

Writes N stats lines over 30 days (500 keys in 50 owners, 30 models on 5
providers: most lines make a row of their own, the rollups' worst case) with
latencies, errors, refusals and DLP findings; a real sidecar (``make_app``)
builds its rollups from them at start, then every console endpoint is asked
``--calls`` times over HTTP, as the admin (everyone) and as one key, after one
call whose time is printed as ``first``: it sums the past hours that later
calls find kept (as the first read of each range does every hour). ``cpu`` is
the process's CPU time per timed call (server and client: one process), which
a busy machine disturbs far less than the wall times.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

from lmgate.app import make_app
from lmgate.config import load_config
from lmgate.gateway import Gateway

DAY = 86400
ADMIN = "bench-console-admin-token-0123456789"
REFUSALS = ("rate_limited_rpm", "model_not_allowed", "unauthorized", "budget_exceeded", "dlp_blocked")
ENDPOINTS = [
    "overview",
    "spend?since=24h&step=hour&by=model",
    "spend?since=7d&step=day&by=owner",
    "spend?since=30d&step=day&by=key_id",
    "spend?since=30d&step=month&by=provider&metric=tokens",
    "spend?since=30d&by=owner&format=csv",
    "budgets",
    "keys",
    "latency?since=24h&step=hour",
    "latency?since=7d&step=day",
    "latency?since=30d&step=day",
    "refusals?since=7d&step=day",
    "refusals?since=30d&step=day",
    "refusals/recent?limit=25",
]
KEY_ENDPOINTS = ["overview", "spend?since=30d&by=model", "latency?since=7d", "refusals?since=30d", "keys"]


def lines(n: int, end: float, keys: int, models: int, seed: int = 1):
    rnd = random.Random(seed)
    ks = [(f"key-{i:03d}", f"owner-{i % 50:02d}") for i in range(keys)]
    ms = [(f"model-{i:02d}", ("openai", "anthropic", "gemini", "vertex", "bedrock")[i % 5]) for i in range(models)]
    for _ in range(n):
        key, owner = rnd.choice(ks)
        model, provider = rnd.choice(ms)
        t = end - rnd.random() * 30 * DAY
        refused = rnd.random() < 0.03
        latency = None if refused else rnd.lognormvariate(7, 0.8)
        roll = rnd.random()
        yield {
            "ts": datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "request_id": f"{rnd.getrandbits(128):032x}",
            "key_id": key,
            "owner": owner,
            "provider": provider,
            "model": model,
            "status": 429 if refused else 200,
            "input_tokens": None if refused else rnd.randint(10, 20_000),
            "output_tokens": None if refused else rnd.randint(1, 2_000),
            "cost_usd": None if refused else round(rnd.random() / 10, 10),
            "latency_ms": latency,
            "ttfb_ms": None if latency is None else latency * rnd.uniform(0.1, 0.5),
            "gateway_ms": None if latency is None else rnd.uniform(0.2, 3),
            "error_type": rnd.choice(REFUSALS) if refused else ("upstream_error" if roll < 0.02 else None),
            "dlp": {"mode": "log", "findings": {"EMAIL_ADDRESS": 1}} if roll > 0.99 else None,
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summary(name: str, ms: list[float], first: float | None = None, cpu: float | None = None) -> str:
    p95 = statistics.quantiles(ms, n=20)[-1] if len(ms) >= 2 else ms[0]
    line = f"{name:56s} p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   max {max(ms):7.1f} ms"
    if cpu is not None:
        line += f"   cpu {cpu:6.1f} ms"
    return line if first is None else f"{line}   first {first:7.1f} ms"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--calls", type=int, default=20, help="timed calls per endpoint (after one warm-up)")
    ap.add_argument("--keys", type=int, default=500)
    ap.add_argument("--models", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lmgate-bench-console-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        with (root / "stats.jsonl").open("wb") as f:
            for record in lines(args.lines, time.time(), args.keys, args.models):
                f.write(orjson.dumps(record) + b"\n")
        print(f"wrote {args.lines:,} stats lines in {time.perf_counter() - t:.1f} s")
        rows = ["id,api_key,owner,added,budget_usd,budget_period"]
        budget = lambda i: "25,month" if i % 3 else ","  # noqa: E731 - two keys in three have a budget
        rows += [f"key-{i:03d},sk-bench-{i:020d},owner-{i % 50:02d},2026-11-01,{budget(i)}" for i in range(args.keys)]
        (root / "allowlist.csv").write_text("\n".join(rows) + "\n")
        env = {
            "LMGATE_ALLOWLIST__PATH": str(root / "allowlist.csv"),
            "LMGATE_STATS__PATH": str(root / "stats.jsonl"),
            "LMGATE_STATS__SPOOL_DIR": str(root / "spool"),
            "LMGATE_ROLLUPS__PATH": str(root / "rollups.sqlite"),
            "LMGATE_SERVER__RUN_DIR": str(root / "run"),
            "LMGATE_SIDECAR__PORT": str(free_port()),
            "LMGATE_SIDECAR__FAST_PORT": str(free_port()),
            "LMGATE_API__ADMIN_TOKEN": ADMIN,
        }
        config = load_config(None, env)
        t = time.perf_counter()
        gw = Gateway.from_config(config)  # a new rollups file: built from the stats lines, in the background
        gw.rollups.wait()
        rows = gw.rollups.store.row_counts()
        print(f"rollups built in {time.perf_counter() - t:.1f} s: {rows} rows (usage tables)")
        runner = web.AppRunner(make_app(config, gw))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", config.sidecar.port).start()
        base = f"http://127.0.0.1:{config.sidecar.port}/lmgate/v1/console/"
        every: list[float] = []
        try:
            async with aiohttp.ClientSession() as session:
                for who, token, endpoints in (
                    ("admin", ADMIN, ENDPOINTS),
                    ("key key-042", "sk-bench-" + f"{42:020d}", KEY_ENDPOINTS),
                ):
                    print(f"-- as {who}")
                    for path in endpoints:
                        times = []
                        first = cpu = 0.0
                        for i in range(args.calls + 1):
                            if i == 1:
                                cpu = time.process_time()
                            start = time.perf_counter()
                            async with session.get(base + path, headers={"Authorization": f"Bearer {token}"}) as r:
                                body = await r.read()
                                assert r.status == 200, (path, r.status, body[:300])
                            ms = (time.perf_counter() - start) * 1000
                            if i:
                                times.append(ms)
                            else:  # the first call warms SQLite's page cache and sums the past hours reads keep
                                first = ms
                        cpu = (time.process_time() - cpu) * 1000 / args.calls
                        every += times
                        print(summary(path, times, first, cpu))
        finally:
            await runner.cleanup()
        print(summary(f"all {len(every)} calls", every))


if __name__ == "__main__":
    asyncio.run(main())
