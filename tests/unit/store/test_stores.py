"""The store contract, for both stores: one atomic check-all-then-commit."""

from collections.abc import AsyncIterator

import pytest

from lmgate.store.base import BUDGET, PARALLEL, PASSED, RPM, TPM, Check, Store, Usage
from lmgate.store.memory import MemoryStore
from lmgate.store.periods import period_of
from lmgate.store.redis import RedisStore

NOW = 1_790_000_000.0


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    s: Store = MemoryStore() if request.param == "memory" else RedisStore.from_url(request.getfixturevalue("redis_url"))
    yield s
    await s.close()


async def test_cold_budget_asks_for_seed_and_commits_nothing(store):
    checks = [Check(BUDGET, "k:a", 5, "day"), Check(BUDGET, "o:t", 9, "total"), Check(RPM, "k:a", 1)]
    out = await store.acquire(checks, NOW, "l1", 600)
    assert out.seed == (0, 1) and out.denied is None
    await store.seed("k:a", period_of("day", NOW), 1.0, NOW)
    await store.seed("k:a", period_of("day", NOW), 4.0, NOW)  # NX: the first seed stays
    await store.seed("o:t", period_of("total", NOW), 0.0, NOW)
    assert await store.acquire(checks, NOW, "l2", 600) is PASSED  # the rpm slot was not taken by the cold try
    out = await store.acquire(checks, NOW, "l3", 600)
    assert (out.denied, out.value, out.reset_at) == (2, 1, NOW + 60)


async def test_record_only_warms_existing_counters(store):
    day = period_of("day", NOW)
    budget = [Check(BUDGET, "k:a", 2, "day")]
    await store.record(["k:a"], 0, 5.0, NOW, None)  # cold: ignored (the rollups have it)
    await store.seed("k:a", day, 1.5, NOW)
    assert await store.acquire(budget, NOW, "l", 600) is PASSED
    await store.record(["k:a"], 0, 0.5, NOW, None)
    out = await store.acquire(budget, NOW, "l", 600)
    assert (out.denied, out.value) == (0, 2.0)


async def test_tpm_buckets_and_reset(store):
    tpm = [Check(TPM, "k:a", 100)]
    await store.record(["k:a"], 30, 0, NOW + 0.5, None)
    await store.record(["k:a"], 50, 0, NOW + 2.5, None)
    await store.record(["k:a"], 20, 0, NOW + 2.9, None)
    out = await store.acquire(tpm, NOW + 3, "l", 600)
    assert (out.denied, out.value, out.reset_at) == (0, 100, NOW + 61)  # second 0 leaves at 61: 70 < 100
    assert await store.acquire(tpm, NOW + 61, "l", 600) is PASSED
    out = await store.acquire([Check(TPM, "k:a", 50)], NOW + 61, "l", 600)
    assert (out.value, out.reset_at) == (70, NOW + 63)


async def test_parallel_lease_lifecycle(store):
    par = [Check(PARALLEL, "k:a", 1), Check(PARALLEL, "o:t", 5)]
    assert await store.acquire(par, NOW, "l1", 10) is PASSED
    out = await store.acquire(par, NOW + 1, "l2", 10)
    assert (out.denied, out.value) == (0, 1)
    await store.release(["k:a", "o:t"], "l1")
    assert await store.acquire(par, NOW + 1, "l2", 10) is PASSED
    assert await store.acquire(par, NOW + 11, "l3", 10) is PASSED  # l2 expired
    out = await store.acquire([Check(PARALLEL, "o:t", 1)], NOW + 12, "l4", 10)
    assert (out.denied, out.value) == (0, 1)  # the owner holds l3 only


async def test_usage_reads_windows_leases_and_warm_spend_without_counting(store):
    day, month = period_of("day", NOW), period_of("month", NOW)
    checks = [Check(RPM, "k:a", 10), Check(PARALLEL, "k:a", 5)]
    assert await store.acquire(checks, NOW - 70, "old", 600) is PASSED  # out of the rpm window by NOW
    assert await store.acquire(checks, NOW - 1, "l1", 600) is PASSED
    assert await store.acquire(checks, NOW, "l2", 600) is PASSED
    await store.record(["k:a"], 0, 0, NOW, "old")  # a finished request gives its lease back
    await store.record(["k:a"], 40, 0, NOW - 61.5, None)  # out of the tpm window
    await store.record(["k:a"], 25, 0, NOW - 2, None)
    await store.seed("k:a", day, 1.25, NOW)
    await store.record(["k:a"], 0, 0.5, NOW, None)
    got = await store.usage(["k:a", "o:nobody"], NOW)
    a = got["k:a"]
    assert (a.requests, a.tokens, a.in_flight) == (2, 25, 2)
    assert a.spend == {day.id: 1.75}  # the month counter is cold: the rollups know it
    assert month.id not in a.spend
    nobody = got["o:nobody"]
    assert (nobody.requests, nobody.tokens, nobody.in_flight, nobody.spend) == (0, 0, 0, {})
    again = await store.usage(["k:a"], NOW)  # reading counted nothing
    assert again["k:a"] == a


