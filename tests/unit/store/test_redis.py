"""Redis specifics: one round trip per decision, key lifetimes, bounded hashes, script reloads."""

import signal
import time

import pytest
import redis.asyncio as aioredis

from lmgate.store import redis as redis_store
from lmgate.store.base import BUDGET, PARALLEL, PASSED, RPM, TPM, Check, StoreUnavailable, Usage
from lmgate.store.periods import period_of
from lmgate.store.redis import RedisStore

NOW = 1_790_000_000.0
ALL = [
    Check(BUDGET, "k:a", 100, "month"),
    Check(BUDGET, "o:t", 100, "total"),
    Check(PARALLEL, "k:a", 1000),
    Check(RPM, "k:a", 1000),
    Check(RPM, "o:t", 1000),
    Check(TPM, "k:a", 10**9),
]


async def _seeded(url: str) -> RedisStore:
    store = RedisStore.from_url(url)
    await store.seed("k:a", period_of("month", NOW), 0.0, NOW)
    await store.seed("o:t", period_of("total", NOW), 0.0, NOW)
    return store


async def test_one_round_trip_per_decision(redis_url):
    store = await _seeded(redis_url)
    admin = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert await store.acquire(ALL, NOW, "warm", 600) is PASSED  # loads the script if needed
        await admin.config_resetstat()
        for i in range(10):
            assert await store.acquire(ALL, NOW + i, f"l{i}", 600) is PASSED
        stats = await admin.info("commandstats")
        calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}
        assert calls.get("evalsha") == 10
        client_side = {k for k in calls if "|" not in k} - {"evalsha", "config", "info"}
        assert client_side <= {
            "get",
            "hget",
            "zremrangebyscore",
            "zcard",
            "zadd",
            "pexpire",
            "hgetall",
        }  # by the script
    finally:
        await admin.aclose()
        await store.close()


async def test_keys_expire(redis_url):
    store = await _seeded(redis_url)
    admin = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert await store.acquire(ALL, NOW, "l1", 600) is PASSED
        await store.record(["k:a"], 10, 0.5, NOW, None)
        ttl = {k: await admin.ttl(k) for k in await admin.keys("lmgate:*")}
        month = period_of("month", NOW)
        want = {
            "lmgate:rpm:k:a": 61,
            "lmgate:rpm:o:t": 61,
            "lmgate:par:k:a": 600,
            "lmgate:tpm:k:a": 120,
            f"lmgate:spend:{month.id}:k:a": int(month.end - NOW) + 3600,
            "lmgate:spend:t:o:t": -1,  # total: kept
        }
        assert ttl.keys() == want.keys()
        assert all(want[k] - 1 <= ttl[k] <= want[k] for k in want), ttl
        assert float(await admin.get(f"lmgate:spend:{month.id}:k:a")) == 0.5
    finally:
        await admin.aclose()
        await store.close()


async def test_one_round_trip_per_pass_of_usage(redis_url, monkeypatch):
    monkeypatch.setattr(redis_store, "RECORD_CHUNK", 4)
    store = await _seeded(redis_url)
    admin = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        for i in range(10):
            assert await store.acquire(ALL, NOW, f"l{i}", 600, 0.01) is PASSED
        await store.record(["k:a"], 0, 0.0, NOW, None)  # loads the script if needed
        await admin.config_resetstat()
        await store.record_many([Usage(["k:a", "o:t"], 10, 0.5, NOW + i, f"l{i}") for i in range(10)])
        stats = await admin.info("commandstats")
        assert stats["cmdstat_evalsha"]["calls"] == 3  # 10 requests in chunks of 4
        got = await store.usage(["k:a", "o:t"], NOW + 10)
        assert (got["k:a"].tokens, got["k:a"].in_flight, got["k:a"].reserved) == (100, 0, 0.0)
        month, total = period_of("month", NOW).id, period_of("total", NOW).id
        assert (got["k:a"].spend[month], got["o:t"].spend[total]) == (5.0, 5.0)
    finally:
        await admin.aclose()
        await store.close()


async def test_tpm_hash_bounded_without_checks(redis_url):
    store = RedisStore.from_url(redis_url)
    admin = aioredis.Redis.from_url(redis_url)
    try:
        for i in range(300):  # a key without tpm: no check ever prunes its hash
            await store.record(["k:a"], 5, 0.0, NOW + i, None)
        assert await admin.hlen("lmgate:tpm:k:a") <= 91
    finally:
        await admin.aclose()
        await store.close()


async def test_script_flush_is_survived(redis_url):
    store = await _seeded(redis_url)
    admin = aioredis.Redis.from_url(redis_url)
    try:
        assert await store.acquire(ALL, NOW, "l1", 600) is PASSED
        await admin.script_flush()  # as after a Redis restart
        assert await store.acquire(ALL, NOW, "l2", 600) is PASSED
        await store.record(["k:a"], 1, 0.1, NOW, "l2")
    finally:
        await admin.aclose()
        await store.close()


async def test_prefix_isolates_deployments(redis_url):
    a, b = RedisStore.from_url(redis_url, prefix="one:"), RedisStore.from_url(redis_url, prefix="two:")
    try:
        one = [Check(RPM, "k:a", 1)]
        assert await a.acquire(one, NOW, "l1", 600) is PASSED
        assert await b.acquire(one, NOW, "l1", 600) is PASSED
        assert (await a.acquire(one, NOW, "l2", 600)).denied == 0
    finally:
        await a.close()
        await b.close()


async def test_hung_redis_times_out(own_redis_server):
    store = RedisStore.from_url(own_redis_server.url, timeout=0.2)
    checks = [Check(RPM, "k:a", 5)]
    try:
        assert await store.acquire(checks, NOW, "l1", 600) is PASSED
        assert own_redis_server.proc is not None
        own_redis_server.proc.send_signal(signal.SIGSTOP)  # alive but not answering
        try:
            t0 = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await store.acquire(checks, NOW, "l2", 600)
            assert time.monotonic() - t0 < 1.0
        finally:
            own_redis_server.proc.send_signal(signal.SIGCONT)
        assert await store.acquire(checks, NOW, "l3", 600) is PASSED  # back: a new connection
    finally:
        await store.close()


async def test_redis_restart_is_survived(own_redis_server):
    store = RedisStore.from_url(own_redis_server.url)
    checks = [Check(RPM, "k:a", 5)]
    try:
        assert await store.acquire(checks, NOW, "l1", 600) is PASSED
        admin = aioredis.Redis.from_url(own_redis_server.url)
        await admin.client_kill_filter(_type="normal", skipme=True)  # pooled connections die, as on a restart
        await admin.script_flush()
        await admin.aclose()
        assert await store.acquire(checks, NOW, "l2", 600) is PASSED
    finally:
        await store.close()
