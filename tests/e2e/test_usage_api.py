"""The gateway's own API and `lmgate usage` under bad input: every bad query is a 400 JSON naming its parameter."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import quote

import orjson
import pytest

from tests.e2e.conftest import ADMIN_TOKEN, KEYS
from tests.e2e.test_gateway import raw_request

HUGE = "9" * 400
# (query, the parameter the 400 must name); sent by the admin and by a key alike
BAD_QUERIES = [
    (f"since={HUGE}d", "since"),
    (f"since={HUGE}", "since"),
    (f"until={HUGE}s", "until"),
    ("since=99999999999999d", "since"),  # fits an int, not a date
    ("since=-7d", "since"),
    ("since=nan", "since"),
    ("since=inf", "since"),
    ("since=1e400d", "since"),
    ("since=", "since"),
    ("until=", "until"),
    (f"since={quote('٣d')}", "since"),  # an Arabic-Indic three is no duration
    (f"since={quote('２０２６-11-01')}", "since"),  # nor are full-width digits a year
    ("since=%ff", "since"),
    ("since=0001-01-01T00:00:00%2B23:59", "since"),  # year 1 minus an offset: out of range
    ("since=9999-12-31T23:59:59-23:59", "since"),
    ("since=0001-01-01", "since"),
    ("since=2999-01-01", "since"),
    ("since=7d&since=1d", "since"),
    ("since=1d&until=7d", "until"),  # the range ends before it starts
    ("group_by=colour", "group_by"),
    ("group_by=%00", "group_by"),
    ("group_by=model&group_by=owner", "group_by"),
    ("sinse=7d", "sinse"),
    (f"{quote('ü')}=1", "ü"),
]


def _get(gw, query: str, token: str):
    resp, data = raw_request(gw, "GET", f"/lmgate/v1/usage?{query}", headers={"Authorization": f"Bearer {token}"})
    return resp, data


@pytest.mark.parametrize(("query", "param"), BAD_QUERIES, ids=[q[:40] for q, _ in BAD_QUERIES])
@pytest.mark.parametrize("token", [ADMIN_TOKEN, KEYS["openai"]], ids=["admin", "key"])
def test_every_bad_usage_query_is_a_400_json_naming_the_parameter(gw, query, param, token):
    resp, data = _get(gw, query, token)
    assert resp.status == 400, data
    assert resp.getheader("Content-Type", "").startswith("application/json")
    error = orjson.loads(data)["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"lmgate: {param}: "), error["message"]
    assert len(data) < 1024  # a 400-digit value is not echoed whole


def test_admin_filters_are_checked_and_a_key_cannot_use_them(gw):
    for query, param in (("key_id=", "key_id"), ("owner=", "owner"), ("key_id=a&key_id=b", "key_id")):
        resp, data = _get(gw, query, ADMIN_TOKEN)
        assert resp.status == 400 and orjson.loads(data)["error"]["message"].startswith(f"lmgate: {param}: ")
    resp, data = _get(gw, "owner=alpha", KEYS["openai"])  # a key sees its own usage, and is told so
    assert resp.status == 400 and "admin token" in orjson.loads(data)["error"]["message"]
    resp, data = _get(gw, f"owner={quote('ü' * 50)}&since=1h&until=0s&group_by=", ADMIN_TOKEN)
    assert resp.status == 200, data
    assert orjson.loads(data)["rows"] == []


def test_the_apis_own_errors_are_json(gw):
    resp, data = raw_request(gw, "GET", "/lmgate/v1/nothing-here", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert resp.status == 404 and orjson.loads(data)["error"]["type"] == "not_found_error"
    resp, data = raw_request(gw, "POST", "/lmgate/v1/usage", b"{}", {"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert resp.status == 405 and "method not allowed" in orjson.loads(data)["error"]["message"]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--since", HUGE + "d"], "--since"),
        (["--since", "nan"], "--since"),
        (["--since", "-1d"], "--since"),
        (["--since", "٣d"], "--since"),
        (["--since", ""], "--since"),
        (["--until", HUGE + "s"], "--until"),
        (["--until", ""], "--until"),
        (["--since", "1d", "--until", "2d"], "--until"),
        (["--since", "1d", "--since", "2d"], "--since"),
        (["--by", "colour"], "--by"),
        (["--key", ""], "--key"),
        (["--owner", "a", "--owner", "b"], "--owner"),
    ],
)
def test_lmgate_usage_flags_refuse_bad_values_naming_the_flag(gw, args, named):
    done = subprocess.run(
        [sys.executable, "-m", "lmgate", "usage", *args], env=gw.env, cwd=gw.root, capture_output=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert named.encode() in done.stderr and b"Traceback" not in done.stderr, done.stderr
