"""An upgrade that must rebuild the rollups: the gateway serves from the start, usage reads answer 503 until the
rebuild is done (a failed attempt is retried by itself), then the totals are the JSONL's, lines written meanwhile
counted once (real nginx + SDK)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import openai
import orjson
import pytest

from tests.e2e.conftest import ADMIN_TOKEN, ROWS
from tests.e2e.harness import Gateway, _children, wait_for
from tests.e2e.test_gateway import oai, raw_request

LINES = 120_000  # a rebuild of some seconds even on a quiet machine: long enough to serve and read during it
BUDGET_KEY = "sk-test-budget-0123456789abcdef"


def _old_lines(n: int, now: float):
    rnd = random.Random(16)
    keys = [row[0] for row in ROWS]
    for _ in range(n):
        t = now - rnd.uniform(3600, 20 * 86400)
        yield {
            "ts": datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "request_id": f"{rnd.getrandbits(64):016x}",
            "key_id": rnd.choice(keys),
            "owner": "alpha",
            "provider": "openai",
            "model": rnd.choice(["gpt-4o", "gpt-4o-mini"]),
            "status": 200,
            "input_tokens": rnd.randint(1, 5000),
            "output_tokens": rnd.randint(1, 500),
            "cost_usd": round(rnd.random() / 100, 10),
            "latency_ms": rnd.uniform(50, 3000),
        }


def _usage(gw: Gateway) -> tuple[int, dict]:
    resp, data = raw_request(
        gw,
        "GET",
        "/lmgate/v1/usage?since=30d&group_by=key_id,model",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    return resp.status, orjson.loads(data)


def _jsonl_sums(gw: Gateway) -> dict[tuple, list]:
    sums: dict[tuple, list] = {}
    for line in gw.stats_lines():
        row = sums.setdefault((line["key_id"], line["model"]), [0, 0, 0, 0.0])
        row[0] += 1
        row[1] += line.get("input_tokens") or 0
        row[2] += line.get("output_tokens") or 0
        row[3] += line.get("cost_usd") or 0.0
    return sums


def _sidecar(gw: Gateway, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{gw.sidecar_port}{path}", timeout=5) as r:
        return r.read().decode()


def test_an_old_schema_rollups_file_is_rebuilt_while_the_gateway_serves(fake, tmp_path):
    now = time.time()
    with (tmp_path / "stats.jsonl").open("wb") as f:
        f.write(b"".join(orjson.dumps(r) + b"\n" for r in _old_lines(LINES, now)))
    rollups = tmp_path / "rollups.sqlite"
    db = sqlite3.connect(rollups)  # what an older lmgate left: another schema version
    db.execute("CREATE TABLE rollup_hour (start INTEGER, requests INTEGER)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    settings = {"api": {"admin_token": ADMIN_TOKEN}, "rollups": {"path": str(rollups)}}
    rows = [*ROWS, ("team-budget", BUDGET_KEY, "alpha", {"budget_usd": "100", "budget_period": "month"})]
    with Gateway(tmp_path, fake.base_url, settings) as gw:
        gw.write_allowlist(rows, wait=False)
        started = time.monotonic()
        gw.start()  # returns once nginx's /lmgate/healthz is 200: the rebuild does not hold it back
        # an SDK request is served at once, and its line is written while the rebuild runs
        r = oai(gw).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        assert r.choices[0].message.content
        gw.next_stats()
        status, body = _usage(gw)
        assert status == 503, body
        assert "being rebuilt" in body["error"]["message"] and 0 <= body["error"]["rebuilding"]["done"] < 1
        resp, data = raw_request(
            gw, "GET", "/lmgate/v1/console/spend", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert resp.status == 503 and b"being rebuilt" in data
        assert "rollups rebuilding" in _sidecar(gw, "/healthz")
        metrics = _sidecar(gw, "/metrics")
        assert "lmgate_rollups_rebuilding 1.0" in metrics, metrics[:2000]
        # a key with a budget: its spend is unknown until the rebuild ends (on_store_error closed: 503)
        with pytest.raises(openai.InternalServerError) as refused:
            oai(gw, key=BUDGET_KEY).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
        assert refused.value.status_code == 503
        # more lines while it rebuilds
        for _ in range(3):
            oai(gw).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "again"}])
        gw.next_stats(4)  # three answered, one refused
        assert _usage(gw)[0] == 503, "the rebuild ended before the test could write during it: raise LINES"
        served_while_rebuilding = time.monotonic() - started

        wait_for(lambda: _usage(gw)[0] == 200, timeout=300, interval=0.5, what="the rebuild to end")
        assert "lmgate_rollups_rebuilding 0.0" in _sidecar(gw, "/metrics")
        got = {(r["key_id"], r["model"]): r for r in _usage(gw)[1]["rows"]}
        want = _jsonl_sums(gw)
        assert sum(w[0] for w in want.values()) == LINES + 5  # the file's lines and the five written meanwhile
        assert got.keys() == want.keys()
        for k, (requests, inp, out, cost) in want.items():
            assert (got[k]["requests"], got[k]["input_tokens"], got[k]["output_tokens"]) == (requests, inp, out), k
            assert got[k]["cost_usd"] == pytest.approx(cost, rel=1e-9)
        # the budget key is served now that its spend can be seeded
        oai(gw, key=BUDGET_KEY).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
        assert not (tmp_path / "rollups.sqlite.rebuilding").exists()
        print(f"served for {served_while_rebuilding:.1f} s while the rollups were rebuilt")


def test_a_rebuild_whose_child_is_killed_is_retried_and_usage_reads_heal_without_a_restart(fake, tmp_path):
    """The OOM killer takes the rebuild's child: usage reads answer 503 saying so, the sidecar tries again by
    itself, and the totals are then the JSONL's, the lines served meanwhile included."""
    n = 30_000
    with (tmp_path / "stats.jsonl").open("wb") as f:
        f.write(b"".join(orjson.dumps(r) + b"\n" for r in _old_lines(n, time.time())))
    rollups = tmp_path / "rollups.sqlite"  # none yet, and stats files to count: a rebuild
    settings = {"api": {"admin_token": ADMIN_TOKEN}, "rollups": {"path": str(rollups)}}
    with Gateway(tmp_path, fake.base_url, settings) as gw:
        gw.write_allowlist(ROWS, wait=False)
        gw.start()
        assert gw.sidecar is not None
        sidecar = gw.sidecar.pid
        child = wait_for(lambda: _rebuild_child(sidecar), timeout=30, interval=0.05, what="the rebuild child")
        time.sleep(0.3)  # let it read some
        os.kill(child, signal.SIGKILL)
        oai(gw).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        gw.next_stats()
        status, body = _usage(gw)
        assert status == 503, body
        assert body["error"]["rebuilding"]["failed"] and "retried by itself" in body["error"]["message"]
        assert "killed by signal 9" in gw.sidecar_log() and "next attempt in 1 s" in gw.sidecar_log()
        oai(gw).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "again"}])
        gw.next_stats()

        wait_for(lambda: _usage(gw)[0] == 200, timeout=300, interval=0.5, what="the retried rebuild to end")
        assert gw.sidecar.poll() is None and gw.sidecar.pid == sidecar  # no restart
        got = {(r["key_id"], r["model"]): r for r in _usage(gw)[1]["rows"]}
        want = _jsonl_sums(gw)
        assert sum(w[0] for w in want.values()) == n + 2
        assert got.keys() == want.keys()
        for k, (requests, inp, out, cost) in want.items():
            assert (got[k]["requests"], got[k]["input_tokens"], got[k]["output_tokens"]) == (requests, inp, out), k
            assert got[k]["cost_usd"] == pytest.approx(cost, rel=1e-9)
        assert gw.sidecar_log().count("after 1 failed attempts") == 1


def _rebuild_child(pid: int) -> int | None:
    for kid in _children(pid):
        with contextlib.suppress(OSError):
            if b"lmgate.stats.rebuilding" in Path(f"/proc/{kid}/cmdline").read_bytes():
                return kid
    return None
