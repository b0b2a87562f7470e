from lmgate.errors import ErrorKind, ErrorType
from lmgate.policies.limits import Limits
from tests.unit.policies.facts import T0, facts

TOO_MANY_PARALLEL = ErrorType.TOO_MANY_PARALLEL

TWO = Limits(max_parallel=2)


async def test_slots_released_by_release_and_record_usage(make_engine):
    engine = make_engine()
    a = await engine.decide(facts(0, limits=TWO))
    b = await engine.decide(facts(0, limits=TWO))
    assert a.allowed and b.allowed and a.lease_id != b.lease_id
    d = await engine.decide(facts(1, limits=TWO))
    assert d.verdict is not None
    v = d.verdict
    assert (v.status, v.kind, v.error_type) == (429, ErrorKind.RATE_LIMIT, TOO_MANY_PARALLEL)
    assert v.headers == {"Retry-After": "1"}
    assert v.message == "lmgate: key 'k1' already has 2 requests in flight (max_parallel 2); retry when one finishes"
    assert a.lease_id and b.lease_id
    await engine.release(a.lease_id, "k1", "alpha")
    c = await engine.decide(facts(2, limits=TWO))
    assert c.allowed
    assert not (await engine.decide(facts(2, limits=TWO))).allowed
    await engine.record_usage("k1", "alpha", 5, 0.0, T0 + 3, b.lease_id)  # the stats path, also on disconnect
    assert (await engine.decide(facts(3, limits=TWO))).allowed


async def test_lost_leases_expire(make_engine):
    engine = make_engine(lease_ttl=600)
    assert (await engine.decide(facts(0, limits=TWO))).allowed
    assert (await engine.decide(facts(10, limits=TWO))).allowed
    assert not (await engine.decide(facts(599.9, limits=TWO))).allowed
    assert (await engine.decide(facts(600, limits=TWO))).allowed  # the first lease's 600 s are over
    assert not (await engine.decide(facts(600, limits=TWO))).allowed


async def test_owner_slots_across_keys(make_engine):
    engine = make_engine(owners={"alpha": {"max_parallel": 2}})
    owner = engine.owner_limits("alpha")
    a = await engine.decide(facts(0, key="k1", owner_limits=owner))
    assert a.allowed and (await engine.decide(facts(0, key="k2", owner_limits=owner))).allowed
    d = await engine.decide(facts(0, key="k3", owner_limits=owner))
    assert d.verdict is not None and "owner 'alpha' already has 2 requests in flight" in d.verdict.message
    assert a.lease_id
    await engine.release(a.lease_id, "k1", "alpha")
    assert (await engine.decide(facts(0, key="k3", owner_limits=owner))).allowed
