from lmgate.errors import ErrorKind, ErrorType
from lmgate.policies.limits import Limits
from tests.unit.policies.facts import T0, facts

RATE_LIMITED_RPM, RATE_LIMITED_TPM = ErrorType.RATE_LIMITED_RPM, ErrorType.RATE_LIMITED_TPM

RPM60 = Limits(rpm=60)


async def test_rpm_any_60_seconds(make_engine):
    engine = make_engine()
    for t in range(60):
        assert (await engine.decide(facts(t, limits=RPM60))).allowed, t
    d = await engine.decide(facts(59.5, limits=RPM60))
    assert not d.allowed and d.verdict is not None
    v = d.verdict
    assert (v.status, v.kind, v.error_type) == (429, ErrorKind.RATE_LIMIT, RATE_LIMITED_RPM)
    assert v.headers == {
        "Retry-After": "1",
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "500ms",  # the request of t=0 leaves at t=60
    }
    assert v.message == "lmgate: key 'k1' is over its limit of 60 requests per minute; retry in 1s"
    assert not (await engine.decide(facts(59.999, limits=RPM60))).allowed
    assert (await engine.decide(facts(60, limits=RPM60))).allowed  # t=0 left the window
    assert not (await engine.decide(facts(60.5, limits=RPM60))).allowed  # t=1 leaves at 61
    assert (await engine.decide(facts(61, limits=RPM60))).allowed


async def test_rpm_no_double_burst_across_a_minute_edge(make_engine):
    engine = make_engine()
    for _ in range(60):
        assert (await engine.decide(facts(59.9, limits=RPM60))).allowed
    # a fixed per-minute window would allow 60 more at t=60.0
    for t in (60.0, 61.0, 90.0, 119.8):
        assert not (await engine.decide(facts(t, limits=RPM60))).allowed, t
    d = await engine.decide(facts(100, limits=RPM60))
    assert d.verdict is not None and d.verdict.headers["Retry-After"] == "20"
    assert d.verdict.headers["x-ratelimit-reset-requests"] == "19.9s"
    for _ in range(60):
        assert (await engine.decide(facts(119.9, limits=RPM60))).allowed
    assert not (await engine.decide(facts(119.9, limits=RPM60))).allowed


async def test_rpm_reset_header_formats(make_engine):
    engine = make_engine()
    one = Limits(rpm=1)
    assert (await engine.decide(facts(0.25, limits=one))).allowed
    d = await engine.decide(facts(0.25, limits=one))
    assert d.verdict is not None
    assert d.verdict.headers["Retry-After"] == "60"
    assert d.verdict.headers["x-ratelimit-reset-requests"] == "1m0s"
    d = await engine.decide(facts(5.0, limits=one))
    assert d.verdict is not None
    assert d.verdict.headers["Retry-After"] == "56"  # ceil(55.25)
    assert d.verdict.headers["x-ratelimit-reset-requests"] == "55.25s"


async def test_rpm_key_and_owner(make_engine):
    engine = make_engine(owners={"alpha": {"rpm": 3}})
    owner = engine.owner_limits("alpha")
    key = Limits(rpm=2)
    assert (await engine.decide(facts(0, key="k1", limits=key, owner_limits=owner))).allowed
    assert (await engine.decide(facts(0, key="k1", limits=key, owner_limits=owner))).allowed
    d = await engine.decide(facts(0, key="k1", limits=key, owner_limits=owner))
    assert d.verdict is not None and "key 'k1'" in d.verdict.message  # the key's limit first
    assert (await engine.decide(facts(0, key="k2", limits=key, owner_limits=owner))).allowed
    d = await engine.decide(facts(0, key="k3", limits=key, owner_limits=owner))
    assert d.verdict is not None
    assert d.verdict.message == "lmgate: owner 'alpha' is over its limit of 3 requests per minute; retry in 60s"
    assert d.verdict.headers["x-ratelimit-limit-requests"] == "3"


async def test_tpm_counts_finished_requests(make_engine):
    engine = make_engine()
    tpm = Limits(tpm=1000)
    d = await engine.decide(facts(0, limits=tpm))
    assert d.allowed and d.lease_id
    await engine.record_usage("k1", "alpha", 600, 0.0, T0 + 1.2, d.lease_id)
    assert (await engine.decide(facts(2, limits=tpm))).allowed  # 600 < 1000: in flight ones are not guessed
    await engine.record_usage("k1", "alpha", 400, 0.0, T0 + 3.5)
    d = await engine.decide(facts(4, limits=tpm))  # exactly at the limit: refused
    assert d.verdict is not None
    v = d.verdict
    assert (v.status, v.error_type) == (429, RATE_LIMITED_TPM)
    assert v.headers == {
        "Retry-After": "58",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "58s",  # the 600 of second 1 leave when that second is 60 s old: T0+62
    }
    assert v.message == (
        "lmgate: key 'k1' used 1000 tokens in the last minute, over its limit of 1000 tokens per minute; retry in 58s"
    )
    assert not (await engine.decide(facts(61.9, limits=tpm))).allowed
    assert (await engine.decide(facts(62, limits=tpm))).allowed
    assert not (await engine.decide(facts(62, limits=Limits(tpm=400)))).allowed
    assert (await engine.decide(facts(64, limits=Limits(tpm=400)))).allowed


async def test_tpm_per_owner(make_engine):
    engine = make_engine(owners={"alpha": {"tpm": 100}})
    owner = engine.owner_limits("alpha")
    await engine.record_usage("k1", "alpha", 60, None, T0)
    await engine.record_usage("k2", "alpha", 40, None, T0)
    d = await engine.decide(facts(1, key="k3", owner_limits=owner))
    assert d.verdict is not None and d.verdict.error_type == RATE_LIMITED_TPM
    assert "owner 'alpha' used 100 tokens" in d.verdict.message
    assert (await engine.decide(facts(1, key="k3", owner="beta", owner_limits=engine.owner_limits("beta")))).allowed
