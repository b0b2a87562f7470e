"""A policy added from one file (tests/e2e/toy_policy.py) plus one config line works end to end through nginx."""

from __future__ import annotations

from pathlib import Path

import anthropic
import openai
import orjson
import pytest

from tests.e2e.conftest import ADMIN_TOKEN, ROWS
from tests.e2e.harness import Gateway, wait_for
from tests.e2e.test_gateway import claude, oai, raw_request

REPO = Path(__file__).resolve().parents[2]
HI = [{"role": "user", "content": "hi"}]
KEY = "sk-test-toy-policy-0123456789"


@pytest.fixture
def toy_gw(fake, tmp_path):
    settings = {
        "policies": {"extra": ["tests.e2e.toy_policy"], "owners": {"theta": {"max_model_chars": 30}}},
        "api": {"admin_token": ADMIN_TOKEN},
    }
    gw = Gateway(tmp_path, fake.base_url, settings, env={"PYTHONPATH": str(REPO)})
    gw.write_allowlist([*ROWS, ("toy", KEY, "theta", {"max_model_chars": "11"})])
    gw.start()
    yield gw
    gw.stop()


def test_a_toy_policy_refuses_in_the_providers_shape_and_allows_the_rest(toy_gw, fake):
    fake.clear()
    toy_gw.mark_stats()
    oai(toy_gw, key=KEY).chat.completions.create(model="gpt-4o-mini", messages=HI)  # 11 characters: forwarded
    with pytest.raises(openai.PermissionDeniedError) as e:
        oai(toy_gw, key=KEY).chat.completions.create(model="gpt-4o-mini-2024-07-18", messages=HI)
    assert "key 'toy' may ask for model names of 11 characters" in str(e.value)
    with pytest.raises(anthropic.PermissionDeniedError):
        claude(toy_gw, key=KEY).messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=HI)
    assert [r.raw_path.rsplit("/", 1)[-1] for r in fake.received] == ["completions"]  # only the allowed one
    lines = toy_gw.next_stats(3)
    assert sorted((x["status"], x["error_type"]) for x in lines) == [
        (200, None),
        (403, "model_name_too_long"),
        (403, "model_name_too_long"),
    ]
    # counted under the policy's name, the label it declares by listing the refusal in its ``refusals``
    resp, data = raw_request(toy_gw, "GET", "/lmgate/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert resp.status == 200
    refusals = [x for x in data.decode().splitlines() if x.startswith("lmgate_refusals_total{")]
    assert 'lmgate_refusals_total{provider="openai",reason="model_name_length"} 1.0' in refusals, refusals
    assert 'lmgate_refusals_total{provider="anthropic",reason="model_name_length"} 1.0' in refusals, refusals
    # and the console's refusals page names it the same way
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    reasons = lambda: orjson.loads(raw_request(toy_gw, "GET", "/lmgate/v1/console/refusals", headers=admin)[1])  # noqa: E731
    got = wait_for(lambda: (r := reasons())["refusals"] == 2 and r, what="the refusals in the rollups")
    assert got["reasons"] == [{"reason": "model_name_length", "refusals": 2}]
    _, data = raw_request(toy_gw, "GET", "/lmgate/v1/console/refusals/recent", headers=admin)
    assert [r["reason"] for r in orjson.loads(data)["rows"]] == ["model_name_length"] * 2


def test_the_toy_policys_owner_setting_applies_to_every_key_of_the_owner(toy_gw, fake):
    other = "sk-test-toy-policy-owner-0123456789"
    toy_gw.write_allowlist([*ROWS, ("toy", KEY, "theta"), ("toy-2", other, "theta")])
    toy_gw.mark_stats()
    oai(toy_gw, key=other).chat.completions.create(model="gpt-4o-mini-2024-07-18", messages=HI)  # 22 <= 30
    with pytest.raises(openai.PermissionDeniedError) as e:
        oai(toy_gw, key=other).chat.completions.create(model="gpt-4o-mini-2024-07-18-but-longer", messages=HI)
    assert "owner 'theta'" in str(e.value)
    assert sorted(str(x["error_type"]) for x in toy_gw.next_stats(2)) == ["None", "model_name_too_long"]
