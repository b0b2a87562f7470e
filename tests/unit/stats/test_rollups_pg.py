"""The PostgreSQL rollups store against the real server: schema migration, answers equal to the SQLite
store's for the same lines, counting each request id once, rebuild from several instances' files, and an
outage with its catch-up from the JSONL."""

import logging
import time
from pathlib import Path

import orjson
import psycopg
import pytest

from lmgate.cli import cmd_db_migrate, cmd_rollups_rebuild
from lmgate.config import Config, ConfigError, load_config
from lmgate.stats.backend import RollupsUnavailable, open_rollups
from lmgate.stats.rollups import Rollups
from lmgate.stats.rollups_pg import SCHEMA_VERSION, PgRollups, describe
from lmgate.stats.writer import StatsWriter
from tests.postgres_server import allow_connections
from tests.unit.stats.test_rollups import T0, _random_lines, line

RANGE = (T0 - 5 * 86400 + 1800, T0 + 12 * 86400)


def _lines(n, seed=7, prefix="r"):
    out = _random_lines(n, seed)
    for i, record in enumerate(out):
        record["request_id"] = f"{prefix}{i}"
    return out


@pytest.fixture
def pg(pg_database):
    store = PgRollups(pg_database)
    store.migrate()
    yield store
    store.close()


def _answers(store):
    """Everything the readers ask, over ranges that cut hours and days."""
    out = {}
    for group in ([], ["owner"], ["key_id", "model"], ["provider", "model"], ["day"], ["hour", "owner"]):
        for lo, hi in (RANGE, (T0 + 1234, T0 + 3 * 86400 + 777)):
            out[("query", *group, lo)] = store.query(lo, hi, group)
            out[("query-k1", *group, lo)] = store.query(lo, hi, group, key_id="k1")
        out[("query-day", *group)] = store.query(*RANGE, [g for g in group if g != "hour"], bucket="day")
    for series in (["latency", "ttfb"], ["error"], ["dlp"], ["gateway"]):
        out[("counts", *series)] = store.counts(series, *RANGE, ["model"])
        out[("counts-owner", *series)] = store.counts(series, *RANGE, owner="alice", provider="openai")
    out["spend"] = store.spend(T0 + 86400, key_id="k2")
    out["spend_by_owner"] = store.spend_by(T0, "owner")
    out["spend_by_key"] = store.spend_by(T0 - 86400, "key_id")
    out["recent"] = store.recent_errors(["upstream_error", "unauthorized"], limit=20, offset=3)
    out["recent-k3"] = store.recent_errors(["rate_limited_rpm"], key_id="k3")
    out["recent-but"] = store.recent_errors(None, owner="alice", limit=30, except_types=["upstream_error"])
    out["last_seen"] = store.last_seen()
    return out


def test_answers_equal_the_sqlite_stores_for_the_same_lines(pg, tmp_path):
    lines = _lines(3000)
    with Rollups(tmp_path / "r.sqlite") as sqlite:
        for start in range(0, len(lines), 700):
            sqlite.add(lines[start : start + 700])
            pg.add(lines[start : start + 700])
        want = _answers(sqlite)
    got = _answers(pg)
    assert got.keys() == want.keys()
    for name in want:
        assert got[name] == want[name], name
    assert want["query", "owner", RANGE[0]]  # the comparison compared something
    assert pg.table_rows() == Rollups.table_rows(pg) and pg.row_counts()["hour"] > 1000


def test_a_request_id_counts_once_in_a_batch_across_batches_and_instances(pg_database):
    a, b = PgRollups(pg_database), PgRollups(pg_database)
    try:
        first = [line(T0 + i, request_id=f"id{i}", cost=0.01) for i in range(10)]
        assert a.add(first + first[:3]) == 10  # a spool re-read inside one flush
        assert a.add(first[5:]) == 0  # a replay after a crash
        assert b.add([*first[:2], line(T0 + 99, request_id="id99", cost=0.5)]) == 1  # another instance
        rows = a.query(T0, T0 + 3600)
        assert rows[0]["requests"] == 11 and rows[0]["cost_usd"] == pytest.approx(0.6)
    finally:
        a.close()
        b.close()


def test_lines_without_a_request_id_are_counted_and_bad_ones_skipped(pg):
    no_id = line(T0, cost=0.25)
    del no_id["request_id"]
    assert pg.add([no_id, {"ts": "yesterday", "request_id": "bad"}, line(T0, request_id="")]) == 2
    assert pg.skipped == 1
    assert pg.query(T0, T0 + 3600)[0]["cost_usd"] == pytest.approx(0.251)


def test_dedupe_ids_are_pruned_after_dedupe_days(pg_database):
    store = PgRollups(pg_database, dedupe_days=1)
    try:
        store.add([line(T0, request_id="old")])
        with psycopg.connect(pg_database, autocommit=True) as db:
            db.execute("UPDATE applied SET at = at - 2 * 86400")
        store._next_prune = 0
        store.add([line(T0, request_id="new")])
        with psycopg.connect(pg_database) as db:
            assert [r[0] for r in db.execute("SELECT request_id FROM applied")] == ["new"]
    finally:
        store.close()


