import asyncio
import logging

import pytest

from lmgate.config import PolicyConfig
from lmgate.errors import ErrorKind, ErrorType, GateError
from lmgate.policies.engine import PolicyEngine, UsageUpdate
from lmgate.policies.limits import Limits
from lmgate.store.redis import RedisStore
from tests.unit.policies.facts import T0, facts

BUDGET_EXCEEDED, MODEL_NOT_ALLOWED, RATE_LIMITED_RPM, STORE_UNAVAILABLE = (
    ErrorType.BUDGET_EXCEEDED,
    ErrorType.MODEL_NOT_ALLOWED,
    ErrorType.RATE_LIMITED_RPM,
    ErrorType.POLICY_STORE_UNAVAILABLE,
)


class NoStore:
    """Fails the test if touched."""

    def __getattr__(self, name):
        raise AssertionError(f"the store was used: {name}")


async def test_fast_path_never_touches_the_store():
    engine = PolicyEngine(PolicyConfig(owners={"beta": {"rpm": 1}}), NoStore())  # type: ignore[arg-type]
    d = await engine.decide(facts(0, owner_limits=engine.owner_limits("alpha")))
    assert d.allowed and d.lease_id is None and d.verdict is None
    assert (await engine.decide(facts(0, limits=Limits(models=("gpt-*",))))).lease_id is None


async def test_rule_order(make_engine):
    engine = make_engine(seed_spend=lambda since, key_id=None, owner=None: 100.0)
    everything = Limits(models=("claude-*",), budget_usd=1, max_parallel=1, rpm=1, tpm=1)
    d = await engine.decide(facts(0, limits=everything))
    assert d.verdict is not None and d.verdict.error_type == MODEL_NOT_ALLOWED
    d = await engine.decide(facts(0, model="claude-3", limits=everything))
    assert d.verdict is not None and d.verdict.error_type == BUDGET_EXCEEDED


async def test_refused_requests_consume_nothing(make_engine):
    engine = make_engine()
    limits = Limits(max_parallel=1, rpm=2)
    a = await engine.decide(facts(0, limits=limits))
    assert a.allowed and a.lease_id
    for _ in range(5):  # refused by max_parallel: must not count against rpm
        d = await engine.decide(facts(1, limits=limits))
        assert d.verdict is not None and d.verdict.error_type == "too_many_parallel"
    await engine.release(a.lease_id, "k1", "alpha")
    b = await engine.decide(facts(2, limits=limits))
    assert b.allowed and b.lease_id  # second of two rpm
    await engine.release(b.lease_id, "k1", "alpha")
    for _ in range(5):  # refused by rpm: must not hold a parallel slot
        d = await engine.decide(facts(3, limits=limits))
        assert d.verdict is not None and d.verdict.error_type == RATE_LIMITED_RPM
    assert (await engine.decide(facts(60, limits=limits))).allowed


async def test_owner_refusal_does_not_count_for_the_key(make_engine):
    engine = make_engine(owners={"alpha": {"rpm": 1}})
    owner = engine.owner_limits("alpha")
    key = Limits(rpm=2)
    assert (await engine.decide(facts(0, key="k1", limits=key, owner_limits=owner))).allowed
    assert not (await engine.decide(facts(0, key="k1", limits=key, owner_limits=owner))).allowed  # owner full
    # k1 spent one of its two: had the refusal counted, it would be full for the rest of the minute
    assert (await engine.decide(facts(0, key="k1", limits=key, owner="beta"))).allowed
    assert not (await engine.decide(facts(0, key="k1", limits=key, owner="beta"))).allowed


async def test_concurrent_decisions_admit_exactly_the_limit(make_engine):
    engine = make_engine()
    limits = Limits(rpm=20, max_parallel=30)
    results = await asyncio.gather(*(engine.decide(facts(0, limits=limits)) for _ in range(50)))
    assert sum(d.allowed for d in results) == 20


async def test_verdict_is_the_gate_error_raised(make_engine):
    d = await make_engine().decide(facts(0, model="x", limits=Limits(models=("gpt-*",))))
    err = d.verdict
    assert isinstance(err, GateError)
    assert (err.status, err.kind, err.error_type, str(err)) == (
        403,
        ErrorKind.PERMISSION,
        MODEL_NOT_ALLOWED,
        err.message,
    )
    assert err.message.startswith("lmgate: model 'x' is not allowed")


