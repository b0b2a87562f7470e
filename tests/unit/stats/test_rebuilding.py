"""The rollups rebuilt in a child process while lines keep coming: every line counted once, reads refused meanwhile,
a failed attempt retried by itself."""

import asyncio
import gzip
import os
import signal
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest

from lmgate.app import _rollups_upkeep
from lmgate.stats import rebuilding
from lmgate.stats.rebuilding import LiveRollups, RollupsRebuilding, retry_delay
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


def test_a_failed_rebuild_says_so(tmp_path, monkeypatch, caplog):
    stats = tmp_path / "stats.jsonl"
    _write(stats, _random_lines(20))
    path = tmp_path / "r.sqlite"
    _old_schema(path)
    live = LiveRollups.open(path, stats)
    monkeypatch.setattr("sys.executable", "/bin/false")  # the rebuild process exits with 1
    live.start()
    assert live.wait(60) and live.failed and live.failures == 1
    with pytest.raises(RollupsRebuilding, match="could not be rebuilt yet") as e:
        live.store  # noqa: B018
    assert e.value.failed
    assert "rebuild attempt 1 of" in caplog.text and "exited with 1" in caplog.text
    assert "usage reads answer 503 until one succeeds; next attempt in 1 s" in caplog.text
    live.close()


def test_the_retry_delay_doubles_from_1_s_to_60_s_and_is_never_shorter_than_the_failed_attempt():
    assert [retry_delay(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert retry_delay(1, took=0.3) == 1
    assert retry_delay(9, took=5) == 60
    assert retry_delay(2, took=300) == 300  # a rebuild of minutes that failed: the child busy half the time at most


def _rebuild_child() -> int | None:
    """The pid of this process's rebuild child, if it runs (from /proc)."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and stat[0] != "Z" and b"lmgate.stats.rebuilding" in cmdline:
            return int(proc.name)
    return None


def _until(what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not (got := what()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    return got


def test_a_rebuild_killed_midway_is_retried_from_the_first_byte_and_no_line_is_lost(tmp_path, caplog):
    """The OOM killer takes the child after it read part of the files: the next attempt reads them all again
    (the child shares the files' offsets with the sidecar), and the lines kept meanwhile reach the new file."""
    lines = _random_lines(24_000)
    before, during, waiting, after = lines[:20_000], lines[20_000:21_000], lines[21_000:22_000], lines[22_000:]
    stats = tmp_path / "stats.jsonl"
    with gzip.open(tmp_path / "stats-20261101T000000.jsonl.gz", "wb") as f:
        f.write(b"".join(orjson.dumps(r) + b"\n" for r in before[:8000]))
    _write(stats, before[8000:])
    path = tmp_path / "rollups.sqlite"
    _old_schema(path)
    live = LiveRollups.open(path, stats)
    live.add(during)
    live.start()
    _until(lambda: live.progress > 0)  # the child has read from the files
    os.kill(_until(_rebuild_child), signal.SIGKILL)
    assert live.wait(60) and live.failed and live.failures == 1
    assert "killed by signal 9" in caplog.text and "next attempt in 1 s" in caplog.text
    with pytest.raises(RollupsRebuilding, match="could not be rebuilt yet"):
        live.store  # noqa: B018
    live.add(waiting)
    live.maintain()  # too soon: no attempt (not a busy loop)
    assert live.wait(0) and live.failures == 1 and _rebuild_child() is None
    assert live.progress == 0.0  # the attempt running has read nothing
    _until(lambda: live.maintain() or not live.wait(0) or not live.rebuilding, timeout=5)  # retried after 1 s
    live.add(after)  # during the second attempt or after its swap: counted once either way
    assert live.wait(60) and not live.rebuilding and not live.failed

    with Rollups(tmp_path / "expected.sqlite") as expected:
        expected.add(lines)
        assert _everything(live.store) == _everything(expected)
        assert live.store.query(T0 - 10 * 86400)[0]["requests"] == len(lines)
    assert caplog.text.count("after 1 failed attempts") == 1
    live.close()


def test_a_failure_that_stays_is_retried_at_the_cap_and_heals_once_its_cause_is_gone(tmp_path, monkeypatch, caplog):
    now = [1000.0]
    monkeypatch.setattr(rebuilding, "time", SimpleNamespace(monotonic=lambda: now[0]))
    stats = tmp_path / "stats.jsonl"
    lines = _random_lines(300)
    _write(stats, lines[:200])
    path = tmp_path / "r.sqlite"
    _old_schema(path)
    live = LiveRollups.open(path, stats)
    (blocked := live.partial).mkdir()  # a path in the way: the partial file cannot be made
    (blocked / "x").write_bytes(b"")
    live.start()
    delays = []
    for n in range(1, 10):
        assert live.wait(10) and live.failures == n
        delays.append(float(caplog.records[-1].getMessage().split("next attempt in ")[1].split(" s")[0]))
        live.add(lines[200 + 10 * n : 210 + 10 * n])
        live.maintain()  # not yet: no attempt
        assert live.wait(10) and live.failures == n
        now[0] += delays[-1]
        if n < 9:
            live.maintain()
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert "next attempt in 60 s; it keeps failing: are the stats files readable" in caplog.text
    with pytest.raises(RollupsRebuilding) as e:
        live.store  # noqa: B018
    assert e.value.failed
    (blocked / "x").unlink()
    blocked.rmdir()  # the operator clears the path
    live.maintain()
    assert live.wait(30) and not live.rebuilding and not live.failed
    assert live.store.query(T0 - 10 * 86400)[0]["requests"] == 290  # 200 in the file, 90 added meanwhile
    assert caplog.text.count("after 9 failed attempts") == 1
    live.close()


def test_a_stop_while_a_retry_is_due_is_prompt_and_starts_nothing(tmp_path, monkeypatch):
    stats = tmp_path / "stats.jsonl"
    _write(stats, _random_lines(20))
    path = tmp_path / "r.sqlite"
    _old_schema(path)
    live = LiveRollups.open(path, stats)
    monkeypatch.setattr("sys.executable", "/bin/false")
    live.start()
    assert live.wait(60) and live.failed
    monkeypatch.undo()
    t = time.monotonic()
    live.stop()  # the sidecar stops during the wait
    assert time.monotonic() - t < 0.5
    time.sleep(1.1)  # the retry would be due now
    live.maintain()
    assert live.wait(0) and live.failures == 1 and live.rebuilding and _rebuild_child() is None
    assert all(s.file.closed for s in live._sources)
    live.close()


async def test_the_sidecar_upkeep_makes_the_retry_and_stops_at_once(tmp_path, caplog):
    stats = tmp_path / "stats.jsonl"
    _write(stats, _random_lines(100))
    path = tmp_path / "r.sqlite"
    _old_schema(path)
    live = LiveRollups.open(path, stats)
    live.partial.mkdir()
    live.start()
    assert await asyncio.to_thread(live.wait, 60) and live.failed
    live.partial.rmdir()
    upkeep = asyncio.create_task(_rollups_upkeep(live, every=0.05))
    for _ in range(600):  # the first retry is due 1 s after the failure
        if not live.rebuilding:
            break
        await asyncio.sleep(0.05)
    assert not live.rebuilding and live.store.query(T0 - 10 * 86400)[0]["requests"] == 100
    t = time.monotonic()
    upkeep.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upkeep
    await asyncio.to_thread(live.stop)
    assert time.monotonic() - t < 1.5
    assert "after 1 failed attempts" in caplog.text
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
