"""The rollups in one PostgreSQL database a fleet of instances shares (``rollups.store: postgresql://...``).

The tables and SQL are those of the SQLite store (``rollups.py``: the same
families of hour and day tables, names as ids, sums as integers), reused
through a connection that speaks psycopg's parameter style, with BIGINT
columns (sums outgrow 32 bits) and a schema migrated by version
(``rollups_pg_schema.py``; ``lmgate db migrate``, also run at start).

Each instance adds its own lines. Counting is idempotent: every batch inserts
its lines' request ids into ``applied`` (ON CONFLICT DO NOTHING) in the same
transaction as the increments, and only the lines whose id was new are added,
so a line read twice (a re-read spool, a replay after an outage, a rebuild
while instances run) counts once. ``applied`` keeps ids for ``dedupe_days``
and is pruned every ``PRUNE_EVERY`` seconds. The same transaction records the
instance's ``Mark`` (``jsonl_tail.py``): how far in its JSONL files it has
counted.

PostgreSQL unreachable: the JSONL file is the truth. The instance serves on,
its writer keeps writing the JSONL, ``add`` leaves the lines there (counted in
``pending_lines``), and ``maintain`` (every second, off the event loop) tries
again every ``RETRY_S`` seconds; when PostgreSQL answers it reads the mark and
counts the lines after it, in chunks, holding the writer's lock per chunk. The
outage and its end are logged once each. Reads raise ``RollupsUnavailable``,
which the HTTP API answers with a 503 naming the store.
Write transactions take one advisory lock, so instances never deadlock on
each other's rows (a batch a second is far from contended).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg.adapt import Loader
from psycopg.conninfo import conninfo_to_dict

from lmgate.stats.backend import RollupsUnavailable
from lmgate.stats.jsonl_tail import Mark, lines_after, live_mark
from lmgate.stats.rollup_rows import Batch, Malformed
from lmgate.stats.rollups import MAX_LOGGED, Rollups, _lines, stats_files
from lmgate.stats.rollups_pg_schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger("lmgate.stats")

CONNECT_TIMEOUT_S = 3
RETRY_S = 5.0  # between attempts to reach an unreachable store
CATCH_UP_LINES = 20_000  # lines per transaction (and per hold of the writer's lock) when catching up
PRUNE_EVERY = 600.0
WRITE_LOCK_ID = 0x6C6D6761  # pg_advisory_xact_lock: one writer transaction at a time, fleet-wide
_UNKNOWN = Mark("", -1, 0.0)  # the mark must be read from the store


@functools.lru_cache(maxsize=1024)
def _sql(sqlite: str) -> str:
    """The SQLite store's SQL for psycopg: ``?`` -> ``%s`` (a literal ``%`` doubled), and no ``+`` before a
    GROUP BY column (SQLite's hint not to use an index; in PostgreSQL an expression the SELECT lacks)."""
    sql = sqlite.replace("%", "%%").replace("?", "%s")
    head, by, tail = sql.partition(" GROUP BY ")
    if by:
        group, paren, rest = tail.partition(")")
        sql = head + by + group.replace("+", "") + paren + rest
    return sql


class _IntLoader(Loader):
    """SUM(bigint) is numeric in PostgreSQL; every sum the rollups read is a whole number."""

    def load(self, data: Any) -> int:
        return int(bytes(data))


def describe(url: str) -> str:
    """The store as messages name it: no password."""
    try:
        p = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://?"
    user = f"{p['user']}@" if p.get("user") else ""
    port = f":{p['port']}" if p.get("port") else ""
    return f"postgresql://{user}{p.get('host', '')}{port}/{p.get('dbname', '')}"


class _Conn:
    """A psycopg connection as the SQLite store's code calls one: ``execute``/``executemany`` with ``?``."""

    def __init__(self, url: str, statement_timeout_s: int) -> None:
        self.conn = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            options=f"-c statement_timeout={statement_timeout_s * 1000}",
        )
        self.conn.adapters.register_loader("numeric", _IntLoader)

    def execute(self, sql: str, params: Any = ()) -> psycopg.Cursor:
        return self.conn.execute(_sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Any]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(_sql(sql), list(rows))

    def close(self) -> None:
        self.conn.close()


class _Reader:
    """The read connection: opened on first use, dropped on failure and opened again on the next read."""

    def __init__(self, store: PgRollups) -> None:
        self.store = store
        self.conn: _Conn | None = None

    def execute(self, sql: str, params: Any = ()) -> psycopg.Cursor:
        try:
            if self.conn is None:
                self.conn = _Conn(self.store.url, statement_timeout_s=30)
            return self.conn.execute(sql, params)
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:
            self.close()
            raise self.store.unavailable(e) from e

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def instance_name(jsonl: Path) -> str:
    """This instance's name in the store when ``rollups.instance`` is unset: made once and kept beside the
    stats file (``stats.instance``), so it stays when the host name changes (a recreated container) and
    differs between instances, whose marks must not mix. A new name reads its JSONL from the start."""
    path = jsonl.with_name(jsonl.stem + ".instance")
    try:
        name = path.read_text().strip()
        if name:
            return name
    except FileNotFoundError:
        pass
    name = f"{socket.gethostname()}-{uuid.uuid4().hex[:12]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(name + "\n")
    os.replace(tmp, path)
    return name


