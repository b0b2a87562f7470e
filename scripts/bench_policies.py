#!/usr/bin/env python3
"""Micro-benchmark of PolicyEngine.decide: µs per decision, memory store and Redis store.

Starts its own redis-server (on a free 127.0.0.1 port, no persistence) and stops
it at the end. Each scenario runs for ``--seconds`` (default 1), so the whole
run is bounded. Limits are set high so every request passes and does all the
work: all rules on means models + budget + max_parallel + rpm + tpm. ``a pass`` is
``record_usages`` of 500 requests in one call, as the stats intake reports a pass's lines.

    .venv/bin/python scripts/bench_policies.py [--seconds 1] [--no-redis]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere, without installing

import bench_loop  # beside this script

from lmgate.config import PolicyConfig
from lmgate.policies.base import RequestFacts
from lmgate.policies.engine import PolicyEngine, UsageUpdate
from lmgate.policies.limits import NO_LIMITS, Limits

BIG = 10**9
ALL_RULES = Limits(models=("gpt-4o*", "claude-*"), rpm=BIG, tpm=BIG, budget_usd=1e9, max_parallel=BIG)
OWNER = {"models": ["gpt-*", "claude-*"], "rpm": BIG, "tpm": BIG, "budget_usd": 1e9, "max_parallel": BIG}
BATCH = 500


def _engine(store: str) -> PolicyEngine:
    """The engine as the sidecar builds it, on the store ``policies.store`` names ('memory' or a Redis URL)."""
    return PolicyEngine.from_config(PolicyConfig(owners={"team": OWNER}, store=store))


def _facts(engine: PolicyEngine, key: Limits, owner: str) -> RequestFacts:
    return RequestFacts(
        key_id="key-1",
        owner=owner,
        model="gpt-4o-mini",
        provider="openai",
        now=time.time(),
        key_limits=key,
        owner_limits=engine.owner_limits(owner),
        request_id="r",
    )


async def _sequential(engine: PolicyEngine, facts: RequestFacts, seconds: float) -> tuple[float, float, float, int]:
    """µs per decide and per record_usage (which frees the slot), one request at a time; and CPU µs per request
    of record_usages, ``BATCH`` requests a call (as a pass over the stats spool reports them)."""
    decide_t = record_t = pass_cpu = 0.0
    n = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        leases = [(await engine.decide(facts)).lease_id for _ in range(BATCH)]
        t1 = time.perf_counter()
        for lease in leases:
            await engine.record_usage(facts.key_id, facts.owner, 100, 0.0001, facts.now, lease)
        t2 = time.perf_counter()
        leases = [(await engine.decide(facts)).lease_id for _ in range(BATCH)]
        c0 = time.process_time()
        await engine.record_usages([UsageUpdate(facts.key_id, facts.owner, 100, 0.0001, facts.now, x) for x in leases])
        pass_cpu += time.process_time() - c0
        decide_t, record_t, n = decide_t + t1 - t0, record_t + t2 - t1, n + BATCH
    return decide_t / n * 1e6, record_t / n * 1e6, pass_cpu / n * 1e6, n


async def _concurrent(engine: PolicyEngine, facts: RequestFacts, seconds: float, width: int = 50) -> float:
    """µs per decide with ``width`` decisions in flight (Redis: round trips overlap)."""
    n, spent = 0, 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        got = await asyncio.gather(*(engine.decide(facts) for _ in range(width)))
        spent += time.perf_counter() - t0
        n += width
        for d in got:
            await engine.release(d.lease_id or "", facts.key_id, facts.owner)
    return spent / n * 1e6


async def _warm(engine: PolicyEngine, facts: RequestFacts) -> None:
    d = await engine.decide(facts)  # seeds the spend counters, loads the Lua script
    assert d.allowed, d
    await engine.record_usage(facts.key_id, facts.owner, 1, 0.0, facts.now, d.lease_id)


async def bench(seconds: float, redis_url: str | None) -> None:
    print(f"event loop: {type(asyncio.get_running_loop()).__module__}; {seconds:g} s per line")
    engine = _engine("memory")
    scenarios = [
        ("no limits (fast path)", _facts(engine, NO_LIMITS, "nobody")),
        ("models only", _facts(engine, Limits(models=ALL_RULES.models), "nobody")),
        ("rpm only", _facts(engine, Limits(rpm=BIG), "nobody")),
        ("all rules, key", _facts(engine, ALL_RULES, "nobody")),
        ("all rules, key + owner", _facts(engine, ALL_RULES, "team")),
    ]
    head = f"{'decide µs':>10} {'record_usage µs':>16} {'a pass, CPU µs':>15} {'decisions':>10}"
    print(f"{'store':7} {'scenario':26} {head}")
    for name, facts in scenarios:
        await _warm(engine, facts)
        d_us, r_us, p_us, n = await _sequential(engine, facts, seconds)
        print(f"{'memory':7} {name:26} {d_us:10.2f} {r_us:16.2f} {p_us:15.2f} {n:10d}")
    if redis_url is None:
        return
    engine = _engine(redis_url)
    try:
        for name, facts in scenarios[2:]:
            facts = _facts(engine, facts.key_limits, facts.owner)
            await _warm(engine, facts)
            d_us, r_us, p_us, n = await _sequential(engine, facts, seconds)
            print(f"{'redis':7} {name:26} {d_us:10.2f} {r_us:16.2f} {p_us:15.2f} {n:10d}")
        facts = _facts(engine, ALL_RULES, "team")
        us = await _concurrent(engine, facts, seconds)
        print(f"{'redis':7} {'all rules, key+owner, 50∥':26} {us:10.2f} {'':16} {'(throughput)':>10}")
    finally:
        await engine.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="time per scenario")
    ap.add_argument("--no-redis", action="store_true", help="memory store only")
    args = ap.parse_args()
    bench_loop.run_with_redis(lambda server: bench(args.seconds, server and server.url), args.no_redis)


if __name__ == "__main__":
    main()
