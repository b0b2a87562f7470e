"""Every policy is declared once and complete: settings with a docs row, refusals with a test, a place in the order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lmgate.allowlist import optional_columns
from lmgate.config import OwnerLimits
from lmgate.errors import ErrorType, GateError
from lmgate.policies.limits import Limits, parse_key_limits
from lmgate.policies.registry import POLICIES, REFUSED_BY, key_columns, owner_settings, register_module
from lmgate.policies.settings import SETTINGS

REPO = Path(__file__).resolve().parents[3]
CORE = POLICIES[:4]  # lmgate's own; policies.extra appends


def readme_rows() -> set[str]:
    """The setting names in the first column of README's limits table."""
    text = (REPO / "README.md").read_text()
    table = text[text.index("| column | meaning | refusal |") :].split("\n\n")[0]
    return {name for row in table.splitlines()[2:] for name in re.findall(r"`(\w+)`", row.split(" | ")[0])}


def test_the_order_is_the_documented_one():
    assert [p.name for p in CORE] == ["models", "budget", "parallel", "ratelimit"]
    rules = [r for p in CORE for r in p.rules]
    assert rules == ["budget", "parallel", "rpm", "tpm"]


@pytest.mark.parametrize("policy", CORE, ids=lambda p: p.name)
def test_every_policy_has_settings_a_docs_row_and_refusals_with_a_test(policy):
    assert policy.settings, f"{policy.name}: no setting"
    rows = readme_rows()
    for s in policy.settings:
        assert SETTINGS[s.name] is s and s.description
        assert s.name in rows, f"README's limits table has no row for {s.name}"
    assert policy.refusals and all(issubclass(r, GateError) for r in policy.refusals)
    tests = (REPO / f"tests/unit/policies/test_{policy.name}s.py", REPO / f"tests/unit/policies/test_{policy.name}.py")
    text = "".join(t.read_text() for t in tests if t.exists())
    for refusal in policy.refusals:  # each refusal's type is asserted in the policy's own test file
        assert refusal.error_type.name in text, f"no test of {policy.name}'s {refusal.__name__} refusal"


def test_tables_are_derived_from_the_registry():
    # lmgate's own; an e2e test may have added tests/e2e/toy_policy.py to this process's registry
    own = {s.name for p in CORE for s in p.settings}
    assert set(key_columns()) == {s.name for s in SETTINGS.values() if s.key} >= own
    assert set(key_columns()) <= set(optional_columns())
    assert own == {"models", "rpm", "tpm", "budget_usd", "budget_period", "max_parallel"} <= set(owner_settings())
    assert set(readme_rows()) == own


def test_a_key_and_an_owner_parse_each_setting_with_the_same_parser():
    cells = {
        "models": "gpt-*",
        "rpm": "5",
        "tpm": "9",
        "budget_usd": "2.5",
        "budget_period": "day",
        "max_parallel": "1",
    }
    key = parse_key_limits(cells)
    owner = OwnerLimits.model_validate({**cells, "models": ["gpt-*"]})
    assert Limits(**owner.values) == key
    with pytest.raises(ValueError, match="contains a space"):
        OwnerLimits.model_validate({"models": ["a b"]})
    with pytest.raises(ValueError, match="column models: 'a b' contains a space"):
        parse_key_limits({"models": "a b"})


def test_limits_know_what_to_judge():
    assert Limits().unlimited and Limits(budget_period="month").unlimited
    assert Limits(models=("x",)).needs_precheck and Limits(models=("x",)).stateless
    assert not Limits(rpm=1).stateless and not Limits(rpm=1).needs_precheck
    with pytest.raises(TypeError, match="unknown setting"):
        Limits(rmp=1)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("name = 'Quota Check'", "lowercase letters, digits and _"),
        ("name = 'other'", "lowercase letters, digits and _"),  # the label of undeclared refusals
        ("name = 'budget'", "is taken already"),
        ("name = 'quota'\n    refusals = (Taken,)", "error type 'model_name_too_long' is policy 'model_name_length'"),
    ],
)
def test_an_extra_policy_is_refused_when_its_name_or_refusals_would_blur_the_metrics(
    source, error, tmp_path, monkeypatch
):
    register_module("tests.e2e.toy_policy")
    module = f"bad_policy_{len(source)}"  # a module per case: one imported stays in sys.modules
    (tmp_path / f"{module}.py").write_text(
        "from lmgate.errors import Forbidden\nfrom lmgate.policies.base import Policy\n\n\n"
        "class Taken(Forbidden):\n    error_type = 'model_name_too_long'\n\n\n"
        f"class Bad(Policy):\n    {source}\n\n\nPOLICY = Bad()\n"
    )
    monkeypatch.syspath_prepend(tmp_path)
    before = list(POLICIES), dict(REFUSED_BY)
    with pytest.raises(ValueError, match=re.escape(error)):
        register_module(module)
    assert (list(POLICIES), dict(REFUSED_BY)) == before


def test_an_extra_policy_lists_its_refusals_under_its_name_and_lmgate_s_own_types_stay_lmgate_s():
    toy = register_module("tests.e2e.toy_policy")
    assert REFUSED_BY["model_name_too_long"] == toy.name == "model_name_length"
    assert not REFUSED_BY.keys() & {t.value for t in ErrorType}