class PgRollups(Rollups):
    def __init__(self, url: str, instance: str | None = None, dedupe_days: float = 7.0, migrate: bool = True) -> None:
        # Not Rollups.__init__: no SQLite file. The reading methods are inherited as they are.
        self.url, self.name = url, describe(url)
        self.instance = instance
        self.dedupe_days = dedupe_days
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._ids: dict[str, int] = {}
        # no sums of past hours kept: other instances add to them at any time (a late flush, a catch-up)
        self._cache_rows, self._clock, self._generation = 0, time.time, 0
        self._cache, self._cached_rows, self._names_by_id = OrderedDict(), 0, {}
        self._db: _Conn | None = None  # type: ignore[assignment]
        self._reader = _Reader(self)  # type: ignore[assignment]
        self._migrate_on_connect = migrate
        self.created = False
        self.skipped = 0
        self.malformed = 0
        # following an instance's JSONL (follow()): the writer's side
        self._jsonl: Path | None = None
        self._writer_lock: Any = None
        self._mark = _UNKNOWN
        self.up = False  # the last write (or catch-up) reached the store
        self.caught_up = False  # every line of the JSONL up to now is counted
        self.pending_lines = 0  # lines written to the JSONL and left there for a catch-up
        self._outage_logged = False
        self._next_try = 0.0
        self._next_prune = 0.0

    def unavailable(self, e: BaseException) -> RollupsUnavailable:
        return RollupsUnavailable(f"rollups store {self.name} is unreachable ({str(e).strip()[:200]})")

    # -- connection and schema -------------------------------------------

    def _writer(self) -> _Conn:
        if self._db is None:
            try:
                self._db = _Conn(self.url, statement_timeout_s=120)
            except psycopg.OperationalError as e:
                raise self.unavailable(e) from e
            if self._migrate_on_connect:
                self._run_migrations(self._db)
        return self._db

    def _drop_writer(self) -> None:
        if self._db is not None:
            with contextlib.suppress(psycopg.Error):
                self._db.close()
            self._db = None
        self._ids.clear()

    def migrate(self) -> int:
        """Create or migrate the schema; returns its version. RollupsUnavailable when the store is unreachable."""
        with self._write_lock:
            try:
                return self._run_migrations(self._writer())
            except psycopg.OperationalError as e:
                self._drop_writer()
                raise self.unavailable(e) from e

    @staticmethod
    def _run_migrations(db: _Conn) -> int:
        with db.conn.transaction():
            db.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK_ID,))
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, at TIMESTAMPTZ)")
            have = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            for version in sorted(v for v in MIGRATIONS if v > have):
                for stmt in MIGRATIONS[version]:
                    db.execute(stmt)
                db.execute("INSERT INTO schema_version (version, at) VALUES (?, now())", (version,))
                log.info("rollups store: schema migrated to version %d", version)
        return max(have, SCHEMA_VERSION)

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._drop_writer()
            self._reader.close()  # type: ignore[attr-defined]

    # -- writing ---------------------------------------------------------

    def add(self, records: Iterable[dict]) -> int:
        """Count stats lines once each (by request id). Following a JSONL, called by its writer after the
        lines reached the file: when the store is unreachable they stay there for ``maintain``."""
        records = list(records)
        with self._write_lock:
            if self._jsonl is None:
                return self._apply(records, None)
            if not self.caught_up:
                self.pending_lines += len(records)
                return 0
            try:
                return self._apply(records, live_mark(self._jsonl))
            except RollupsUnavailable as e:
                self._went_down(e)
                self.pending_lines += len(records)
                return 0

    def _apply(self, records: list[dict], mark: Mark | None) -> int:
        """One transaction: the new request ids, their lines' increments and the instance's mark."""
        db = self._writer()
        try:
            with db.conn.transaction():
                db.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK_ID,))
                counted = self._count(db, records)
                if mark is not None:
                    db.execute(
                        "INSERT INTO instance_marks (instance, file, byte_offset, at, updated) VALUES (?, ?, ?, ?, ?)"
                        " ON CONFLICT (instance) DO UPDATE SET file = excluded.file, byte_offset ="
                        " excluded.byte_offset, at = excluded.at, updated = excluded.updated",
                        (self.instance, mark.file, mark.offset, mark.at, time.time()),
                    )
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:
            self._drop_writer()
            raise self.unavailable(e) from e
        except BaseException:
            self._ids.clear()  # ids the rollback took back
            raise
        if mark is not None:
            self._mark = mark
        return counted

    def _count(self, db: _Conn, records: list[dict]) -> int:
        """Add the records whose request id is new (inside the caller's transaction); returns lines counted."""
        now = time.time()
        ids = [r.get("request_id") if isinstance(r, dict) else None for r in records]
        keyed = [i for i in ids if isinstance(i, str) and i]
        fresh: set[str] = set()
        if keyed:
            cur = db.conn.execute(
                "INSERT INTO applied (request_id, at) SELECT i, %s FROM unnest(%s::text[]) AS i"
                " ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
                (now, keyed),
            )
            fresh = {row[0] for row in cur.fetchall()}
        batch = Batch()
        skipped = 0
        for record, rid in zip(records, ids, strict=True):
            if isinstance(rid, str) and rid:
                if rid not in fresh:
                    continue  # counted before (or twice in this batch)
                fresh.discard(rid)
            try:
                batch.add(record)
            except Malformed:
                skipped += 1
        if skipped:
            self.skipped += skipped
            log.warning("rollups: skipped %d stats records without a usable ts or numbers", skipped)
        self._upsert(batch)
        if now >= self._next_prune and self.dedupe_days > 0:
            db.execute("DELETE FROM applied WHERE at < ?", (now - self.dedupe_days * 86400,))
            self._next_prune = now + PRUNE_EVERY
        return batch.lines

    def rebuild(self, jsonl_paths: Path | Iterable[Path], batch_lines: int = 50_000) -> int:  # type: ignore[override]
        """Wipe and recount from the JSONL files of every instance (each path with its rotated files).

        One transaction: readers see the old totals until it commits. Instances may
        keep running: their lines the files already held are counted once (request ids).
        """
        paths = [jsonl_paths] if isinstance(jsonl_paths, Path) else list(jsonl_paths)
        self.malformed = 0
        lines = 0
        with self._write_lock:
            db = self._writer()
            try:
                with db.conn.transaction():
                    db.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK_ID,))
                    for table in [*self._tables(), "applied"]:
                        db.execute(f"DELETE FROM {table}")
                    records: list[dict] = []
                    for path in paths:
                        for where, raw in _lines(stats_files(path)):
                            lines += 1
                            record = self._parse(raw, where, "rebuild")
                            if record is not None:
                                records.append(record)
                            if len(records) >= batch_lines:
                                self._count(db, records)
                                records = []
                    self._count(db, records)
            except (psycopg.OperationalError, psycopg.InterfaceError) as e:
                self._drop_writer()
                raise self.unavailable(e) from e
            except BaseException:
                self._ids.clear()
                raise
        if self.malformed:
            log.warning("rollups rebuild: %d of %d lines malformed and skipped", self.malformed, lines)
        log.info("rollups store %s rebuilt from %d stats lines", self.name, lines)
        return lines

    def _parse(self, raw: bytes, where: str, what: str) -> dict | None:
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            self.malformed += 1
            if self.malformed <= MAX_LOGGED:
                log.warning("rollups %s: %s: malformed stats line skipped (%s)", what, where, e)
            return None
        return record if isinstance(record, dict) else {}

    # -- following an instance's JSONL -----------------------------------

    def follow(self, jsonl: Path, lock: Any) -> None:
        """Count this instance's lines as its writer (holding ``lock`` while it appends) writes them."""
        self._jsonl = jsonl
        self._writer_lock = lock
        if self.instance is None:
            self.instance = instance_name(jsonl)

    def maintain(self) -> None:
        """Catch up with the JSONL if the store was unreachable (or at start); retries every RETRY_S."""
        if self._jsonl is None or self.caught_up or time.time() < self._next_try:
            return
        held = self.pending_lines
        counted = 0
        try:
            with self._write_lock:
                self._writer()  # connect (and migrate) first: an unreachable store must not hold up the writer
            while True:
                with self._writer_lock, self._write_lock:
                    if self._mark is _UNKNOWN:
                        self._mark = self._read_mark()
                    raw, end = lines_after(self._jsonl, self._mark if self._mark.offset >= 0 else None, CATCH_UP_LINES)
                    if end is not None:
                        records = [r for r in (self._parse(x, "catch-up", "catch-up") for x in raw) if r is not None]
                        counted += self._apply(records, end)
                    if len(raw) < CATCH_UP_LINES:  # read to the end, holding the lock: nothing is left
                        self.caught_up, self.up, self.pending_lines = True, True, 0
                        break
        except RollupsUnavailable as e:
            self._went_down(e)
            return
        if self._outage_logged:
            log.warning(
                "rollups store %s is back: counted %d lines (%d held during the outage)", self.name, counted, held
            )
            self._outage_logged = False
        elif counted:
            log.info("rollups store %s: counted %d lines of %s not yet in it", self.name, counted, self._jsonl)

    def _read_mark(self) -> Mark:
        """The instance's mark in the store; ``Mark('', -1, 0)`` (read everything) for a new instance."""
        db = self._writer()
        try:
            row = db.execute(
                "SELECT file, byte_offset, at FROM instance_marks WHERE instance = ?", (self.instance,)
            ).fetchone()
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:
            self._drop_writer()
            raise self.unavailable(e) from e
        return Mark(row[0], row[1], row[2]) if row else Mark("", -1, 0.0)

    def _went_down(self, e: RollupsUnavailable) -> None:
        self.up, self.caught_up, self._mark = False, False, _UNKNOWN
        self._next_try = time.time() + RETRY_S
        if not self._outage_logged:
            log.error("%s: serving on; stats lines stay in %s and are counted when it is back", e, self._jsonl)
            self._outage_logged = True
