"""A policy added from one file (tests/e2e/toy_policy.py) plus one config line works end to end through nginx,
and its allow-list column is set through the admin API and `lmgate keys --set` like lmgate's own."""

from __future__ import annotations

import csv
from pathlib import Path

import anthropic
import openai
import orjson
import pytest

from tests.e2e.conftest import ADMIN_TOKEN, ROWS
from tests.e2e.harness import Gateway, wait_for
from tests.e2e.test_gateway import claude, oai, raw_request
from tests.e2e.test_keys import api, cli  # cli: `python -m lmgate keys` in its own process, the config of gw

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
        claude(toy_gw, key=KEY).messages.create(model="claude-sonnet-4-6", max_tokens=8, messages=HI)
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


def cell(gw, key_id: str, column: str) -> str:
    """One cell of the allow-list file as written."""
    lines = [line for line in gw.allowlist.read_text().splitlines() if not line.startswith("#")]
    (row,) = (r for r in csv.DictReader(lines) if r["id"] == key_id)
    return row[column]


def test_the_toy_policys_column_is_edited_through_the_admin_api(toy_gw, fake):
    answer = api(toy_gw, "PATCH", "/toy", {"max_model_chars": 5})
    assert answer.status_code == 200, answer.text
    assert answer.json()["max_model_chars"] == 5
    assert cell(toy_gw, "toy", "max_model_chars") == "5"
    with pytest.raises(openai.PermissionDeniedError, match="model names of 5 characters"):  # in force at once
        oai(toy_gw, key=KEY).chat.completions.create(model="gpt-4o-mini", messages=HI)
    created = api(toy_gw, "POST", body={"id": "toy-new", "owner": "theta", "max_model_chars": "12"})
    assert created.status_code == 201, created.text
    assert created.json()["max_model_chars"] == 12 and cell(toy_gw, "toy-new", "max_model_chars") == "12"
    bad = api(toy_gw, "PATCH", "/toy", {"max_model_chars": "many"})
    assert bad.status_code == 400, bad.text
    error = bad.json()["error"]
    assert error["param"] == "max_model_chars"
    assert error["message"] == "lmgate: max_model_chars: 'many' is not a positive integer"
    assert cell(toy_gw, "toy", "max_model_chars") == "5"
    cleared = api(toy_gw, "PATCH", "/toy", {"max_model_chars": None})
    assert cleared.json()["max_model_chars"] is None and cell(toy_gw, "toy", "max_model_chars") == ""


def test_the_toy_policys_column_is_set_with_the_clis_set(toy_gw):
    done = cli(toy_gw, "update", "toy", "--set", "max_model_chars=5", "--rpm", "100", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["max_model_chars"] == 5
    assert (cell(toy_gw, "toy", "max_model_chars"), cell(toy_gw, "toy", "rpm")) == ("5", "100")
    shown = cli(toy_gw, "show", "toy")
    assert "max_model_chars" in shown.stdout and shown.returncode == 0
    before = toy_gw.allowlist.read_text()
    known = "owner, models, budget_usd, budget_period, max_parallel, rpm, tpm, max_model_chars, dlp, expires, disabled"
    for args, says in (
        (("--set", "max_model_chars=zero"), "--set max_model_chars: 'zero' is not a positive integer"),
        (("--set", "max_model_chars"), "--set: 'max_model_chars' is not COLUMN=VALUE (known columns: owner,"),
        (("--set", "max_model_charz=5"), f"--set max_model_charz: unknown field; known: {known}"),
        (("--set", "rpm=5", "--rpm", "6"), "--set: 'rpm' is given twice"),
    ):
        done = cli(toy_gw, "update", "toy", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert says in done.stderr, done.stderr
    assert toy_gw.allowlist.read_text() == before
    done = cli(toy_gw, "create", "--id", "toy-cli", "--owner", "theta", "--set", "max_model_chars=9")
    assert done.returncode == 0, done.stderr
    assert cell(toy_gw, "toy-cli", "max_model_chars") == "9"
    assert cli(toy_gw, "update", "toy", "--set", "max_model_chars=").returncode == 0  # empty: cleared
    assert cell(toy_gw, "toy", "max_model_chars") == ""
