#!/usr/bin/env python3
"""What budget_mode reserve costs /auth: CPU µs per decide, reserve vs settle, memory and Redis stores.

A decide with a budget on the key and on its owner (the key also has max_parallel
and rpm, as a budgeted key usually does), then the stats line's record_usage
(which, with reserve, settles the hold). CPU is process time (time.process_time)
over a known number of decisions: robust on a busy machine, unlike wall time.
With Redis the server's own CPU per decision is read from /proc too. Then the
reservation amount itself, which /auth computes only when a budget applies: the
offline token count of the prompt, the price lookup and the arithmetic.

Starts its own redis-server (free 127.0.0.1 port, no persistence) and stops it.

    .venv/bin/python scripts/bench_reserve.py [--decisions 20000] [--no-redis]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere, without installing

import bench_loop  # beside this script

from lmgate.config import PolicyConfig
from lmgate.policies.base import RequestFacts
from lmgate.policies.engine import PolicyEngine
from lmgate.policies.limits import Limits
from lmgate.policies.reservation import reservation_usd
from lmgate.pricing import PriceBook
from lmgate.providers import PROVIDERS
from lmgate.tokens import count_tokens

BIG = 10**9
KEY = Limits(budget_usd=1e9, rpm=BIG, max_parallel=BIG)
OWNER = {"budget_usd": 1e9}
BATCH = 500
PROMPT = ("Summarise the quarterly report for the board, in plain words and short sentences. " * 25).strip()  # ~2 KB


def _engine(store: str, mode: str) -> PolicyEngine:
    config = PolicyConfig(owners={"team": OWNER}, store=store, budget_mode=mode)
    return PolicyEngine.from_config(config)


def _facts(engine: PolicyEngine, reserve_usd: float) -> RequestFacts:
    return RequestFacts(
        key_id="key-1",
        owner="team",
        model="gpt-4o-mini",
        provider="openai",
        now=time.time(),
        key_limits=KEY,
        owner_limits=engine.owner_limits("team"),
        request_id="r",
        reserve_usd=reserve_usd,
    )


def _server_cpu(pid: int | None) -> float:
    """utime + stime of a process in seconds (0 without one)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(engine: PolicyEngine, facts: RequestFacts, n: int, server: int | None) -> tuple[float, ...]:
    """CPU µs per decide and per record_usage in this process, and the store server's per decide."""
    d = await engine.decide(facts)  # seeds the spend counters, loads the Lua scripts
    assert d.allowed, d
    await engine.record_usage(facts.key_id, facts.owner, 1, 0.0, facts.now, d.lease_id)
    decide_cpu = record_cpu = server_cpu = 0.0
    for _ in range(n // BATCH):
        facts = dataclasses.replace(facts, now=time.time())
        s0, c0 = _server_cpu(server), time.process_time()
        leases = [(await engine.decide(facts)).lease_id for _ in range(BATCH)]
        c1, s1 = time.process_time(), _server_cpu(server)
        for lease in leases:
            await engine.record_usage(facts.key_id, facts.owner, 100, 0.0001, facts.now, lease)
        decide_cpu, record_cpu, server_cpu = (
            decide_cpu + c1 - c0,
            record_cpu + time.process_time() - c1,
            server_cpu + s1 - s0,
        )
    count = n // BATCH * BATCH
    return decide_cpu / count * 1e6, record_cpu / count * 1e6, server_cpu / count * 1e6


def _amount_us(n: int) -> tuple[float, float]:
    """CPU µs of the reservation amount for a ~2 KB chat request, and the amount."""
    api, prices = PROVIDERS["openai"], PriceBook.load()
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 500}
    count_tokens("warm up")  # builds the tokenizer once, as the first request would
    usd = 0.0
    c0 = time.process_time()
    for _ in range(n):
        tokens = sum(count_tokens(t) for _, t in api.prompt_fields(body))
        usd = reservation_usd(api, "/v1/chat/completions", body, prices.lookup("openai", body["model"]), tokens)
    return (time.process_time() - c0) / n * 1e6, usd


async def bench(n: int, redis_url: str | None, redis_pid: int | None) -> None:
    print(f"event loop: {type(asyncio.get_running_loop()).__module__}; {n} decisions per line; CPU µs")
    print(f"{'store':7} {'budget_mode':12} {'decide':>8} {'record_usage':>13} {'store server/decide':>20}")
    stores = [("memory", "memory", None)] + ([("redis", redis_url, redis_pid)] if redis_url else [])
    for name, url, pid in stores:
        for mode, reserve in (("settle", 0.0), ("reserve", 0.0042)):
            engine = _engine(url, mode)
            try:
                d_us, r_us, s_us = await _measure(engine, _facts(engine, reserve), n, pid)
            finally:
                await engine.close()
            server = f"{s_us:20.2f}" if pid else f"{'-':>20}"
            print(f"{name:7} {mode:12} {d_us:8.2f} {r_us:13.2f} {server}")
    us, usd = _amount_us(max(200, n // 20))
    what = f"reservation amount of a {len(PROMPT)}-char chat prompt (tokens + price + arithmetic)"
    print(f"{what}: {us:.1f} µs (${usd:.6f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=20_000, help="decisions per line")
    ap.add_argument("--no-redis", action="store_true", help="memory store only")
    args = ap.parse_args()
    bench_loop.run_with_redis(
        lambda server: bench(
            args.decisions, server and server.url, server.proc.pid if server and server.proc else None
        ),
        args.no_redis,
    )


if __name__ == "__main__":
    main()