def test_migration_is_versioned_and_runs_once(pg_database, capsys):
    config = Config(rollups={"store": pg_database})
    assert cmd_db_migrate(config) == 0
    assert f"schema version {SCHEMA_VERSION}" in capsys.readouterr().out
    assert cmd_db_migrate(config) == 0  # again: nothing to do
    with psycopg.connect(pg_database) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        tables = {r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"rollup_hour", "rollup_day", "totals_day", "applied", "instance_marks", "names"} <= tables
    assert cmd_db_migrate(Config()) == 2  # SQLite: nothing to migrate


def test_store_config_is_checked(tmp_path, monkeypatch):
    conf = tmp_path / "lmgate.yaml"
    conf.write_text("rollups:\n  path: data/rollups.sqlite\n")
    monkeypatch.setenv("LMGATE_ROLLUPS__STORE", "mysql://root:hunter2@db/lmgate")
    with pytest.raises(ConfigError) as e:
        load_config(conf)
    assert "rollups.store" in str(e.value) and "postgresql://user@host" in str(e.value)
    assert "hunter2" not in str(e.value)
    monkeypatch.setenv("LMGATE_ROLLUPS__STORE", "postgresql://lmgate@db.internal:5433/usage")
    assert load_config(conf).rollups.store == "postgresql://lmgate@db.internal:5433/usage"
    monkeypatch.setenv("LMGATE_ROLLUPS__STORE", "")  # docker-compose passes an unset variable on as empty
    assert load_config(conf).rollups.store is None
    assert describe("postgresql://u:secret@h:5433/d") == "postgresql://u@h:5433/d"


def _write_jsonl(path: Path, records):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))


def test_rebuild_from_every_instances_files_counts_duplicates_once(pg_database, tmp_path, capsys):
    one, two = tmp_path / "a" / "stats.jsonl", tmp_path / "b" / "stats.jsonl"
    one.parent.mkdir()
    two.parent.mkdir()
    lines_a, lines_b = _lines(500, seed=1, prefix="a"), _lines(400, seed=2, prefix="b")
    _write_jsonl(one, lines_a + lines_a[:50])  # a spool re-read wrote 50 lines twice
    _write_jsonl(two, lines_b)
    (two.parent / "stats.jsonl.junk").write_text("")
    config = Config(rollups={"store": pg_database})
    store = open_rollups(config.rollups)
    store.add(lines_a[:100])  # counted live before the rebuild: wiped and recounted once
    assert cmd_rollups_rebuild(config, [str(one), str(two)]) == 0
    assert "from 950 stats lines" in capsys.readouterr().out
    with Rollups(tmp_path / "want.sqlite") as want:
        want.add(lines_a + lines_b)
        assert store.query(*RANGE, ["owner", "model"]) == want.query(*RANGE, ["owner", "model"])
    store.close()
    assert cmd_rollups_rebuild(Config(), [str(one), str(two)]) == 2  # SQLite holds one instance's


def _follower(url, jsonl, **kw):
    writer = StatsWriter(jsonl, flush_interval=0.01, **kw)
    store = PgRollups(url)
    writer.on_flush = lambda lines: store.add([orjson.loads(x) for x in lines])
    store.follow(jsonl, writer.io_lock)
    return writer, store


def test_outage_keeps_lines_in_the_jsonl_and_catches_up_once_back(pg_server, pg_database, tmp_path, caplog):
    caplog.set_level(logging.INFO, "lmgate.stats")
    jsonl = tmp_path / "stats.jsonl"
    writer, store = _follower(pg_database, jsonl, max_bytes=40_000)  # rotates every ~70 lines
    lines = _lines(1200, seed=3)
    try:
        for r in lines[:100]:  # written before the store first answered: counted by the first catch-up
            writer.write(r)
        writer.flush()
        assert store.pending_lines == 100 and not store.up
        store.maintain()
        assert store.up and store.caught_up and store.pending_lines == 0
        for r in lines[100:300]:
            writer.write(r)
        writer.flush()
        assert store.pending_lines == 0

        allow_connections(pg_server, pg_database, allow=False)
        for chunk in range(300, 900, 100):  # several flushes and rotations during the outage
            for r in lines[chunk : chunk + 100]:
                writer.write(r)
            writer.flush()
        assert not store.up and store.pending_lines == 600
        with pytest.raises(RollupsUnavailable, match=r"rollups store postgresql://postgres@127.0.0.1:\d+/lmgate_test_"):
            store.query(*RANGE)
        store._next_try = 0
        store.maintain()  # still down: tried, nothing lost
        assert not store.up and len(writer.rotated_files()) > 5
        outage_logs = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(outage_logs) == 1 and "serving on" in outage_logs[0].getMessage()  # once per outage

        allow_connections(pg_server, pg_database, allow=True)
        store._next_try = 0
        store.maintain()
        assert store.up and store.caught_up and store.pending_lines == 0
        assert any("is back: counted 600 lines" in r.getMessage() for r in caplog.records)
        for r in lines[900:] + lines[:50]:  # and the spool re-reads 50 old lines: not counted again
            writer.write(r)
        writer.flush()
        with Rollups(tmp_path / "want.sqlite") as want:
            want.add(lines)
            assert store.query(*RANGE, ["key_id", "day"]) == want.query(*RANGE, ["key_id", "day"])
            assert store.counts(["error"], *RANGE) == want.counts(["error"], *RANGE)
    finally:
        allow_connections(pg_server, pg_database, allow=True)
        store.close()


