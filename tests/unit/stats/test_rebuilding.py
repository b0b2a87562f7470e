"""The rollups rebuilt in a child process while lines keep coming: every line counted once, reads refused meanwhile."""

import gzip
import sqlite3

import orjson
import pytest

from lmgate.stats.rebuilding import LiveRollups, RollupsRebuilding
from lmgate.stats.rollups import METRICS, Rollups, schema_is_current
from tests.unit.stats.test_rollups import T0, _random_lines

GROUPS = (["key_id", "owner", "provider", "model", "day"], ["hour"], [])


def _write(path, records, mode="wb"):
    with path.open(mode) as f:
        f.write(b"".join(orjson.dumps(r) + b"\n" for r in records))


def _old_schema(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE rollup_hour (start INTEGER, requests INTEGER)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()


def _everything(store):
    """Every total the store answers, to compare two stores (count rows of equal ``n`` come in the order of name
    ids, which differ between stores: sorted)."""
    out = [store.query(T0 - 10 * 86400, group_by=g) for g in GROUPS]
    counts = store.counts(["latency", "ttfb", "error", "dlp"], T0 - 10 * 86400, group_by=["key_id", "day"])
    out.append(sorted(counts, key=lambda r: tuple(str(v) for v in r.values())))
    out.append(store.recent_errors(["upstream_error", "rate_limited_rpm"], limit=10_000))
    out.append(store.last_seen())
    return out


def test_an_old_schema_is_rebuilt_in_the_background_and_lines_written_meanwhile_count_once(tmp_path):
    lines = _random_lines(3000)
    before, during, after = lines[:2000], lines[2000:2600], lines[2600:]
    stats = tmp_path / "stats.jsonl"
    rotated = tmp_path / "stats-20261101T000000.jsonl.gz"
    with gzip.open(rotated, "wb") as f:
        f.write(b"".join(orjson.dumps(r) + b"\n" for r in before[:1000]))
    _write(stats, before[1000:])
    path = tmp_path / "rollups.sqlite"
    _old_schema(path)

    live = LiveRollups.open(path, stats)
    assert live.rebuilding and live.progress == 0.0
    with pytest.raises(RollupsRebuilding, match="being rebuilt"):
        live.store  # noqa: B018
    # the writer goes on: lines reach the file after the snapshot, and add(); a rotation and retention happen
    _write(stats, during, "ab")
    live.add(during)
    stats.rename(tmp_path / "stats-20261106T000000.jsonl")
    rotated.unlink()
    live.start()
    live.add(after)  # during the rebuild or after the swap: counted once either way
    assert live.wait(60) and not live.failed
    assert not live.rebuilding and live.progress == 1.0
    assert not live.partial.exists() and schema_is_current(path)

    with Rollups(tmp_path / "expected.sqlite") as expected:
        expected.add(lines)
        assert _everything(live.store) == _everything(expected)
        total = live.store.query(T0 - 10 * 86400)[0]
        assert total["requests"] == len(lines)
        assert set(total) == set(METRICS)
    live.close()


def test_a_current_file_is_used_as_it_is_and_a_crashed_rebuild_is_discarded(tmp_path):
    stats = tmp_path / "stats.jsonl"
    _write(stats, _random_lines(50))
    path = tmp_path / "rollups.sqlite"
    with Rollups(path) as r:
        r.rebuild(stats)
    (tmp_path / "rollups.sqlite.rebuilding").write_bytes(b"half a rebuild")
    live = LiveRollups.open(path, stats)
    assert not live.rebuilding and live.wait(0)
    assert live.store.query(T0 - 10 * 86400)[0]["requests"] == 50
    assert not live.partial.exists()
    live.close()


def test_no_stats_files_no_rebuild_and_a_corrupt_file_is_rebuilt(tmp_path):
    stats = tmp_path / "stats.jsonl"
    live = LiveRollups.open(tmp_path / "r.sqlite", stats)  # a first start: nothing to count
    assert not live.rebuilding
    live.close()
    _write(stats, _random_lines(20))
    (tmp_path / "broken.sqlite").write_bytes(b"this is not a database" * 100)
    live = LiveRollups.open(tmp_path / "broken.sqlite", stats)
    assert live.rebuilding
    live.start()
    assert live.wait(60) and not live.failed
    assert live.store.query(T0 - 10 * 86400)[0]["requests"] == 20
    live.close()


def test_a_failed_rebuild_says_so(tmp_path, monkeypatch):
    stats = tmp_path / "stats.jsonl"
    _write(stats, _random_lines(20))
    path = tmp_path / "r.sqlite"
    _old_schema(path)
    live = LiveRollups.open(path, stats)
    monkeypatch.setattr("sys.executable", "/bin/false")  # the rebuild process exits with 1
    live.start()
    assert live.wait(60) and live.failed
    with pytest.raises(RollupsRebuilding, match="could not be rebuilt") as e:
        live.store  # noqa: B018
    assert e.value.failed
    live.close()


def test_lmgate_usage_leaves_a_file_of_another_version_alone(tmp_path, monkeypatch, caplog):
    """Opening it would empty it into the current schema, and the sidecar would then trust an empty store."""
    from lmgate.cli import main

    path = tmp_path / "r.sqlite"
    _old_schema(path)
    before = path.read_bytes()
    monkeypatch.setenv("LMGATE_ROLLUPS__PATH", str(path))
    assert main(["usage", "--since", "7d"]) == 2
    assert "another version" in caplog.text
    assert path.read_bytes() == before and not schema_is_current(path)


def test_a_stop_during_the_rebuild_ends_it_and_the_next_start_begins_anew(tmp_path):
    stats = tmp_path / "stats.jsonl"
    _write(stats, _random_lines(20_000))
    path = tmp_path / "r.sqlite"
    _old_schema(path)
    live = LiveRollups.open(path, stats)
    live.start()
    live.stop()  # the sidecar stops (SIGTERM) while the child counts
    assert live.wait(10) and live.rebuilding and not schema_is_current(path)
    again = LiveRollups.open(path, stats)  # the partial file, if any, is discarded
    assert not again.partial.exists() and again.rebuilding
    again.start()
    assert again.wait(120) and again.store.query(T0 - 10 * 86400)[0]["requests"] == 20_000
    again.close()
