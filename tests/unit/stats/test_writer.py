import asyncio
import contextlib
import errno
import gzip
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import orjson

from lmgate.stats.writer import StatsWriter


def _lines(path):
    return [orjson.loads(x) for x in path.read_bytes().splitlines()]


def test_buffered_until_flush(tmp_path):
    w = StatsWriter(tmp_path / "s.jsonl")
    w.write({"n": 1})
    w.write({"n": 2})
    assert not (tmp_path / "s.jsonl").exists()
    w.flush()
    assert _lines(tmp_path / "s.jsonl") == [{"n": 1}, {"n": 2}]
    assert w.written == 2 and w.pending == 0


def test_rotation_gzips_and_keeps_the_configured_count(tmp_path):
    path = tmp_path / "s.jsonl"
    w = StatsWriter(path, max_bytes=200, keep_files=2)
    for i in range(40):
        w.write({"n": i, "pad": "x" * 40})
        w.flush()
    rotated = w.rotated_files()
    assert len(rotated) == 2
    assert all(p.suffix == ".gz" for p in rotated)
    kept = [r["n"] for p in rotated for r in (orjson.loads(x) for x in gzip.decompress(p.read_bytes()).splitlines())]
    kept += [r["n"] for r in _lines(path)]
    assert kept == list(range(40 - len(kept), 40)), "rotation keeps order and loses no line it keeps"
    assert path.stat().st_size <= 200


def test_full_disk_keeps_lines_and_writes_them_later(tmp_path, monkeypatch, caplog):
    path = tmp_path / "s.jsonl"
    w = StatsWriter(path)
    real_write = os.write
    budget = {"left": 10}

    def short_disk(fd, data):
        if budget["left"] is None:
            return real_write(fd, data)
        if budget["left"] == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = real_write(fd, data[: budget["left"]])
        budget["left"] -= n
        return n

    monkeypatch.setattr(os, "write", short_disk)
    w.write({"n": 1})
    w.write({"n": 2})
    w.flush()
    assert w.failing and w.pending == 1, "the first line went whole, the second half-written"
    assert "No space left" in caplog.text
    assert w.write_errors == 1  # for the metrics
    budget["left"] = None  # disk has room again
    w.flush()
    assert _lines(path) == [{"n": 1}, {"n": 2}], "the half-written line is completed, nothing doubled"
    assert not w.failing and w.write_errors == 1 and w.written == 2


def test_after_flush_runs_once_the_lines_before_it_are_on_disk(tmp_path, monkeypatch):
    path = tmp_path / "s.jsonl"
    w = StatsWriter(path)
    seen: list[list] = []
    w.write({"n": 1})
    w.after_flush(lambda: seen.append([r["n"] for r in _lines(path)]))
    w.write({"n": 2})
    real_write = os.write

    def full_disk(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    w.flush()
    assert seen == [], "nothing reached the disk: the callback waits"
    monkeypatch.setattr(os, "write", real_write)
    w.flush()
    assert seen == [[1, 2]] and w.pending == 0
    w.after_flush(lambda: seen.append("no lines"))
    w.flush()
    assert seen[-1] == "no lines", "a callback with no lines before it runs at the next flush"


def test_buffer_cap_drops_oldest_and_counts(tmp_path):
    w = StatsWriter(tmp_path / "s.jsonl", max_buffered=3)
    for i in range(5):
        w.write({"n": i})
    assert w.dropped == 2
    w.flush()
    assert [r["n"] for r in _lines(tmp_path / "s.jsonl")] == [2, 3, 4]


async def test_run_flushes_on_interval_and_on_cancel(tmp_path):
    w = StatsWriter(tmp_path / "s.jsonl", flush_interval=0.05)
    task = asyncio.create_task(w.run())
    w.write({"n": 1})
    await asyncio.sleep(0.2)
    assert _lines(tmp_path / "s.jsonl") == [{"n": 1}]
    w.write({"n": 2})
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert _lines(tmp_path / "s.jsonl") == [{"n": 1}, {"n": 2}]


async def test_a_cancel_while_a_taken_batch_waits_for_its_thread_loses_no_line(tmp_path):
    """The sidecar stops (SIGTERM) just as a periodic flush has taken the lines and queued their write: the
    write still happens, before the last flush, and the spool's cursor is saved only after it."""
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(pool)
    busy = threading.Event()
    pool.submit(busy.wait)  # the one thread is busy: the writer's write waits in the queue
    w = StatsWriter(tmp_path / "s.jsonl", flush_interval=0.01)
    saved = []
    w.write({"n": 1})
    w.after_flush(lambda: saved.append(_lines(tmp_path / "s.jsonl")))
    task = asyncio.create_task(w.run())
    while w.pending:  # taken by a periodic flush, its write queued
        await asyncio.sleep(0.005)
    w.write({"n": 2})
    task.cancel()
    loop.call_later(0.05, busy.set)  # the thread frees up after the cancel
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert _lines(tmp_path / "s.jsonl") == [{"n": 1}, {"n": 2}]
    assert saved == [[{"n": 1}]]
    pool.shutdown()