def test_a_crash_between_the_jsonl_and_the_store_loses_nothing(pg_database, tmp_path):
    """SIGKILL after the writer's append but before the store's commit: the restarted instance counts those
    lines from its JSONL, after the mark the last commit left."""
    jsonl = tmp_path / "stats.jsonl"
    writer, store = _follower(pg_database, jsonl)
    lines = _lines(300, seed=4)
    store.maintain()
    for r in lines[:200]:
        writer.write(r)
    writer.flush()
    store.close()
    with open(jsonl, "ab") as f:  # appended, never counted: the process died here
        f.write(b"".join(orjson.dumps(r) + b"\n" for r in lines[200:]))
        f.write(b'{"ts": "2026-11-02T00:00:00Z", "request_id": "half-writ')  # and a line cut short
    _, restarted = _follower(pg_database, jsonl)
    try:
        restarted.maintain()
        assert restarted.caught_up
        with Rollups(tmp_path / "want.sqlite") as want:
            want.add(lines)
            assert restarted.query(*RANGE, ["owner"]) == want.query(*RANGE, ["owner"])
    finally:
        restarted.close()


def test_reads_of_an_unreachable_store_name_it(tmp_path):
    store = PgRollups("postgresql://nobody@127.0.0.1:1/nothing")
    start = time.monotonic()
    with pytest.raises(RollupsUnavailable, match=r"rollups store postgresql://nobody@127.0.0.1:1/nothing"):
        store.spend_by(T0, "owner")
    assert time.monotonic() - start < 10


async def test_the_apis_answer_503_json_naming_an_unreachable_store(aiohttp_client):
    from aiohttp import web

    from lmgate.handlers.api_errors import errors_as_json

    store = PgRollups("postgresql://lmgate:secret@127.0.0.1:1/usage")

    async def usage(request):
        return web.json_response(store.query(T0))

    app = web.Application(middlewares=[errors_as_json])
    app.router.add_get("/lmgate/v1/usage", usage)
    client = await aiohttp_client(app)
    resp = await client.get("/lmgate/v1/usage")
    assert resp.status == 503
    message = (await resp.json())["error"]["message"]
    assert message.startswith("lmgate: rollups store postgresql://lmgate@127.0.0.1:1/usage is unreachable")
    assert "secret" not in message


def test_an_instance_keeps_its_name_beside_its_stats_file(tmp_path):
    from lmgate.stats.rollups_pg import instance_name

    one, two = tmp_path / "a" / "stats.jsonl", tmp_path / "b" / "stats.jsonl"
    first = instance_name(one)
    assert instance_name(one) == first  # a restart (or a new host name) keeps it
    assert (tmp_path / "a" / "stats.instance").read_text().strip() == first
    assert instance_name(two) != first  # two instances never share a mark


def test_lmgate_usage_reads_the_store_and_names_it_when_it_is_down(pg_database, capsys, caplog):
    import argparse

    from lmgate.cli import cmd_usage

    args = argparse.Namespace(since="30d", until=None, by="owner", format="json", key=None, owner=None)
    store = PgRollups(pg_database)
    store.add([line(time.time() - 60, owner="alice", request_id="u1", cost=0.5)])
    store.close()
    assert cmd_usage(Config(rollups={"store": pg_database}), args) == 0
    assert orjson.loads(capsys.readouterr().out)[0] == {"owner": "alice", **_usage_sums(0.5)}
    down = Config(rollups={"store": "postgresql://lmgate:secret@127.0.0.1:1/usage"})
    assert cmd_usage(down, args) == 1
    assert "rollups store postgresql://lmgate@127.0.0.1:1/usage is unreachable" in caplog.text
    assert "secret" not in caplog.text


def _usage_sums(cost):
    tokens = {"input_tokens": 100, "output_tokens": 10, "cache_read_tokens": 0, "cache_write_tokens": 0}
    return {"requests": 1, **tokens, "reasoning_tokens": 0, "cost_usd": cost, "errors": 0}