async def test_undo_takes_back_the_slot_and_the_rpm_hit_of_one_lease_only(store):
    checks = [Check(PARALLEL, "k:a", 2), Check(RPM, "k:a", 2), Check(RPM, "o:t", 3)]
    assert await store.acquire(checks, NOW, "l1", 600) is PASSED
    assert await store.acquire(checks, NOW + 0.0004, "l2", 600) is PASSED  # the same millisecond
    out = await store.acquire(checks, NOW + 1, "l3", 600)
    assert out.denied == 0  # two in flight
    await store.undo(checks, NOW, "l1")
    assert await store.acquire(checks, NOW + 1, "l3", 600) is PASSED  # l1's slot and rpm hits are back
    out = await store.acquire(checks, NOW + 2, "l4", 600)
    assert out.denied == 0  # l2 and l3 in flight: l2 was not undone with l1
    await store.release(["k:a"], "l2")
    out = await store.acquire(checks, NOW + 2, "l4", 600)
    assert (out.denied, out.value) == (1, 2)
    assert out.reset_at == pytest.approx(NOW + 60.0004, abs=0.001)  # l2's hit is the oldest (memory: to the ms)


# Budget holds (budget_mode reserve): the most a request can cost, held from acquire to its stats line.


async def _warm_budget(store, scope: str = "k:a", spent: float = 0.0, limit: float = 1.0) -> list[Check]:
    await store.seed(scope, period_of("day", NOW), spent, NOW)
    return [Check(BUDGET, scope, limit, "day"), Check(PARALLEL, scope, 100)]


async def test_holds_count_against_the_budget_until_settled(store):
    budget = await _warm_budget(store, spent=0.2)
    assert await store.acquire(budget, NOW, "l1", 600, 0.3) is PASSED
    assert await store.acquire(budget, NOW, "l2", 600, 0.3) is PASSED  # 0.2 + 0.3 + 0.3 = 0.8
    out = await store.acquire(budget, NOW, "l3", 600, 0.3)  # 1.1 would pass 1.0
    assert (out.denied, out.value, out.reserved) == (0, 0.2, pytest.approx(0.6))
    assert await store.acquire(budget, NOW, "l3", 600, 0.2) is PASSED  # exactly 1.0 fits
    out = await store.acquire(budget, NOW, "l4", 600, 0.0)  # spend + held at the limit: nothing more, not even 0
    assert (out.denied, out.reserved) == (0, pytest.approx(0.8))
    got = (await store.usage(["k:a"], NOW))["k:a"]
    assert (got.spend[period_of("day", NOW).id], got.reserved) == (0.2, pytest.approx(0.8))

    await store.record(["k:a"], 10, 0.05, NOW + 1, "l1")  # settled at its real cost: 0.3 held becomes 0.05 spent
    got = (await store.usage(["k:a"], NOW + 1))["k:a"]
    assert (got.spend[period_of("day", NOW).id], got.reserved) == (pytest.approx(0.25), pytest.approx(0.5))
    assert await store.acquire(budget, NOW + 1, "l5", 600, 0.25) is PASSED  # 0.25 + 0.5 + 0.25 = 1.0
    assert (await store.acquire(budget, NOW + 1, "l6", 600, 0.01)).denied == 0


