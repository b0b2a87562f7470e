"""Memory stays bounded: windows prune as they slide, idle scopes are swept."""

from lmgate.policies.periods import period_of
from lmgate.store.base import BUDGET, PASSED, RPM, Check
from lmgate.store.memory import MemoryStore

NOW = 1_790_000_000.0


async def test_rpm_log_never_exceeds_the_limit():
    store = MemoryStore()
    checks = [Check(RPM, "k:a", 5)]
    for i in range(1000):
        await store.acquire(checks, NOW + i * 0.01, f"l{i}", 600)
    assert len(store._scopes["k:a"].hits) == 5


async def test_rpm_log_holds_one_window_in_compact_storage():
    store = MemoryStore()
    checks = [Check(RPM, "k:a", 10**9)]  # a limit never reached: the log is bounded by the window alone
    for i in range(20_000):  # 200 s at 100 requests a second
        assert await store.acquire(checks, NOW + i * 0.01, f"l{i}", 600) is PASSED
    hits = store._scopes["k:a"].hits
    assert len(hits) == 6000  # the last 60 s
    assert hits.oldest() == NOW + 14_000 * 0.01
    assert len(hits.times) <= 2 * 6000  # expired times are dropped, not only skipped
    assert hits.times.itemsize == 8


async def test_tpm_buckets_bounded_by_the_window():
    store = MemoryStore()
    for i in range(600):
        await store.record(["k:a"], 10, 0.0, NOW + i * 0.5, None)
    s = store._scopes["k:a"]
    assert len(s.buckets) <= 62 and s.tokens == sum(n for _, n in s.buckets)


async def test_sweep_drops_idle_scopes_and_past_periods():
    store = MemoryStore(idle_ttl=3600, sweep_interval=60)
    await store.acquire([Check(RPM, f"k:{i}", 10) for i in range(100)], NOW, "l", 600)
    await store.seed("k:busy", period_of("day", NOW), 1.0, NOW)
    assert len(store) == 101
    later = NOW + 86400 * 2
    assert await store.acquire([Check(RPM, "k:busy", 10)], later, "l2", 600) is PASSED
    assert len(store) == 1  # only the scope in use now
    assert store._scopes["k:busy"].spend == {}  # yesterday's counter is gone
    out = await store.acquire([Check(BUDGET, "k:busy", 1, "day")], later, "l3", 600)
    assert out.seed == (0,)  # a new day: cold again
