"""Memory stays bounded: windows prune as they slide, idle scopes are swept."""

from lmgate.store.base import BUDGET, PASSED, RPM, Check
from lmgate.store.memory import MemoryStore
from lmgate.store.periods import period_of

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
    assert NOW + 14_000 * 0.01 <= hits.oldest() <= NOW + 14_000 * 0.01 + 0.001
    assert len(hits.ms) <= 2 * 6000  # expired times are dropped, not only skipped


async def test_rpm_log_keeps_one_entry_per_millisecond():
    store = MemoryStore()
    checks = [Check(RPM, "k:a", 10**9)]
    for i in range(100_000):  # 20 s at 5,000 requests a second
        await store.acquire(checks, NOW + i * 0.0002, f"l{i}", 600)
    hits = store._scopes["k:a"].hits
    assert len(hits) == 100_000
    assert len(hits.ms) == 20_001 and sum(hits.counts) == 100_000


async def test_rpm_hits_leave_the_window_no_earlier_than_their_exact_time():
    """Rounded to the millisecond, but up: a request is never let past the limit early."""
    store = MemoryStore()
    checks = [Check(RPM, "k:a", 1)]
    first = NOW + 0.0004  # 0.4 ms into a millisecond
    assert await store.acquire(checks, first, "l1", 600) is PASSED
    refused = await store.acquire(checks, first + 60.0 - 0.0001, "l2", 600)
    assert refused.denied == 0 and refused.reset_at >= first + 60.0
    assert await store.acquire(checks, first + 60.001, "l3", 600) is PASSED


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
