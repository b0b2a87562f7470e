import pytest
from pydantic import ValidationError

from lmgate.config import OwnerLimits, PolicyConfig
from lmgate.policies.limits import NO_LIMITS, Limits, limits_from_owner, parse_key_limits


def test_empty_cells_mean_no_limits():
    assert parse_key_limits({}) is NO_LIMITS
    assert parse_key_limits({"rpm": "", "models": "  ", "other": "x"}) is NO_LIMITS
    assert NO_LIMITS.unlimited and NO_LIMITS.stateless


def test_all_columns():
    limits = parse_key_limits(
        {
            "models": " gpt-4o* ; claude-*;",
            "rpm": "60",
            "tpm": " 100000 ",
            "budget_usd": "12.50",
            "budget_period": "Day",
            "max_parallel": "4",
        }
    )
    assert limits == Limits(
        models=("gpt-4o*", "claude-*"), rpm=60, tpm=100000, budget_usd=12.5, budget_period="day", max_parallel=4
    )
    assert not limits.stateless and not limits.unlimited


def test_budget_period_defaults_to_month():
    assert parse_key_limits({"budget_usd": "5"}).budget_period == "month"


def test_models_only_is_stateless():
    limits = parse_key_limits({"models": "gpt-4o*"})
    assert limits.stateless and not limits.unlimited


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"rpm": "abc"}, "column rpm: 'abc' is not a positive integer"),
        ({"rpm": "0"}, "column rpm: '0' is not a positive integer"),
        ({"tpm": "1.5"}, "column tpm: '1.5' is not a positive integer"),
        ({"max_parallel": "-2"}, "column max_parallel: '-2' is not a positive integer"),
        ({"budget_usd": "ten"}, "column budget_usd: 'ten' is not a positive number"),
        ({"budget_usd": "0"}, "column budget_usd: '0' is not a positive number"),
        ({"budget_usd": "nan"}, "column budget_usd: 'nan' is not a positive number"),
        ({"budget_usd": "5", "budget_period": "week"}, "column budget_period: 'week' is not one of day, month, total"),
        ({"budget_period": "day"}, "column budget_period: set without budget_usd"),
        ({"models": "gpt-4o claude-3"}, "column models: 'gpt-4o claude-3' contains a space"),
        ({"models": ";;"}, "column models: no model pattern"),
    ],
)
def test_bad_cells(cells, message):
    with pytest.raises(ValueError) as e:
        parse_key_limits(cells)
    assert str(e.value).startswith(message)


@pytest.mark.parametrize(
    ("model", "allowed"),
    [
        ("gpt-4o", True),
        ("gpt-4o-mini", True),
        ("claude-3-5-sonnet", True),
        ("gpt-4", False),
        ("GPT-4o", False),  # provider model ids are case-sensitive
        ("my-gpt-4o", False),  # a glob matches the whole name
    ],
)
def test_globs(model, allowed):
    assert parse_key_limits({"models": "gpt-4o*;claude-*"}).allows_model(model) is allowed


def test_owner_limits_model():
    o = OwnerLimits.model_validate({"models": ["gpt-*"], "rpm": "100", "budget_usd": 50, "budget_period": "day"})
    limits = limits_from_owner(o)
    assert limits == Limits(models=("gpt-*",), rpm=100, budget_usd=50.0, budget_period="day")
    assert limits_from_owner(OwnerLimits()).unlimited


@pytest.mark.parametrize(
    "data",
    [{"rpm": 0}, {"tpm": -1}, {"budget_usd": 0}, {"budget_period": "week"}, {"models": ["a b"]}, {"rmp": 5}],
)
def test_owner_limits_rejects(data):
    with pytest.raises(ValidationError):
        OwnerLimits.model_validate(data)


def test_policy_config():
    c = PolicyConfig.model_validate({"owners": {"alpha": {"rpm": 10}}})
    assert c.store == "memory" and c.on_store_error == "closed" and c.lease_ttl == 600
    assert c.owners["alpha"].rpm == 10
    assert PolicyConfig(store="redis://127.0.0.1:6380/2").store.startswith("redis://")
    for bad in ("redis://", "mysql://h/1", "memroy"):
        with pytest.raises(ValidationError):
            PolicyConfig(store=bad)
    with pytest.raises(ValidationError):
        PolicyConfig(on_store_error="maybe")
