"""GET /metrics and /lmgate/metrics on the sidecar's API app, with the families read at scrape time."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lmgate.app import make_app
from lmgate.app_keys import GATEWAY
from lmgate.config import load_config
from lmgate.stats.record import StatsRecord

ADMIN = "admin-token-for-tests-0123456789"
KEY = "sk-test-endpoint-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(tmp_path: Path, admin: str | None):
    (tmp_path / "allowlist.csv").write_text(
        "id,api_key,owner,added,budget_usd,rpm,max_parallel\n"
        f"alice,{KEY},research,2026-11-01,10,60,\n"
        "bob,sk-test-other-key-0123456789,ops,2026-11-01,,,4\n"
    )
    env = {
        "LMGATE_ALLOWLIST__PATH": str(tmp_path / "allowlist.csv"),
        "LMGATE_STATS__PATH": str(tmp_path / "stats.jsonl"),
        "LMGATE_STATS__SPOOL_DIR": str(tmp_path / "spool"),
        "LMGATE_ROLLUPS__PATH": str(tmp_path / "rollups.sqlite"),
        "LMGATE_SERVER__RUN_DIR": str(tmp_path / "run"),
        "LMGATE_SIDECAR__FAST_PORT": str(free_port()),
        "LMGATE_POLICIES__OWNERS__RESEARCH__BUDGET_USD": "100",
        **({"LMGATE_API__ADMIN_TOKEN": admin} if admin else {}),
    }
    return load_config(None, env)


@pytest.fixture
async def client(aiohttp_client, tmp_path):
    return await aiohttp_client(make_app(config(tmp_path, ADMIN)))


def families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


async def test_metrics_has_every_family_with_budgets_headroom_and_pipeline_health(client):
    gw = client.server.app[GATEWAY]
    gw.writer.write(
        StatsRecord(
            ts=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"), request_id="r", key_id="alice",
            owner="research", provider="openai",
            endpoint="/v1/chat/completions", model="gpt-4o", status=200, stream=False, input_tokens=3, cost_usd=0.1,
        )
    )  # fmt: skip
    gw.writer.flush()
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    f = families(text)
    for name in (
        "lmgate_requests", "lmgate_tokens", "lmgate_cost_usd", "lmgate_stats_lines_written", "lmgate_allowlist_keys",
        "lmgate_policy_store_errors", "lmgate_build_info", "lmgate_budget_spend_usd", "process_cpu_seconds",
    ):  # fmt: skip
        assert name in f, name
    budgets = {
        (s.labels["scope"], s.labels["key_id"], s.labels["owner"]): s.value for s in f["lmgate_budget_limit_usd"]
    }
    assert budgets == {("key", "alice", "research"): 10, ("owner", "", "research"): 100}
    spend = {s.labels["key_id"]: s.value for s in f["lmgate_budget_spend_usd"]}
    assert spend["alice"] == pytest.approx(0.1)  # cold counter: the rollups' sum
    reserved = {s.labels["key_id"]: s.value for s in f["lmgate_budget_reserved_usd"]}
    assert reserved == {"alice": 0.0, "": 0.0}  # nothing in flight holds money
    remaining = {(s.labels["key_id"], s.labels["rule"]): s.value for s in f["lmgate_ratelimit_remaining"]}
    assert remaining == {("alice", "rpm"): 60, ("bob", "max_parallel"): 4}
    assert f["lmgate_stats_lines_written"][0].value == 1
    assert f["lmgate_allowlist_keys"][0].value == 2
    assert f["lmgate_build_info"][0].labels["version"] and f["lmgate_build_info"][0].labels["python"]
    assert KEY not in text and KEY[-6:] not in text


async def test_openmetrics_when_the_scraper_asks(client):
    resp = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await resp.text()).rstrip().endswith("# EOF")


async def test_admin_metrics_need_the_admin_token(client):
    resp = await client.get("/lmgate/metrics")
    assert resp.status == 401 and (await resp.json())["error"]["type"] == "authentication_error"
    for header in (f"Bearer {KEY}", f"Basic {ADMIN}", ADMIN, f"Bearer {ADMIN}x"):
        assert (await client.get("/lmgate/metrics", headers={"Authorization": header})).status == 401, header
    resp = await client.get("/lmgate/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
    assert resp.status == 200 and "lmgate_requests_total" in await resp.text()


async def test_admin_metrics_are_404_without_an_admin_token(aiohttp_client, tmp_path):
    client = await aiohttp_client(make_app(config(tmp_path, None)))
    resp = await client.get("/lmgate/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
    assert resp.status == 404 and (await resp.json())["error"]["type"] == "not_found_error"
    assert (await client.get("/metrics")).status == 200  # the local scrape target needs no token
