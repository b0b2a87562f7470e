"""budget_mode reserve: a decision holds the most the request can cost; settle only counts finished spend."""

import dataclasses

from lmgate.errors import ErrorType
from lmgate.policies.limits import Limits
from tests.unit.policies.facts import T0, facts
from tests.unit.policies.test_budget import Rollups

BUDGET_EXCEEDED = ErrorType.BUDGET_EXCEEDED

BUDGET = Limits(budget_usd=1.0)


def reserving(at: float, usd: float, limits: Limits = BUDGET):
    return dataclasses.replace(facts(at, limits=limits), reserve_usd=usd)


async def test_reserve_refuses_what_in_flight_requests_may_spend(make_engine):
    engine = make_engine(seed_spend=Rollups({"k1": 0.1}))
    first = [await engine.decide(reserving(0, 0.3)) for _ in range(3)]  # 0.1 + 0.9 held = 1.0: all fit
    assert all(d.allowed for d in first)
    d = await engine.decide(reserving(1, 0.05))
    assert d.verdict is not None and d.verdict.error_type == BUDGET_EXCEEDED
    assert d.verdict.message == (
        "lmgate: key 'k1' has spent $0.10 of its $1.00 monthly budget and requests in flight hold $0.90; "
        "this request may cost up to $0.05 (its output limit at the model's price); retry when they finish"
    )
    assert d.verdict.headers == {"Retry-After": "2"}
    await engine.record_usage("k1", "alpha", 50, 0.02, T0 + 2, first[0].lease_id)  # settled at its real cost
    assert (await engine.decide(reserving(3, 0.28))).allowed  # 0.12 spent + 0.6 held + 0.28 = 1.0
    await engine.release(first[1].lease_id or "", "k1", "alpha")  # ended without usage: nothing spent
    await engine.undo(reserving(0, 0.3), first[2])  # nginx stopped waiting: never happened
    assert (await engine.decide(reserving(4, 0.6))).allowed  # 0.12 + 0.28 + 0.6 = 1.0


async def test_a_request_that_cannot_fit_is_told_to_ask_for_less(make_engine):
    engine = make_engine(seed_spend=Rollups({"k1": 0.4}))
    d = await engine.decide(reserving(0, 0.7))
    assert d.verdict is not None
    assert d.verdict.message == (
        "lmgate: key 'k1' has spent $0.40 of its $1.00 monthly budget; this request may cost up to $0.70 "
        "(its output limit at the model's price), more than the $0.60 left; lower its max output tokens"
    )
    assert d.verdict.headers == {}  # retrying the same request cannot help


async def test_money_held_refuses_even_a_request_of_unknown_price(make_engine):
    engine = make_engine(seed_spend=Rollups({"k1": 0.5}))
    assert (await engine.decide(reserving(0, 0.5))).allowed
    d = await engine.decide(reserving(1, 0.0))  # 0.5 spent + 0.5 held: at the budget; an unpriced model holds 0
    assert d.verdict is not None
    assert d.verdict.message == (
        "lmgate: key 'k1' has spent $0.50 of its $1.00 monthly budget and requests in flight hold $0.50; "
        "retry when they finish"
    )


async def test_engine_reserves_only_in_reserve_mode_with_a_budget(make_engine):
    reserve, settle = make_engine(), make_engine(budget_mode="settle")
    owner_budget = make_engine(owners={"alpha": {"budget_usd": 5}})
    assert reserve.reserves(facts(0, limits=BUDGET))
    assert not reserve.reserves(facts(0, limits=Limits(rpm=10)))  # no budget: no amount computed
    assert not settle.reserves(facts(0, limits=BUDGET))
    assert owner_budget.reserves(facts(0, owner_limits=owner_budget.owner_limits("alpha")))


async def test_settle_lets_concurrent_requests_overshoot(make_engine):
    engine = make_engine(seed_spend=Rollups({"k1": 0.9}), budget_mode="settle")
    decisions = [await engine.decide(facts(0, limits=BUDGET)) for _ in range(5)]
    assert all(d.allowed for d in decisions)  # each sees 0.9 < 1.0: the overshoot reserve prevents
    for d in decisions:
        await engine.record_usage("k1", "alpha", 10, 0.3, T0 + 1, d.lease_id)
    assert not (await engine.decide(facts(2, limits=BUDGET))).allowed