async def test_record_usage_without_limits_is_harmless(make_engine):
    engine = make_engine()
    await engine.record_usage("k9", None, None, None)
    await engine.release("nope", "k9", None)


# --- several gateway instances on one Redis -----------------------------------------------------


async def test_two_engines_on_one_redis_share_limits(redis_url):
    a = PolicyEngine(PolicyConfig(), RedisStore.from_url(redis_url))
    b = PolicyEngine(PolicyConfig(), RedisStore.from_url(redis_url))
    try:
        limits = Limits(rpm=10, max_parallel=12)
        got = await asyncio.gather(*(e.decide(facts(0, limits=limits)) for e in [a, b] * 15))
        assert sum(d.allowed for d in got) == 10  # 10 in all, not 10 each
        assert len({d.lease_id for d in got if d.allowed}) == 10
        two = Limits(max_parallel=2)
        first = await a.decide(facts(100, key="k2", limits=two))
        assert (await b.decide(facts(100, key="k2", limits=two))).allowed
        assert not (await a.decide(facts(100, key="k2", limits=two))).allowed
        assert first.lease_id
        await b.release(first.lease_id, "k2", "alpha")  # the stats post may reach any instance
        assert (await a.decide(facts(100, key="k2", limits=two))).allowed
        budget = Limits(budget_usd=1, budget_period="day")
        assert (await a.decide(facts(200, limits=budget))).allowed
        await b.record_usage("k1", "alpha", 10, 1.0, T0 + 200)
        assert not (await a.decide(facts(201, limits=budget))).allowed
    finally:
        await a.close()
        await b.close()


# --- Redis down ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["closed", "open"])
async def test_redis_down(own_redis_server, caplog, mode):
    store = RedisStore.from_url(own_redis_server.url, timeout=0.5)
    engine = PolicyEngine(PolicyConfig(on_store_error=mode), store)
    limits = Limits(rpm=5)
    try:
        assert (await engine.decide(facts(0, limits=limits))).allowed
        own_redis_server.stop()
        with caplog.at_level(logging.ERROR, logger="lmgate.policies"):
            d = await engine.decide(facts(1, limits=limits))
            d2 = await engine.decide(facts(1, limits=limits))
            await engine.record_usage("k1", "alpha", 5, 0.1, T0 + 1, d.lease_id)  # never raises on the stats path
            pass_of_two = [UsageUpdate("k1", "alpha", 5, 0.1, T0 + 1, None), UsageUpdate("k2", None, 1, None, T0, None)]
            await engine.record_usages(pass_of_two)  # one store call, two reports failed
        if mode == "closed":
            assert not d.allowed and d.verdict is not None
            assert (d.verdict.status, d.verdict.kind, d.verdict.error_type) == (
                503,
                ErrorKind.UNAVAILABLE,
                STORE_UNAVAILABLE,
            )
        else:
            assert d.allowed and d2.allowed and d.lease_id
        assert engine.store_errors == 5
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1  # loud, but one line per second, not one per request
        assert "policy store unavailable" in errors[0].getMessage()
        assert ("allowing requests" in errors[0].getMessage()) is (mode == "open")
    finally:
        await engine.close()


async def test_precheck_alone_and_decide_after_it(make_engine):
    engine = make_engine()
    limits = Limits(models=("gpt-*",), rpm=1)
    verdict = engine.precheck(facts(0, model="claude-3", limits=limits))
    assert verdict is not None and verdict.error_type == MODEL_NOT_ALLOWED
    assert engine.precheck(facts(0, limits=limits)) is None
    assert engine.precheck(facts(0, model="claude-3", limits=Limits(rpm=1))) is None  # no model rules
    d = await engine.decide(facts(0, model="claude-3", limits=limits), prechecked=True)  # counted rules only
    assert d.allowed and d.lease_id


async def test_undo_gives_back_what_decide_counted(make_engine):
    engine = make_engine(owners={"alpha": {"rpm": 1}})
    owner = engine.owner_limits("alpha")
    f = facts(0, limits=Limits(max_parallel=1, rpm=1), owner_limits=owner)
    a = await engine.decide(f)
    assert a.allowed and (await engine.decide(facts(1, limits=f.key_limits, owner_limits=owner))).verdict
    await engine.undo(f, a)  # nginx never forwarded it: slot and rpm hits (key's and owner's) back
    assert (await engine.decide(facts(1, limits=f.key_limits, owner_limits=owner))).allowed
    await engine.undo(f, await engine.decide(facts(2)))  # nothing counted, nothing to undo
