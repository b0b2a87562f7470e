from lmgate.errors import ErrorKind, ErrorType
from lmgate.policies.limits import Limits
from tests.unit.policies.facts import facts

MODEL_NOT_ALLOWED = ErrorType.MODEL_NOT_ALLOWED

KEY = Limits(models=("gpt-4o*", "claude-*"))


async def test_model_inside_the_patterns(make_engine):
    engine = make_engine()
    d = await engine.decide(facts(model="gpt-4o-mini", limits=KEY))
    assert d.allowed and d.lease_id is None  # model rules alone need no store


async def test_model_outside_the_patterns(make_engine):
    d = await make_engine().decide(facts(model="gpt-4", limits=KEY))
    assert not d.allowed and d.verdict is not None
    v = d.verdict
    assert (v.status, v.kind, v.error_type) == (403, ErrorKind.PERMISSION, MODEL_NOT_ALLOWED)
    assert v.message == "lmgate: model 'gpt-4' is not allowed for key 'k1'; allowed: gpt-4o*, claude-*"
    assert v.headers == {}


async def test_unknown_model_with_patterns(make_engine):
    d = await make_engine().decide(facts(model=None, limits=KEY))
    assert d.verdict is not None and d.verdict.status == 403
    assert d.verdict.message == (
        "lmgate: the model of this request could not be determined, "
        "and key 'k1' may only use models matching gpt-4o*, claude-*"
    )


async def test_unknown_model_without_patterns_passes(make_engine):
    assert (await make_engine().decide(facts(model=None, limits=Limits(rpm=5)))).allowed


async def test_key_and_owner_patterns_both_apply(make_engine):
    engine = make_engine()
    owner = Limits(models=("gpt-*",))
    assert (await engine.decide(facts(model="gpt-4o", limits=KEY, owner_limits=owner))).allowed
    d = await engine.decide(facts(model="claude-3-opus", limits=KEY, owner_limits=owner))
    assert d.verdict is not None
    assert d.verdict.message == "lmgate: model 'claude-3-opus' is not allowed for owner 'alpha'; allowed: gpt-*"


async def test_owner_patterns_from_config(make_engine):
    engine = make_engine(owners={"alpha": {"models": ["claude-*"]}})
    owner = engine.owner_limits("alpha")
    assert (await engine.decide(facts(model="claude-3", owner_limits=owner))).allowed
    assert not (await engine.decide(facts(model="gpt-4o", owner_limits=owner))).allowed
    assert engine.owner_limits("nobody").unlimited and engine.owner_limits(None).unlimited
