"""What each limited key and owner has used of its limits, read for metrics and alerts."""

from __future__ import annotations

import logging
import time

import pytest

from lmgate.config import OwnerLimits
from lmgate.policies import headroom
from lmgate.policies.headroom import BUDGET, KEY, MAX_PARALLEL, OWNER, RPM, TPM, Headroom, limited_scopes
from lmgate.policies.limits import NO_LIMITS, Limits, limits_from_owner
from lmgate.store.base import BUDGET as BUDGET_RULE
from lmgate.store.base import PARALLEL, PASSED, Check, StoreUnavailable, key_scope
from lmgate.store.base import RPM as RPM_RULE
from lmgate.store.memory import MemoryStore
from lmgate.store.periods import period_of


def spend_by_table(table: dict[tuple[str, str], float], asked: list):
    def spend_by(since: float, group: str) -> dict[str, float]:
        asked.append((since, group))
        return {name: usd for (g, name), usd in table.items() if g == group}

    return spend_by


async def test_budgets_warm_from_the_store_cold_from_the_rollups_and_windows():
    store, now = MemoryStore(), time.time()
    alice = Limits(budget_usd=10, budget_period="day", rpm=5, tpm=100, max_parallel=2)
    bob = Limits(budget_usd=4, budget_period="month")
    team = limits_from_owner(OwnerLimits(budget_usd=50, budget_period="month"))
    scopes = limited_scopes([("alice", "t", alice), ("bob", "t", bob), ("carol", "t", NO_LIMITS)], {"t": team})
    assert [(x.scope, x.key_id, x.owner) for x in scopes] == [(KEY, "alice", "t"), (KEY, "bob", "t"), (OWNER, "", "t")]
    checks = [Check(RPM_RULE, key_scope("alice"), 5), Check(PARALLEL, key_scope("alice"), 2)]
    assert await store.acquire(checks, now, "l1", 600) is PASSED
    await store.seed(key_scope("alice"), period_of("day", now), 2.5, now)  # warm: the store counts on from here
    await store.record([key_scope("alice")], 30, 0.5, now, None)
    held = [Check(BUDGET_RULE, key_scope("alice"), 10, "day")]
    assert await store.acquire(held, now, "l2", 600, 1.25) is PASSED  # budget_mode reserve: held, not spent
    asked: list = []
    table = {("key_id", "bob"): 1.0, ("key_id", "alice"): 99.0, ("owner", "t"): 7.0}
    h = Headroom(store, lambda: scopes, spend_by_table(table, asked), ttl=60)
    uses = {(u.scope, u.key_id, u.rule): u for u in (await h.snapshot()).uses}
    assert uses[(KEY, "alice", BUDGET)].used == 3.0  # the store's, not the rollups' 99
    assert (uses[(KEY, "alice", BUDGET)].reserved, uses[(KEY, "bob", BUDGET)].reserved) == (1.25, 0.0)
    assert uses[(KEY, "alice", BUDGET)].period == period_of("day", now)
    assert (uses[(KEY, "bob", BUDGET)].used, uses[(KEY, "bob", BUDGET)].limit) == (1.0, 4)
    assert uses[(OWNER, "", BUDGET)].used == 7.0
    assert [uses[(KEY, "alice", r)].used for r in (RPM, TPM, MAX_PARALLEL)] == [1, 30, 1]
    month = period_of("month", now).start
    assert sorted(asked) == sorted([(month, "key_id"), (month, "owner")])  # one grouped query per period and kind


async def test_snapshots_are_shared_for_ttl_and_a_store_error_is_counted():
    calls = 0

    class Failing(MemoryStore):
        async def usage(self, scopes, now):
            nonlocal calls
            calls += 1
            raise StoreUnavailable("redis: down")

    scopes = limited_scopes([("a", "t", Limits(rpm=3))], {})
    h = Headroom(Failing(), lambda: scopes, lambda since, group: {}, ttl=60)
    first = await h.snapshot()
    assert await h.snapshot() is first and calls == 1
    assert first.error == "redis: down" and h.read_errors == 1
    assert [(u.rule, u.used) for u in first.uses] == [(RPM, 0)]


@pytest.mark.parametrize("ttl", [0.0001])
async def test_a_stale_snapshot_is_read_again(ttl):
    store = MemoryStore()
    scopes = limited_scopes([("a", "t", Limits(rpm=3))], {})
    h = Headroom(store, lambda: scopes, lambda since, group: {}, ttl=ttl)
    before = await h.snapshot()
    assert await store.acquire([Check(RPM_RULE, key_scope("a"), 3)], time.time(), "l", 600) is PASSED
    time.sleep(0.001)
    after = await h.snapshot()
    assert (before.uses[0].used, after.uses[0].used) == (0, 1)


async def test_rollups_that_cannot_be_read_are_counted_on_every_scrape_but_logged_once_a_minute(caplog, monkeypatch):
    fresh = headroom._ROLLUPS_FAILED.__class__(headroom.log, logging.WARNING, interval=60.0)
    monkeypatch.setattr(headroom, "_ROLLUPS_FAILED", fresh)  # no line an earlier test logged

    def down(since: float, group: str) -> dict[str, float]:
        raise ConnectionError("rollups store postgresql://db is unreachable")

    scopes = limited_scopes([("a", "t", Limits(budget_usd=5))], {})
    h = Headroom(MemoryStore(), lambda: scopes, down, ttl=0)
    with caplog.at_level("WARNING", logger="lmgate.policies"):
        for _ in range(5):
            snap = await h.snapshot()
    assert [(u.rule, u.used) for u in snap.uses] == [(BUDGET, 0.0)]  # reads as unspent until they answer
    assert h.read_errors == 5
    lines = [r for r in caplog.records if "from the rollups failed" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None and "unreachable" in lines[0].getMessage()
