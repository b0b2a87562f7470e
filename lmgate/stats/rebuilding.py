"""The sidecar's rollups, rebuilt in the background when they must be, while the gateway serves.

A rollups file of an older schema, a missing one (with stats files to count) or
a corrupt one is rebuilt from the JSONL files. That takes minutes for a million
lines, so the sidecar does not wait for it: ``LiveRollups.open`` takes a
snapshot of the stats files (each open, the live one up to its size now), at
start-up before the writer appends anything, and a child process
(``python -m lmgate.stats.rebuilding``, its own CPU and GIL) counts exactly
those bytes into ``<rollups>.rebuilding``. Lines the writer flushes meanwhile
come to ``add``, which sums them in memory (a ``Batch``: one row per hour, key
and model, however many lines). When the child is done, the batch is added to
the new file, which then replaces the old one; from then on ``add`` writes
through. So every line is counted once: before the snapshot by the child,
after it by ``add``. The snapshot keeps the files open, so a rotation or the
retention of old files during the rebuild takes nothing away from it.

Until the swap, ``store`` raises ``RollupsRebuilding`` (with the share done):
usage and console reads answer 503, and budget counters are not seeded (see
``gateway.py``). A partial ``.rebuilding`` file left by a crash is discarded at
the next start, which rebuilds again (the old file stays until the swap).

A failed attempt (the child killed by the OOM killer, a disk full for a moment,
a path in the way) is retried by itself: ``start`` makes the first attempt and
the sidecar's upkeep calls ``maintain`` every second, which makes the next one
once ``retry_delay`` has passed; both go through ``_attempt_if_due``, the one
place that decides when a rebuild runs. Every attempt reads the same snapshot
from its first byte into a fresh partial file, and the lines kept meanwhile
stay in memory until a swap succeeds, so none is lost or counted twice.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lmgate.stats.backend import FollowsJsonl, RollupsBackend
from lmgate.stats.rollup_rows import Batch, Malformed
from lmgate.stats.rollups import Rollups, file_lines, schema_is_current, stats_files

log = logging.getLogger("lmgate.stats")

SUFFIXES = ("-wal", "-shm")
# After a failed attempt: 1 s, doubling to 60 s. A transient cause (a child the OOM killer took, a disk full for
# a moment, a locked file) has usually cleared within seconds, and budget keys are refused 503 (on_store_error:
# closed) until a rebuild succeeds, so healing soon matters; a cause that stays costs one attempt a minute.
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0


def retry_delay(failures: int, took: float = 0.0) -> float:
    """Seconds to wait after ``failures`` failed attempts in a row, the last of which ran ``took`` seconds.

    Never shorter than that attempt: a rebuild that keeps failing near its end (minutes for a million lines)
    keeps the child on a CPU at most half the time, next to nginx and the sidecar."""
    return max(min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** max(0, failures - 1)), took)


class RollupsRebuilding(Exception):
    """The rollups are being rebuilt from the stats files; ``done`` is the share read so far (0 to 1)."""

    def __init__(self, done: float, failed: bool = False) -> None:
        self.done = done
        self.failed = failed
        what = (
            "could not be rebuilt yet (an attempt failed: see the sidecar's log; it is retried by itself)"
            if failed
            else f"are being rebuilt ({done:.0%} read)"
        )
        super().__init__(f"the usage rollups {what}")


@dataclass(frozen=True, slots=True)
class _Source:
    name: str
    file: BinaryIO
    size: int  # its size at the snapshot
    whole: bool  # a rotated file (complete); the live one is read to ``size`` only


class LiveRollups:
    """The sidecar's rollups: ``store`` once they are complete, ``add`` for the writer's lines at any time."""

    def __init__(self, path: Path, store: RollupsBackend | None = None, sources: list[_Source] | None = None) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".rebuilding")
        self._store = store
        self._sources = sources or []
        self._lock = threading.Lock()  # add() against the swap
        self._pending = Batch()  # lines flushed during the rebuild
        self._skipped = 0
        self._total = sum(s.size for s in self._sources) or 1
        self._read = 0
        self.failed = False  # an attempt failed and none has succeeded since
        self.failures = 0  # failed attempts in a row
        self._next_try = 0.0  # time.monotonic() of the next attempt
        self._closing = False
        self._child: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._attempts = threading.Lock()  # _attempt_if_due against stop()
        self._done = threading.Event()
        if store is not None:
            self._done.set()

    @classmethod
    def ready(cls, path: Path, store: RollupsBackend) -> LiveRollups:
        """A store that needs no rebuild here (the shared PostgreSQL one: it catches up by itself)."""
        return cls(path, store)

    @classmethod
    def open(cls, path: Path, jsonl_path: Path) -> LiveRollups:
        """The rollups at ``path``: ready when current (or when there is nothing to count), else a snapshot of
        the stats files to rebuild them from (``start`` runs it). Call it before the writer starts."""
        partial = path.with_name(path.name + ".rebuilding")
        try:
            _discard(partial)  # a rebuild a crash interrupted: begun anew
        except OSError as e:  # each attempt discards it again, and says so if it still cannot
            log.warning("rollups: cannot remove %s (%s)", partial, e)
        files = stats_files(jsonl_path)
        if not files or schema_is_current(path):
            return cls(path, Rollups(path))  # an empty file is created (or a corrupt one set aside) as before
        if path.exists():
            log.warning("rollups %s are of another schema or unreadable: rebuilding them in the background", path)
        sources = []
        for f in files:
            try:
                sources.append(_Source(f.name, f.open("rb"), f.stat().st_size, f != jsonl_path))
            except OSError as e:
                log.error("rollups rebuild: cannot read %s (%s); going on with the next file", f, e)
        return cls(path, None, sources)

    # -- reading --------------------------------------------------------------

    @property
    def store(self) -> RollupsBackend:
        """The complete rollups; RollupsRebuilding until they are."""
        store = self._store
        if store is None:
            raise RollupsRebuilding(self.progress, self.failed)
        return store

    @property
    def up(self) -> bool:
        """False while a shared store is unreachable (a file is always up)."""
        return getattr(self._store, "up", True)

    @property
    def pending_lines(self) -> int:
        """Lines a shared store has not counted yet (held in the JSONL)."""
        return getattr(self._store, "pending_lines", 0)

    @property
    def rebuilding(self) -> bool:
        return self._store is None

    @property
    def progress(self) -> float:
        """The share of the snapshot's bytes the rebuild has read (1.0 when ready)."""
        return 1.0 if self._store is not None else min(1.0, self._read / self._total)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the rebuild attempt running is over (done or failed); True if it is."""
        return self._done.wait(timeout)

    # -- writing --------------------------------------------------------------

    def add(self, records: list[dict]) -> int:
        """Add written stats lines: to the rollups, or while they are rebuilt, to the lines kept for them."""
        with self._lock:
            if self._store is None:
                for record in records:
                    try:
                        self._pending.add(record)
                    except Malformed:
                        self._skipped += 1
                return len(records)
        return self._store.add(records)

    # -- the rebuild ------------------------------------------------------------

    def start(self) -> None:
        """Make the first rebuild attempt, if one is due, in a child process watched by a thread that swaps the
        file in (the sidecar's upkeep makes the next ones: ``maintain``)."""
        self._attempt_if_due()

    def maintain(self) -> None:
        """The sidecar's upkeep, every second: a shared store catches up with the JSONL; rollups still to
        rebuild get their next attempt once the delay after a failure is over."""
        store = self._store
        if isinstance(store, FollowsJsonl):
            store.maintain()
        elif store is None:
            self._attempt_if_due()

    def _attempt_if_due(self) -> None:
        with self._attempts:
            running = self._thread is not None and self._thread.is_alive()
            if self._store is not None or self._closing or running or time.monotonic() < self._next_try:
                return
            self._done.clear()
            self._thread = threading.Thread(target=self._attempt, name="rollups-rebuild", daemon=True)
            self._thread.start()

    def _attempt(self) -> None:
        started = time.monotonic()
        try:
            self._rebuild()
        except Exception as e:
            if not self._closing:  # stopped: the next start rebuilds
                self._failed(e, time.monotonic() - started)
        finally:
            self._done.set()

    def _rebuild(self) -> None:
        """One attempt: the whole snapshot, from its first byte, into a fresh partial file, then the swap."""
        _discard(self.partial)  # what a failed attempt left
        self._read = 0
        for s in self._sources:
            s.file.seek(0)  # the child shares the offset: an earlier attempt left it where it stopped
        fds = [s.file.fileno() for s in self._sources]
        args = [f"{fd}:{s.size}:{int(s.whole)}:{s.name}" for fd, s in zip(fds, self._sources, strict=True)]
        cmd = [sys.executable, "-m", "lmgate.stats.rebuilding", str(self.partial), *args]
        log.info(
            "rollups: rebuilding %s from %d stats files (%d bytes) in the background", self.path, len(fds), self._total
        )
        with subprocess.Popen(cmd, pass_fds=fds, stdout=subprocess.PIPE) as child:
            self._child = child
            if self._closing:  # stop() came while it started
                child.terminate()
            assert child.stdout is not None
            for line in child.stdout:  # "read <bytes>" as it goes, "done <lines> <malformed>" at the end
                word, *numbers = line.split()
                if word == b"read":
                    self._read = int(numbers[0])
        code = child.returncode  # the with waited for it
        if code < 0:
            raise ChildFailed(f"the rebuild process was killed by signal {-code}")
        if code != 0:
            raise ChildFailed(f"the rebuild process exited with {code}")
        self._swap()
        for s in self._sources:
            s.file.close()

    def _failed(self, e: Exception, took: float) -> None:
        self.failures += 1
        self.failed = True
        self._read = 0  # the next attempt reads from the first byte
        delay = retry_delay(self.failures, took)
        self._next_try = time.monotonic() + delay
        stuck = "; it keeps failing: are the stats files readable, the rollups' directory writable?"
        log.error(
            "rollups: rebuild attempt %d of %s failed (%s); usage reads answer 503 until one succeeds; "
            "next attempt in %.0f s%s",
            self.failures,
            self.path,
            e,
            delay,
            stuck if delay >= RETRY_MAX_S else "",
            exc_info=not isinstance(e, ChildFailed),  # the child logged its own traceback
        )

    def _swap(self) -> None:
        """Add the lines kept meanwhile to the new file, and put it in the old one's place."""
        fresh = Rollups(self.partial)
        with self._lock:
            try:
                lines = fresh.add_batch(self._pending)
            finally:
                fresh.close()  # the last connection: its WAL is checkpointed into the file and removed
            for suffix in SUFFIXES:  # the old file's WAL must not be read as the new one's
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            os.replace(self.partial, self.path)
            store = Rollups(self.path)
            store.skipped = self._skipped
            self._pending = Batch()
            self._store = store
        if self.failures:
            log.warning(
                "rollups: rebuilt %s after %d failed attempts; %d lines written meanwhile added; "
                "usage reads answer again",
                self.path,
                self.failures,
                lines,
            )
        else:
            log.info("rollups: rebuilt %s; %d lines written meanwhile added", self.path, lines)
        self.failed = False

    def stop(self) -> None:
        """Stop a rebuild still running, or waiting to be retried (the partial file is discarded at the next
        start)."""
        with self._attempts:
            self._closing = True  # no attempt starts from now on
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
            child.wait()
        if self._thread is not None:
            self._thread.join()
        for s in self._sources:
            s.file.close()

    def close(self) -> None:
        self.stop()
        if self._store is not None:
            self._store.close()


class ChildFailed(RuntimeError):
    """The rebuild process ended without finishing (its own log says why)."""


def _discard(partial: Path) -> None:
    for p in (partial, *(partial.with_name(partial.name + s) for s in SUFFIXES)):
        p.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """The rebuild process: count the given open stats files (``fd:size:whole:name``; not whole: read to
    ``size`` bytes) into a new rollups file."""
    ap = argparse.ArgumentParser(prog="python -m lmgate.stats.rebuilding")
    ap.add_argument("out", type=Path)
    ap.add_argument("files", nargs="*")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    read = 0

    def lines():
        nonlocal read
        for spec in args.files:
            fd, size, whole, name = spec.split(":", 3)
            with os.fdopen(int(fd), "rb") as f:
                for n, (where, raw) in enumerate(file_lines(name, f, None if whole == "1" else int(size))):
                    if n % 50_000 == 0:
                        print(f"read {read + f.tell()}", flush=True)
                    yield where, raw
            read += int(size)
        print(f"read {read}", flush=True)

    with Rollups(args.out) as rollups:
        n = rollups.rebuild_from(lines())
        print(f"done {n} {rollups.malformed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
