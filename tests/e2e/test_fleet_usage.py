"""Two gateway instances (two nginx + two sidecars) share one Redis and one PostgreSQL usage store: either
instance's `lmgate usage` and /lmgate/v1/usage show the fleet's totals, equal to both instances' JSONL to the
cent, also after one sidecar is killed with SIGKILL mid-run and restarted (nothing lost, nothing counted twice)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict

import anthropic
import openai
import orjson
import pytest
import redis

from tests.e2e.conftest import ADMIN_TOKEN
from tests.e2e.harness import Gateway, wait_for
from tests.e2e.test_gateway import claude, oai, raw_request
from tests.postgres_server import allow_connections, pg_database, pg_server  # noqa: F401  (fixtures)
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)

FLEET_KEYS = {
    "fleet-a": ("sk-test-fleet-a-0123456789abcdef", "alpha"),
    "fleet-b": ("sk-test-fleet-b-0123456789abcdef", "alpha"),
    "fleet-c": ("sk-test-fleet-c-0123456789abcdef", "beta"),
    "fleet-d": ("sk-ant-test-fleet-d-0123456789ab", "gamma"),  # through the Anthropic SDK
}
HI = [{"role": "user", "content": "hi there"}]


@pytest.fixture
def fleet(fake, tmp_path, pg_database, redis_url):  # noqa: F811
    settings = {
        "rollups": {"store": pg_database},
        "policies": {"store": redis_url},
        "api": {"admin_token": ADMIN_TOKEN},
    }
    rows = [(kid, key, owner) for kid, (key, owner) in FLEET_KEYS.items()]
    fake.clear()
    fake.chunk_delay = 0.0
    gateways = [Gateway(tmp_path / name, fake.base_url, settings) for name in ("one", "two")]
    try:
        for gw in gateways:
            gw.start(rows)
        yield gateways
    finally:
        for gw in gateways:
            gw.stop()


def _send(gw: Gateway, kid: str, i: int) -> None:
    key = FLEET_KEYS[kid][0]
    try:
        if kid == "fleet-d":
            claude(gw, key).messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=HI)
        else:
            oai(gw, key).chat.completions.create(model="gpt-4o-mini" if i % 3 else "gpt-4o", messages=HI)
    except (openai.APIError, anthropic.APIError):  # the instance whose sidecar is down refuses: no usage
        pass


def _traffic(fleet: list[Gateway], start: int, count: int) -> None:
    def worker(offset: int) -> None:
        for i in range(start + offset, start + count, 4):
            _send(fleet[i % 2], list(FLEET_KEYS)[i % 4], i)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _jsonl_totals(fleet: list[Gateway]) -> dict[str, tuple[int, float]]:
    """Per key id: (requests, cost) of both instances' JSONL, each request id once (a spool re-read after
    the SIGKILL may have written a line twice)."""
    lines = {}
    for gw in fleet:
        for line in gw.stats_lines():
            lines[line["request_id"]] = line
    out: dict[str, list] = defaultdict(lambda: [0, 0.0])
    for line in lines.values():
        out[line["key_id"]][0] += 1
        out[line["key_id"]][1] += line["cost_usd"] or 0.0
    return {k: (n, round(cost, 2)) for k, (n, cost) in out.items()}


def _api_totals(gw: Gateway) -> dict[str, tuple[int, float]]:
    resp, data = raw_request(
        gw, "GET", "/lmgate/v1/usage?since=1d&group_by=key_id", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert resp.status == 200, data
    return {r["key_id"]: (r["requests"], round(r["cost_usd"], 2)) for r in orjson.loads(data)["rows"]}


def _cli_totals(gw: Gateway) -> dict[str, tuple[int, float]]:
    out = subprocess.run(
        [sys.executable, "-m", "lmgate", "usage", "--since", "1d", "--by", "key_id", "--format", "json"],
        env={**gw.env, "LMGATE_CONFIG": str(gw.config_path)},
        cwd=gw.root,
        capture_output=True,
        check=True,
    ).stdout
    return {r["key_id"]: (r["requests"], round(r["cost_usd"], 2)) for r in orjson.loads(out)}


def _settled(fleet: list[Gateway], at_least: int) -> dict | None:
    """The JSONL totals once they hold ``at_least`` requests, stayed so for a second, and both APIs show them."""
    want = _jsonl_totals(fleet)
    if sum(n for n, _ in want.values()) < at_least:
        return None
    time.sleep(1)  # a line still on its way (the spool, the writer's interval) would change them
    if _jsonl_totals(fleet) != want:
        return None
    got = [_api_totals(gw) for gw in fleet]
    return want if all(g == want for g in got) else None


def test_two_instances_show_the_fleet_totals_also_after_a_sigkill(fleet):
    one, two = fleet
    _traffic(fleet, 0, 40)
    want = wait_for(lambda: _settled(fleet, 40), timeout=30, what="both instances to show the fleet's totals")
    assert want.keys() == FLEET_KEYS.keys() and [n for n, _ in want.values()] == [10] * 4
    both = {gw.stats_path: len(gw.stats_lines()) for gw in fleet}
    assert all(both.values())  # each instance wrote (and counted) part of the traffic

    # SIGKILL one sidecar while both take traffic; start it again; more traffic
    running = threading.Thread(target=_traffic, args=(fleet, 40, 80))
    running.start()
    wait_for(lambda: len(two.stats_lines()) > both[two.stats_path] + 5, what="traffic through instance two")
    os.kill(two.sidecar.pid, signal.SIGKILL)
    two.sidecar.wait(10)
    two.start_sidecar()
    running.join()
    _traffic(fleet, 120, 40)

    want = wait_for(lambda: _settled(fleet, 120), timeout=60, what="the fleet's totals after the SIGKILL")
    assert _cli_totals(one) == want and _cli_totals(two) == want
    for gw in fleet:
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{gw.sidecar_port}/metrics", timeout=5).read().decode()
        assert "lmgate_rollups_store_up 1.0" in metrics and "lmgate_rollups_pending_lines 0.0" in metrics


def test_a_redis_restart_seeds_budgets_with_the_fleets_spend(fleet, redis_url):  # noqa: F811
    """Redis without persistence forgets the spend counters: each instance seeds them from the store, and
    with the shared store that is the spend through both instances, not its own share."""
    key = FLEET_KEYS["fleet-a"][0]
    for i in range(6):
        _send(fleet[i % 2], "fleet-a", 0)  # gpt-4o: the dearer model
    wait_for(lambda: _settled(fleet, 6), timeout=30, what="the fleet's totals")
    shares = [sum(x["cost_usd"] for x in gw.stats_lines()) for gw in fleet]
    fleet_spend = sum(shares)
    budget = max(shares) + (fleet_spend - max(shares)) / 2  # more than either share, less than both
    limited = {"budget_usd": f"{budget:.10f}", "budget_period": "month"}
    rows = [(kid, k, o, limited if kid == "fleet-a" else {}) for kid, (k, o) in FLEET_KEYS.items()]
    for gw in fleet:
        gw.write_allowlist(rows)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()  # the restart of a Redis that keeps nothing
    client.close()
    for gw in fleet:
        with pytest.raises(openai.RateLimitError) as refused:
            oai(gw, key).chat.completions.create(model="gpt-4o", messages=HI)
        assert refused.value.body["code"] == "insufficient_quota"
    assert max(shares) < budget < fleet_spend  # either instance's own share alone would have let it pass


def _metric(gw: Gateway, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{gw.sidecar_port}/metrics", timeout=5).read().decode()
    return next(float(x.split()[1]) for x in text.splitlines() if x.startswith(name + " "))


def test_postgresql_down_the_fleet_serves_on_and_catches_up_when_it_is_back(fleet, pg_server, pg_database):  # noqa: F811
    _traffic(fleet, 0, 16)
    wait_for(lambda: _settled(fleet, 16), timeout=30, what="the fleet's totals")

    allow_connections(pg_server, pg_database, allow=False)
    try:
        _traffic(fleet, 16, 24)
        # every request was served and written to the JSONL
        wait_for(lambda: len(_jsonl_totals(fleet)) == 4 and sum(n for n, _ in _jsonl_totals(fleet).values()) == 40)
        for gw in fleet:
            wait_for(lambda gw=gw: _metric(gw, "lmgate_rollups_pending_lines") > 0, what="lines held")
            assert _metric(gw, "lmgate_rollups_store_up") == 0
            resp, data = raw_request(
                gw, "GET", "/lmgate/v1/usage?since=1d", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            )
            assert resp.status == 503, data
            assert resp.getheader("Content-Type", "").startswith("application/json")
            message = orjson.loads(data)["error"]["message"]
            assert f"rollups store {pg_database.split('?')[0]} is unreachable" in message
        _traffic(fleet, 40, 8)  # more flushes during the outage: still one log line per instance
    finally:
        allow_connections(pg_server, pg_database, allow=True)

    want = wait_for(lambda: _settled(fleet, 48), timeout=60, what="the catch-up after the outage")
    assert sum(n for n, _ in want.values()) == 48
    for gw in fleet:
        assert _metric(gw, "lmgate_rollups_store_up") == 1 and _metric(gw, "lmgate_rollups_pending_lines") == 0
        log = gw.sidecar_log()
        assert log.count("serving on; stats lines stay in") == 1, log
        assert log.count("is back: counted") == 1, log
