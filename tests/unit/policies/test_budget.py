import asyncio
from datetime import UTC, datetime

import pytest

from lmgate.errors import ErrorKind, ErrorType
from lmgate.policies.limits import Limits
from tests.unit.policies.facts import T0, facts

BUDGET_EXCEEDED, STORE_UNAVAILABLE = ErrorType.BUDGET_EXCEEDED, ErrorType.POLICY_STORE_UNAVAILABLE

MONTH_START = datetime(2026, 5, 1, tzinfo=UTC).timestamp()
JUNE = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
DAY_START = datetime(2026, 5, 9, tzinfo=UTC).timestamp()
NEXT_DAY = datetime(2026, 5, 10, tzinfo=UTC).timestamp()


class Rollups:
    """A stand-in for the rollups SQLite: spend per (key or owner), recording what was asked."""

    def __init__(self, spend: dict[str, float] | None = None) -> None:
        self.spend = spend or {}
        self.calls: list[tuple[float, str | None, str | None]] = []

    def __call__(self, since_epoch: float, key_id: str | None = None, owner: str | None = None) -> float:
        self.calls.append((since_epoch, key_id, owner))
        return self.spend.get(key_id or f"owner:{owner}", 0.0)


async def test_key_budget_seeded_then_spent(make_engine):
    rollups = Rollups({"k1": 9.5})
    engine = make_engine(seed_spend=rollups)
    ten = Limits(budget_usd=10)
    d = await engine.decide(facts(0, limits=ten))
    assert d.allowed
    assert rollups.calls == [(MONTH_START, "k1", None)]
    await engine.record_usage("k1", "alpha", 100, 0.6, T0 + 1, d.lease_id)
    d = await engine.decide(facts(2, limits=ten))
    assert d.verdict is not None
    v = d.verdict
    assert (v.status, v.kind, v.error_type) == (429, ErrorKind.QUOTA, BUDGET_EXCEEDED)
    assert v.message == (
        "lmgate: key 'k1' has spent $10.10 of its $10.00 monthly budget; it resets at 2026-06-01T00:00:00Z"
    )
    assert v.headers == {"Retry-After": str(int(JUNE - (T0 + 2)))}
    assert len(rollups.calls) == 1  # seeded once per period
    # a new month starts from what the rollups say about it
    d = await engine.decide(facts(JUNE - T0 + 1, limits=ten))
    assert d.allowed
    assert rollups.calls[-1] == (JUNE, "k1", None)


async def test_at_budget_is_refused(make_engine):
    engine = make_engine(seed_spend=Rollups({"k1": 10.0}))
    assert not (await engine.decide(facts(0, limits=Limits(budget_usd=10)))).allowed


async def test_owner_budget_shared_by_keys_per_day(make_engine):
    rollups = Rollups({"owner:alpha": 1.0})
    engine = make_engine(seed_spend=rollups, owners={"alpha": {"budget_usd": 5, "budget_period": "day"}})
    owner = engine.owner_limits("alpha")
    assert (await engine.decide(facts(0, key="k1", owner_limits=owner))).allowed
    assert rollups.calls == [(DAY_START, None, "alpha")]
    await engine.record_usage("k1", "alpha", 10, 2.5, T0 + 1)
    await engine.record_usage("k2", "alpha", 10, 1.5, T0 + 1)
    d = await engine.decide(facts(2, key="k2", owner_limits=owner))
    assert d.verdict is not None
    assert d.verdict.message == (
        "lmgate: owner 'alpha' has spent $5.00 of its $5.00 daily budget; it resets at 2026-05-10T00:00:00Z"
    )
    assert d.verdict.headers["Retry-After"] == str(int(NEXT_DAY - (T0 + 2)))
    assert (await engine.decide(facts(NEXT_DAY - T0, key="k2", owner_limits=owner))).allowed  # a new day


async def test_key_and_owner_budgets_key_first(make_engine):
    engine = make_engine(seed_spend=Rollups({"k1": 3, "owner:alpha": 100}), owners={"alpha": {"budget_usd": 50}})
    d = await engine.decide(facts(0, limits=Limits(budget_usd=2), owner_limits=engine.owner_limits("alpha")))
    assert d.verdict is not None and d.verdict.message.startswith("lmgate: key 'k1' has spent $3.00 of its $2.00")


async def test_total_budget_has_no_reset(make_engine):
    rollups = Rollups({"k1": 7})
    engine = make_engine(seed_spend=rollups)
    d = await engine.decide(facts(0, limits=Limits(budget_usd=7, budget_period="total")))
    assert rollups.calls == [(0.0, "k1", None)]
    assert d.verdict is not None
    assert d.verdict.message == "lmgate: key 'k1' has spent $7.00 of its $7.00 total budget; it does not reset"
    assert d.verdict.headers == {}


async def test_spend_without_a_seed_starts_at_zero(make_engine):
    engine = make_engine()
    one = Limits(budget_usd=1)
    d = await engine.decide(facts(0, limits=one))
    assert d.allowed
    await engine.record_usage("k1", "alpha", 1, 0.99, T0)
    assert (await engine.decide(facts(1, limits=one))).allowed
    await engine.record_usage("k1", "alpha", 1, 0.01, T0 + 1)
    assert not (await engine.decide(facts(2, limits=one))).allowed


async def test_async_seed(make_engine):
    async def seed(since_epoch: float, key_id: str | None = None, owner: str | None = None) -> float:
        return 4.0

    engine = make_engine(seed_spend=seed)
    assert not (await engine.decide(facts(0, limits=Limits(budget_usd=4)))).allowed


@pytest.mark.parametrize(("mode", "allowed"), [("closed", False), ("open", True)])
async def test_seed_failure_is_a_store_error(make_engine, mode, allowed):
    def broken(since_epoch: float, key_id: str | None = None, owner: str | None = None) -> float:
        raise OSError("rollups unreadable")

    engine = make_engine(seed_spend=broken, on_store_error=mode)
    d = await engine.decide(facts(0, limits=Limits(budget_usd=4)))
    assert d.allowed is allowed
    assert engine.store_errors == 1
    if not allowed:
        assert d.verdict is not None and (d.verdict.status, d.verdict.error_type) == (503, STORE_UNAVAILABLE)


async def test_usage_before_seeding_is_left_to_the_rollups(make_engine):
    # A cold counter is seeded from the rollups, which already hold earlier usage: no double count.
    engine = make_engine(seed_spend=Rollups({"k1": 0.5}))
    await engine.record_usage("k1", "alpha", 10, 0.5, T0)  # counter still cold: not counted here
    d = await engine.decide(facts(1, limits=Limits(budget_usd=1)))
    assert d.allowed
    await engine.record_usage("k1", "alpha", 10, 0.5, T0 + 1)
    assert not (await engine.decide(facts(2, limits=Limits(budget_usd=1)))).allowed


async def test_concurrent_cold_requests_seed_once(make_engine):
    rollups = Rollups({"k1": 1.0})
    engine = make_engine(seed_spend=rollups)
    got = await asyncio.gather(*(engine.decide(facts(0, limits=Limits(budget_usd=5))) for _ in range(20)))
    assert all(d.allowed for d in got)
    assert rollups.calls == [(MONTH_START, "k1", None)]