async def test_release_and_undo_free_a_hold(store):
    budget = await _warm_budget(store)
    assert await store.acquire(budget, NOW, "l1", 600, 0.6) is PASSED
    assert (await store.acquire(budget, NOW, "l2", 600, 0.6)).denied == 0
    await store.release(["k:a"], "l1")  # ended without usage (upstream error, client gone): nothing spent
    assert await store.acquire(budget, NOW, "l2", 600, 0.6) is PASSED
    await store.undo(budget, NOW, "l2")  # /auth answered too late: as if never decided
    got = (await store.usage(["k:a"], NOW))["k:a"]
    assert (got.spend[period_of("day", NOW).id], got.reserved, got.in_flight) == (0.0, 0.0, 0)
    await store.release(["k:a"], "l2")  # freeing twice frees nothing more
    await store.record(["k:a"], 0, 0.0, NOW, "l2")
    assert await store.acquire(budget, NOW, "l3", 600, 1.0) is PASSED  # the whole budget, as nothing is held


async def test_hold_expires_with_the_lease_when_no_stats_line_comes(store):
    budget = await _warm_budget(store)
    assert await store.acquire(budget, NOW, "lost", 10, 0.9) is PASSED
    assert (await store.acquire(budget, NOW + 9, "l2", 10, 0.2)).denied == 0
    assert (await store.usage(["k:a"], NOW + 10))["k:a"].reserved == 0.0  # read-only: the expired hold is gone
    assert await store.acquire(budget, NOW + 10, "l2", 10, 0.2) is PASSED
    got = (await store.usage(["k:a"], NOW + 10))["k:a"]
    assert got.reserved == pytest.approx(0.2)


async def test_holds_go_to_every_budget_and_a_refusal_holds_nothing(store):
    day = period_of("day", NOW)
    await store.seed("k:a", day, 0.0, NOW)
    await store.seed("o:t", period_of("month", NOW), 0.0, NOW)
    checks = [Check(BUDGET, "k:a", 1.0, "day"), Check(BUDGET, "o:t", 0.5, "month")]
    assert await store.acquire(checks, NOW, "l1", 600, 0.3) is PASSED
    out = await store.acquire(checks, NOW, "l2", 600, 0.3)  # fits the key's 1.0, not the owner's 0.5
    assert (out.denied, out.value, out.reserved) == (1, 0.0, pytest.approx(0.3))
    got = await store.usage(["k:a", "o:t"], NOW)
    assert (got["k:a"].reserved, got["o:t"].reserved) == (pytest.approx(0.3), pytest.approx(0.3))  # l2: none
    await store.record(["k:a", "o:t"], 0, 0.1, NOW, "l1")
    got = await store.usage(["k:a", "o:t"], NOW)
    assert (got["k:a"].reserved, got["o:t"].reserved) == (0.0, 0.0)
    assert got["k:a"].spend[day.id] == pytest.approx(0.1)


async def test_settle_mode_holds_nothing(store):
    budget = await _warm_budget(store, spent=0.99)
    for i in range(5):  # reserve 0: only finished spend counts, so all pass while spend < limit
        assert await store.acquire(budget, NOW, f"l{i}", 600, 0.0) is PASSED
    assert (await store.usage(["k:a"], NOW))["k:a"].reserved == 0.0


async def test_record_many_counts_what_record_one_by_one_counts(store):
    """A pass over the stats spool records its lines in one call: the same slots, holds, tokens and spend."""
    day = period_of("day", NOW)
    checks = [Check(BUDGET, "k:a", 10, "day"), Check(PARALLEL, "k:a", 3), Check(PARALLEL, "o:t", 3)]
    await store.seed("k:a", day, 1.0, NOW)
    for lease in ("l1", "l2", "l3"):
        assert await store.acquire(checks, NOW, lease, 600, 0.5) is PASSED
    assert (await store.acquire(checks, NOW, "l4", 600, 0.5)).denied == 1  # three in flight
    await store.record_many(
        [
            Usage(["k:a", "o:t"], 30, 0.25, NOW + 0.5, "l1"),
            Usage(["k:a"], 0, 0.0, NOW + 0.6, None),  # no lease, nothing counted
            Usage(["k:a", "o:t"], 50, 0.5, NOW + 2.5, "l3"),
            Usage(["o:t"], 20, 0.0, NOW + 2.9, None),
        ]
    )
    got = await store.usage(["k:a", "o:t"], NOW + 3)
    assert (got["k:a"].tokens, got["k:a"].in_flight, got["k:a"].reserved) == (80, 1, pytest.approx(0.5))
    assert got["k:a"].spend == {day.id: pytest.approx(1.75)}
    assert (got["o:t"].tokens, got["o:t"].in_flight, got["o:t"].spend) == (100, 1, {})
    await store.record_many([])  # a pass whose lines all went without usage
