"""Buffered JSONL writer: interval flush, size rotation with gzip, flush on shutdown.

Lines are appended to memory on the request path and written by a worker
thread, so a slow or full disk never stalls the event loop. A failed write
keeps its lines for the next flush; only past ``max_buffered`` lines are the
oldest dropped, and that is counted and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

log = logging.getLogger("lmgate.stats")


class StatsWriter:
    def __init__(
        self,
        path: Path,
        *,
        flush_interval: float = 1.0,
        max_bytes: int = 100 * 1024**2,
        keep_files: int = 20,
        max_buffered: int = 200_000,
        keep_days: float = 0,
        on_rotate: Callable[[Path], None] | None = None,
        on_flush: Callable[[list[bytes]], None] | None = None,
    ) -> None:
        self.path = path
        self.flush_interval = flush_interval
        self.max_bytes = max_bytes
        self.keep_files = keep_files
        self.max_buffered = max_buffered
        self.keep_days = keep_days
        self.on_rotate = on_rotate
        self.on_flush = on_flush  # gets the lines that reached the disk (the rollups), on the flush thread
        self._pending: list[bytes] = []
        self._markers: list[Callable[[], None]] = []  # after_flush callbacks waiting for the lines before them
        self._io_lock = threading.Lock()  # one flush at a time touches the file
        self.written = 0
        self.dropped = 0
        self.write_errors = 0  # failed writes (each keeps its lines for the next flush)
        self.failing = False
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: object) -> None:
        """Queue one line (a dict or dataclass, as orjson serialises both); cheap."""
        self._pending.append(orjson.dumps(record) + b"\n")
        if len(self._pending) > self.max_buffered:
            overflow = len(self._pending) - self.max_buffered
            del self._pending[:overflow]
            self.dropped += overflow
            log.error("stats buffer full (%d lines): dropped %d oldest lines", self.max_buffered, overflow)

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def io_lock(self) -> threading.Lock:
        """Held while lines are appended, the file rotated and ``on_flush`` called: whoever reads the file's
        end under it (a shared rollups store catching up) sees whole flushes, each already passed to on_flush."""
        return self._io_lock

    def after_flush(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the flush thread once every line queued so far is on disk (the spool's cursor)."""
        self._markers.append(callback)

    def _take(self) -> tuple[list[bytes], list[Callable[[], None]]]:
        # Swapped on the event-loop thread only, so no write() can land in a taken list.
        lines, self._pending = self._pending, []
        markers, self._markers = self._markers, []
        return lines, markers

    def flush(self) -> None:
        """Write everything queued so far (blocking; for shutdown and tests)."""
        self._write_lines(*self._take())

    def _write_lines(self, lines: list[bytes], markers: Sequence[Callable[[], None]] = ()) -> None:
        if self._write_and_report(lines):
            for callback in markers:
                try:
                    callback()
                except Exception:
                    log.exception("stats: a step after the write failed")
        else:
            self._markers[:0] = list(markers)  # after the lines kept in memory reach the disk

    def _write_and_report(self, lines: list[bytes]) -> bool:
        """Write ``lines``; False if some stay in memory for the next flush."""
        if not lines:
            return True
        with self._io_lock:
            data = b"".join(lines)
            try:
                self._rotate_if_needed(len(data))
                written = self._append(data)
            except OSError as e:
                written = getattr(e, "lmgate_written", 0)
                whole = self._keep_unwritten(lines, written)
                self.write_errors += 1
                self.written += whole
                if not self.failing:
                    log.error("cannot write stats to %s (%s); keeping %d lines in memory", self.path, e, self.pending)
                self.failing = True
                self._flushed(lines[:whole])
                return False
            if self.failing:
                log.warning("stats writes to %s work again", self.path)
                self.failing = False
            self.written += len(lines)
            self._flushed(lines)
            return True

    def _flushed(self, lines: list[bytes]) -> None:
        if not lines or self.on_flush is None:
            return
        try:
            self.on_flush(lines)
        except Exception:  # the JSONL line is written; derived data can be rebuilt from it
            log.exception("stats: post-write step failed for %d lines (run `lmgate rollups rebuild`)", len(lines))

    def _append(self, data: bytes) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        done = 0
        try:
            while done < len(data):
                try:
                    done += os.write(fd, data[done:])
                except OSError as e:
                    e.lmgate_written = done  # type: ignore[attr-defined]
                    raise
        finally:
            os.close(fd)
        return done

    def _keep_unwritten(self, lines: list[bytes], written: int) -> int:
        """Put back what did not reach the disk, first; a half-written line is finished later.

        Returns how many lines reached the disk whole.
        """
        rest: list[bytes] = []
        whole = 0
        for line in lines:
            if written >= len(line):
                written -= len(line)
                whole += 1
                continue
            rest.append(line[written:])
            written = 0
        self._pending[:0] = rest
        return whole

    def _rotate_if_needed(self, incoming: int) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0 or size + incoming <= self.max_bytes:
            return
        # Microsecond stamps keep names unique and sorting in rotation order.
        now = time.time_ns() // 1000
        while True:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now / 1e6)) + f".{now % 1_000_000:06d}Z"
            rotated = self.path.with_name(f"{self.path.stem}-{stamp}{self.path.suffix}")
            if not rotated.exists() and not rotated.with_name(rotated.name + ".gz").exists():
                break
            now += 1
        os.rename(self.path, rotated)
        gz = self._gzip(rotated)
        self._prune()
        if self.on_rotate:
            self.on_rotate(gz)

    @staticmethod
    def _gzip(path: Path) -> Path:
        gz = path.with_name(path.name + ".gz")
        tmp = gz.with_name(gz.name + ".tmp")
        with open(path, "rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        os.replace(tmp, gz)
        path.unlink()
        return gz

    def rotated_files(self) -> list[Path]:
        """Rotated files, oldest first (their names sort by time)."""
        return sorted(self.path.parent.glob(f"{self.path.stem}-*{self.path.suffix}.gz"))

    def _prune(self) -> None:
        """Keep at most ``keep_files`` rotated files and none older than ``keep_days`` (0: no limit)."""
        old = self.rotated_files()
        doomed = old[: max(0, len(old) - self.keep_files)] if self.keep_files > 0 else []
        if self.keep_days > 0:
            cutoff = time.time() - self.keep_days * 86400
            doomed += [p for p in old if p not in doomed and _mtime(p) < cutoff]
        for path in doomed:
            path.unlink(missing_ok=True)

    async def run(self) -> None:
        """Flush every ``flush_interval`` seconds until cancelled, then flush once more.

        A batch handed to a thread is in no list but that call's: cancelling the write while it waits for its
        thread (the sidecar stopping) would drop those lines, and the last flush would then save a spool cursor
        past them. So the write is shielded from the cancel, and waited for before the last flush."""
        writing: asyncio.Future[None] | None = None
        try:
            while True:
                await asyncio.sleep(self.flush_interval)
                if self._pending or self._markers:
                    writing = asyncio.ensure_future(asyncio.to_thread(self._write_lines, *self._take()))
                    await asyncio.shield(writing)
        finally:
            if writing is not None and not writing.done():
                with contextlib.suppress(asyncio.CancelledError):  # cancelled again: the thread still writes it
                    await asyncio.shield(writing)
            self.flush()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")
