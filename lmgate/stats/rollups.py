"""Hourly and daily usage rollups of the stats lines, in an embedded SQLite file.

Tables come in families, each an hour and a day table of one shape: one row per
bucket start (epoch seconds, UTC) x its dimensions, with sums of the lines.
- ``rollup_hour``/``_day``: per key_id x owner x provider x model, the usage sums;
- ``counts_hour``/``_day``: per the same four and a series (latency, ttfb and
  gateway time as histogram buckets, ``histogram.py``; error_type; DLP findings
  per entity type) and a label (the bucket, or a name), a count;
- ``models_*``, ``keys_*``, ``totals_*`` and ``counts_models_*``,
  ``counts_totals_*``: the same per provider x model, per key x owner, or in
  total, so a query reads the narrowest table that holds its groups and filters
  (everyone's spend per model reads rows per model, not per key and model);
- ``recent_errors``: the last ``RECENT_MAX`` lines with an error_type;
- ``key_seen``: each key's latest line.
Names are stored as ids into ``names`` (id 0 is the empty name, for an absent
one: NULLs would never match an upsert's conflict target), which keeps rows and
indexes small. Cost is summed as an integer count of 1e-10 USD (the precision
``pricing.cost_usd`` rounds to), so totals do not depend on the order or
batching of lines: a rebuild from the JSONL files arrives at exactly the totals
live ``add`` did (``rollup_rows.py`` turns a line into rows for both).

The SQL is standard (upserts with ON CONFLICT, CASE, no SQLite functions), so
another database can hold the same tables behind the same methods.

Reads keep what they summed of hours before the current one (``_past``: a
finished hour changes only when a late line reaches back into it, and such a
write drops what was kept), so a month's read sums its last hour only; results
are exactly those of summing every row (``tests/unit/stats/test_rollups_cache.py``).
The keeping trusts that this object is the only writer (the sidecar is).

All methods block; call them from a worker thread. One connection writes and
another reads (WAL), each behind its own lock, so queries do not wait on a batch.
"""

from __future__ import annotations

import functools
import gzip
import logging
import operator
import sqlite3
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

import orjson

from lmgate.stats.rollup_rows import (
    COST_UNIT,
    DIMENSIONS,
    NAMED_SERIES,
    RECENT_MAX,
    SERIES,
    SUMS,
    TOKEN_FIELDS,
    Batch,
    Malformed,
)

log = logging.getLogger("lmgate.stats")

SCHEMA_VERSION = 2  # 2: counts, models, recent_errors, key_seen (issue 16)
HOUR, DAY = 3600, 86400
METRICS = ("requests", *TOKEN_FIELDS, "cost_usd", "errors")
GROUPS = (*DIMENSIONS, "hour", "day")
TABLES = {"hour": "rollup_hour", "day": "rollup_day"}
MAX_CACHED_NAMES = 100_000
CACHE_ROWS = 200_000  # grouped rows of past hours reads keep (~0.5 KB each; a month by key and day: 15k)
MAX_LOGGED = 20  # malformed lines logged one by one per rebuild; the rest only counted
_SERIES_NAMES = {v: k for k, v in SERIES.items()}

Bucket = Literal["hour", "day"]


@dataclass(frozen=True, slots=True)
class _Family:
    """An hour and a day table: name-id dimensions, integer dimensions, sums."""

    prefix: str
    dims: tuple[str, ...]
    extra: tuple[str, ...]
    sums: tuple[str, ...]

    def table(self, bucket: Bucket) -> str:
        return f"{self.prefix}_{bucket}"

    @property
    def key(self) -> tuple[str, ...]:
        return ("start", *self.dims, *self.extra)

    def schema(self) -> list[str]:
        cols = ", ".join(f"{c} INTEGER NOT NULL" for c in (*self.key, *self.sums))
        out = []
        for bucket in TABLES:
            t = self.table(bucket)  # type: ignore[arg-type]
            out.append(f"CREATE TABLE {t} ({cols}, PRIMARY KEY ({', '.join(self.key)})) WITHOUT ROWID")
            out += [f"CREATE INDEX {t}_{d} ON {t} ({d}, start)" for d in ("key_id", "owner") if d in self.dims]
        return out

    @property
    def order_sum(self) -> int:
        """The position among ``sums`` of the one results are ordered by: cost for usage, the count for counts."""
        return self.sums.index("cost_e10") if "cost_e10" in self.sums else len(self.sums) - 1

    def upsert(self, bucket: Bucket) -> str:
        cols = (*self.key, *self.sums)
        table = self.table(bucket)  # qualified: PostgreSQL finds a bare column ambiguous with excluded's
        updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in self.sums)
        return (
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            f" ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET {updates}"
        )


USAGE = _Family("rollup", DIMENSIONS, (), SUMS)
USAGE_MODELS = _Family("models", ("provider", "model"), (), SUMS)
USAGE_KEYS = _Family("keys", ("key_id", "owner"), (), SUMS)
USAGE_TOTALS = _Family("totals", (), (), SUMS)
COUNTS = _Family("counts", DIMENSIONS, ("series", "label"), ("n",))
COUNTS_MODELS = _Family("counts_models", ("provider", "model"), ("series", "label"), ("n",))
COUNTS_TOTALS = _Family("counts_totals", (), ("series", "label"), ("n",))
FAMILIES = (USAGE, USAGE_MODELS, USAGE_KEYS, USAGE_TOTALS, COUNTS, COUNTS_MODELS, COUNTS_TOTALS)
# Narrower tables with the same sums in fewer rows, tried in order, for a query whose groups and filters they hold.
_NARROWER = {USAGE: (USAGE_TOTALS, USAGE_MODELS, USAGE_KEYS), COUNTS: (COUNTS_TOTALS, COUNTS_MODELS)}
_TIME = {"hour": "start", "day": f"start - start % {DAY}"}  # a time group's SQL
_NAMED_IDS = frozenset(SERIES[x] for x in NAMED_SERIES)  # series whose label is a name id
_Leg = tuple[Literal["hour", "day"], int, int | None]
_RECENT_COLUMNS = ("at", "request_id", *DIMENSIONS, "status", "error_type")


def _schema() -> list[str]:
    out = [
        "CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
        "INSERT INTO names (id, name) VALUES (0, '')",
        "CREATE TABLE recent_errors (seq INTEGER PRIMARY KEY, at REAL NOT NULL, request_id TEXT NOT NULL, "
        + ", ".join(f"{c} INTEGER NOT NULL" for c in (*DIMENSIONS, "status", "error_type"))
        + ")",
        "CREATE INDEX recent_errors_at ON recent_errors (at)",
        "CREATE TABLE key_seen (key_id INTEGER PRIMARY KEY, last REAL NOT NULL)",
    ]
    for family in FAMILIES:
        out += family.schema()
    return out


class Rollups:
    def __init__(self, path: Path, cache_rows: int = CACHE_ROWS, clock: Callable[[], float] = time.time) -> None:
        """``cache_rows``: grouped rows of past hours kept for reads (0: none); ``clock``: the time now."""
        self.path = path
        self._clock = clock
        self._cache: OrderedDict[tuple, tuple[int, dict[tuple, tuple]]] = OrderedDict()  # least recently used first
        self._cache_rows = cache_rows
        self._cached_rows = 0
        self._generation = 0  # bumped by every write into an hour before the current one
        self._names_by_id: dict[int, str] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._ids: dict[str, int] = {}  # names -> ids, as committed
        try:
            self.created = self._open()  # True: a new, empty store; the caller should rebuild it
        except sqlite3.DatabaseError as e:  # derived data: set the broken file aside and start anew
            corrupt = path.with_name(path.name + ".corrupt")
            log.error("rollups store %s is unreadable (%s); moved to %s, starting empty", path, e, corrupt.name)
            for suffix in ("-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
            path.replace(corrupt)
            self.created = self._open()
        self._reader = self._connect(cache_mib=16)
        self.skipped = 0  # records add() could not use
        self.malformed = 0  # lines the last rebuild could not use

    def _open(self) -> bool:
        self._db = self._connect()
        try:
            return self._migrate()
        except sqlite3.DatabaseError:
            self._db.close()
            raise

    def _connect(self, cache_mib: int = 64) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # WAL: a power cut may lose the last batch, never corrupts
            db.execute(f"PRAGMA cache_size = -{cache_mib * 1024}")  # upserts land all over the indexes
            db.execute("PRAGMA journal_size_limit = 67108864")  # a rebuild's WAL shrinks back after checkpoints
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _migrate(self) -> bool:
        with self._write_lock:
            if self._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return False
            with self._transaction():
                for (table,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                    self._db.execute(f'DROP TABLE "{table}"')  # derived data: rebuilt from the JSONL files
                for stmt in _schema():
                    self._db.execute(stmt)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return True

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._db.close()
            self._reader.close()

    def __enter__(self) -> Rollups:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self)

    def add(self, records: Iterable[dict]) -> int:
        """Add stats lines (dicts) in one transaction; returns how many were used."""
        batch = Batch()
        skipped = 0
        for record in records:
            try:
                batch.add(record)
            except Malformed:
                skipped += 1
        self.skipped += skipped
        if skipped:
            log.warning("rollups: skipped %d stats records without a usable ts or numbers", skipped)
        return self.add_batch(batch)

    def add_batch(self, batch: Batch) -> int:
        """Add what a ``Batch`` of lines summed, in one transaction; returns its lines."""
        with self._write_lock:
            with self._transaction():
                self._upsert(batch)
            if batch.usage and min(batch.usage)[0] < _floor(self._clock(), HOUR):  # the clock read after the commit
                self._generation += 1  # a late line: what reads kept of past hours is stale
        return batch.lines

    def rebuild(self, jsonl_path: Path, batch_rows: int = 100_000) -> int:
        """Wipe and recompute from ``jsonl_path`` and its rotated ``.gz`` siblings; returns lines read.

        Run it before live ``add`` calls start, or on a file nobody adds to
        (``rebuilding.py``): lines written while it runs could be counted twice. One
        transaction, so readers see old or new totals. Blank lines are not counted;
        malformed ones are counted in ``malformed``.
        """
        return self.rebuild_from(_lines(stats_files(jsonl_path)), batch_rows)

    def rebuild_from(self, source: Iterable[tuple[str, bytes]], batch_rows: int = 100_000) -> int:
        """``rebuild`` from (``file:line``, raw line) pairs."""
        self.malformed = 0
        lines = 0
        with self._write_lock, self._transaction():
            for table in self._tables():
                self._db.execute(f"DELETE FROM {table}")  # names stay: other processes may hold their ids
            batch = Batch()
            for where, raw in source:
                lines += 1
                try:
                    batch.add(orjson.loads(raw))  # the checks add() makes, so both skip the same lines
                except (orjson.JSONDecodeError, Malformed) as e:
                    self.malformed += 1
                    if self.malformed <= MAX_LOGGED:
                        log.warning("rollups rebuild: %s: malformed stats line skipped (%s)", where, e)
                if len(batch.usage) + len(batch.counts) >= batch_rows:
                    self._upsert(batch)
                    batch = Batch()
            self._upsert(batch)
        with self._write_lock:
            self._generation += 1
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the rebuild's WAL is as big as the store
        if self.malformed:
            log.warning("rollups rebuild: %d of %d lines malformed and skipped", self.malformed, lines)
        log.info("rollups rebuilt from %d stats lines", lines)
        return lines

    @staticmethod
    def _tables() -> list[str]:
        return [f.table(b) for f in FAMILIES for b in ("hour", "day")] + ["recent_errors", "key_seen"]

    def _upsert(self, batch: Batch) -> None:
        """Write a batch into every table; the caller holds the write lock inside a transaction."""
        ids = self._name_ids(batch.names())
        usage = {(s, ids[k], ids[o], ids[p], ids[m]): v for (s, k, o, p, m), v in batch.usage.items()}
        counts = {
            (s, ids[k], ids[o], ids[p], ids[m], series, ids[label] if isinstance(label, str) else label): [n]
            for (s, k, o, p, m, series, label), n in batch.counts.items()
        }
        for family, rows in (
            (USAGE, usage),
            (USAGE_MODELS, _project(usage, (0, 3, 4))),
            (USAGE_KEYS, _project(usage, (0, 1, 2))),
            (USAGE_TOTALS, _project(usage, (0,))),
            (COUNTS, counts),
            (COUNTS_MODELS, _project(counts, (0, 3, 4, 5, 6))),
            (COUNTS_TOTALS, _project(counts, (0, 5, 6))),
        ):
            for bucket, bucket_rows in (("hour", rows), ("day", _project(rows, None))):
                if bucket_rows:
                    self._db.executemany(family.upsert(bucket), [(*k, *v) for k, v in bucket_rows.items()])
        if batch.recent:
            self._db.executemany(
                f"INSERT INTO recent_errors ({', '.join(_RECENT_COLUMNS)}) VALUES ({', '.join('?' * 8)})",
                [(at, rid, ids[k], ids[o], ids[p], ids[m], st, ids[e]) for at, rid, k, o, p, m, st, e in batch.recent],
            )
            last = self._db.execute("SELECT MAX(seq) FROM recent_errors").fetchone()[0]
            self._db.execute("DELETE FROM recent_errors WHERE seq <= ?", (last - RECENT_MAX,))
        if batch.seen:
            self._db.executemany(
                "INSERT INTO key_seen (key_id, last) VALUES (?, ?) ON CONFLICT (key_id) DO UPDATE SET "
                "last = CASE WHEN excluded.last > key_seen.last THEN excluded.last ELSE key_seen.last END",
                [(ids[k], t) for k, t in batch.seen.items()],
            )

    def _name_ids(self, names: set[str]) -> dict[str, int]:
        new = [n for n in names if n not in self._ids]
        if new:
            if len(self._ids) > MAX_CACHED_NAMES:
                self._ids.clear()
            add = "INSERT INTO names (name) VALUES (?) ON CONFLICT (name) DO NOTHING"
            self._db.executemany(add, [(n,) for n in new])
            for start in range(0, len(new), 500):  # SQLite caps bound parameters per statement
                chunk = new[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                self._ids.update(self._db.execute(f"SELECT name, id FROM names WHERE name IN ({marks})", chunk))
        return {n: self._ids[n] for n in names}

    # -- reading ---------------------------------------------------------

    def query(
        self,
        since: float,
        until: float | None = None,
        group_by: Iterable[str] = (),
        key_id: str | None = None,
        owner: str | None = None,
        bucket: Bucket = "hour",
    ) -> list[dict[str, Any]]:
        """Sums over buckets starting in [since, until), grouped by ``group_by`` (of GROUPS).

        ``bucket="hour"`` (exact to the hour): ``since`` is floored to its hour and
        ``until`` rounded up to one; whole UTC days inside the range are read from
        the day table and the hours at either end from the hour table (only the
        hour table when grouping by hour). ``bucket="day"``: the day table alone,
        the range widened to whole UTC days (inexact at its edges).
        Rows come ordered by hour/day, then by cost, highest first.
        """
        group = _check_group(group_by, bucket)
        rows = self._select(USAGE, group, since, until, {"key_id": key_id, "owner": owner}, bucket)
        return _results(group, rows)

    def counts(
        self,
        series: Collection[str],
        since: float,
        until: float | None = None,
        group_by: Iterable[str] = (),
        key_id: str | None = None,
        owner: str | None = None,
        bucket: Bucket = "hour",
        provider: str | None = None,
        model: str | None = None,
    ) -> list[dict[str, Any]]:
        """Counts of ``series`` (of ``rollup_rows.SERIES``) over a range as ``query`` reads it.

        Rows: the ``group_by`` values, ``series``, ``label`` (a histogram bucket for
        latency, ttfb and gateway; the error_type or DLP entity for error and dlp)
        and ``n``.
        """
        unknown = [x for x in series if x not in SERIES]
        if unknown or not series:
            raise ValueError(f"series must be some of {', '.join(SERIES)}, not {', '.join(unknown) or 'none'}")
        group = _check_group(group_by, bucket)
        where = (f" AND series IN ({', '.join('?' * len(series))})", [SERIES[x] for x in series])
        filters = {"key_id": key_id, "owner": owner, "provider": provider, "model": model}
        rows = self._select(COUNTS, [*group, "series", "label"], since, until, filters, bucket, where)
        out = []
        for row in rows:
            if row[-1] is None:
                continue
            result = _result(group, row[: len(group)], ())
            name = _SERIES_NAMES[row[len(group)]]
            label = row[len(group) + 1] if name not in NAMED_SERIES else row[-2]
            out.append({**result, "series": name, "label": label, "n": row[-1]})
        return out

    def _select(
        self,
        family: _Family,
        group: list[str],
        since: float,
        until: float | None,
        names: dict[str, str | None],
        bucket: Bucket,
        where: tuple[str, list] = ("", []),
    ) -> list[tuple]:
        """Rows of ``group`` values and the family's sums (ordered by time, then the first sum, highest
        first), where the dimensions ``names`` has a value for are that name; for counts, the label's name
        follows the group values.

        The part of the range before the current hour is summed once and kept (``_past``), the rest each
        time, and the two added: a console asking for 30 days reads one hour of rows, not 30 days of them.
        """
        needed = {g for g in group if g not in ("hour", "day", *family.extra)} | {d for d, v in names.items() if v}
        family = next((f for f in _NARROWER[family] if needed <= set(f.dims)), family)
        lo, hi = _floor(since, HOUR), None if until is None else _ceil(until, HOUR)
        filters, values = [], []
        for col, value in names.items():
            if value is not None:
                filters.append(f" AND {col} = (SELECT id FROM names WHERE name = ?)")
                values.append(value)
        filters.append(where[0])
        values += where[1]
        shape = _Shape(family, tuple(group), "".join(filters), tuple(values))
        boundary = _floor(self._clock(), HOUR) if self._cache_rows else lo  # no cache: everything is read now
        past, live = _split(_legs(lo, hi, bucket, "hour" in group), boundary)
        with self._read_lock:
            sums = self._past(shape, tuple(past)) if past else {}
            if live:
                sums = dict(sums)  # the kept dict stays as it is
                width = len(family.sums)
                for key, row in self._grouped(shape, live):
                    have = sums.get(key)
                    sums[key] = row if have is None else tuple(have[i] + row[i] for i in range(width))
            return self._named_and_ordered(shape, sums)

    def _past(self, shape: _Shape, legs: tuple[_Leg, ...]) -> dict[tuple, tuple]:
        """``_grouped`` of legs that end before the current hour: kept until a write reaches back into one.

        Sound because every write after this read that lands in these legs' hours bumps ``_generation``
        (``add_batch``: a row for an hour before the one the commit finished in), and the entry is kept
        under the generation read before the query ran.
        """
        key = (shape, legs)
        generation = self._generation
        kept = self._cache.get(key)
        if kept is not None and kept[0] == generation:
            self._cache.move_to_end(key)
            return kept[1]
        sums = dict(self._grouped(shape, list(legs)))
        if len(sums) <= self._cache_rows // 4:  # a huge result is not worth pushing the others out for
            self._cache[key] = (generation, sums)
            self._cached_rows += len(sums) - (len(kept[1]) if kept is not None else 0)
            while self._cached_rows > self._cache_rows:
                _, (_, old) = self._cache.popitem(last=False)
                self._cached_rows -= len(old)
        return sums

    def _grouped(self, shape: _Shape, legs: list[_Leg]) -> Iterator[tuple[tuple, tuple]]:
        """(group values as stored: name ids, bucket starts; the sums) over ``legs``, one row per group."""
        family, group = shape.family, shape.group
        cols = ", ".join((*family.key, *family.sums))
        selects, params = [], []
        for b, start, end in legs:
            selects.append(
                f"SELECT {cols} FROM {family.table(b)} WHERE start >= ?"
                + ("" if end is None else " AND start < ?")
                + shape.filters
            )
            params += [start, *([] if end is None else [end]), *shape.values]
        # "+" keeps SQLite from scanning a whole (owner, start) index just to get groups in order.
        sql = (
            f"SELECT {', '.join([f'{_TIME.get(g, g)} AS {g}' for g in group] + [f'SUM({c})' for c in family.sums])}"
            f" FROM ({' UNION ALL '.join(selects)}) AS legs"
            + (f" GROUP BY {', '.join(g if g in _TIME else '+' + g for g in group)}" if group else "")
        )
        n = len(group)
        for row in self._reader.execute(sql, params):
            if row[n] is not None:  # no group and no rows: one row of NULL sums
                yield row[:n], row[n:]

    def _named_and_ordered(self, shape: _Shape, sums: dict[tuple, tuple]) -> list[tuple]:
        """Group values with names for name ids (and a named series' label name after them), then the sums;
        ordered by time, the first sum (cost for usage) highest first, then the group values.

        Column by column and with C-level sort keys: a month by key and day is 15,000 rows."""
        family, group = shape.family, shape.group
        n = len(group)
        if not sums:
            return []
        keys = list(sums)
        columns = [list(c) for c in zip(*keys, strict=True)] if n else []
        named = [i for i, g in enumerate(group) if g not in _TIME and g not in family.extra]
        label = group.index("label") if "label" in group else None
        ids = {i for c in named for i in columns[c]}
        if label is not None:
            ids |= {i for s, i in zip(columns[label - 1], columns[label], strict=True) if s in _NAMED_IDS}
        self._load_names(ids)
        by_id = self._names_by_id
        for c in named:
            columns[c] = [by_id[i] for i in columns[c]]
        if label is not None:
            series, raw = columns[label - 1], columns[label]
            columns.append([by_id[i] if s in _NAMED_IDS else None for s, i in zip(series, raw, strict=True)])
        out = list(zip(*columns, *zip(*sums.values(), strict=True), strict=True))
        # three stable sorts, last key first: the other group values, then the sum (highest first), then time
        times = [i for i, g in enumerate(group) if g in _TIME]
        others = [i for i in range(n) if i not in times]
        if others:
            out.sort(key=operator.itemgetter(*others))
        out.sort(key=operator.itemgetter(len(columns) + family.order_sum), reverse=True)
        if times:
            out.sort(key=operator.itemgetter(*times))
        return out

    def _load_names(self, ids: set[int]) -> None:
        """Names of ids not yet known to the reader (an id's name never changes: names are only added)."""
        missing = [i for i in ids if i not in self._names_by_id]
        for start in range(0, len(missing), 500):  # SQLite caps bound parameters per statement
            chunk = missing[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            self._names_by_id.update(self._reader.execute(f"SELECT id, name FROM names WHERE id IN ({marks})", chunk))

    def spend(self, since: float, key_id: str | None = None, owner: str | None = None) -> float:
        """USD spent from the hour holding ``since`` on: exact for periods that start on an hour."""
        rows = self.query(since, key_id=key_id, owner=owner)
        return rows[0]["cost_usd"] if rows else 0.0

    def row_counts(self) -> dict[str, int]:
        """Rows per bucket table, e.g. ``{"hour": 980_000, "day": 390_000}``: how big the store is (benchmarks)."""
        with self._read_lock:
            return {b: self._reader.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for b, t in TABLES.items()}

    def table_rows(self) -> dict[str, int]:
        """Rows in every table of the store, by table name (benchmarks)."""
        with self._read_lock:
            return {t: self._reader.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in self._tables()}

    def spend_by(self, since: float, group: Literal["key_id", "owner"]) -> dict[str, float]:
        """USD spent from the hour holding ``since`` on, per key id or per owner (one query for all)."""
        return {row[group]: row["cost_usd"] for row in self.query(since, group_by=[group])}

    def recent_errors(
        self,
        error_types: Collection[str] | None,
        key_id: str | None = None,
        owner: str | None = None,
        limit: int = 50,
        offset: int = 0,
        except_types: Collection[str] = (),
    ) -> tuple[int, list[dict[str, Any]]]:
        """Of the last ``RECENT_MAX`` lines with an error_type, those of ``error_types`` (None: of any) and not
        of ``except_types``: (how many, a page of them, newest first) as dicts of ``at`` (epoch seconds),
        request_id, key_id, owner, provider, model, status, error_type."""
        if error_types is not None and not error_types:
            return 0, []
        where = ["TRUE"]
        params: list[Any] = []
        for types, test in ((error_types, "IN"), (except_types, "NOT IN")):
            if types:
                where.append(f"error_type {test} (SELECT id FROM names WHERE name IN ({', '.join('?' * len(types))}))")
                params.extend(types)
        for col, value in (("key_id", key_id), ("owner", owner)):
            if value is not None:
                where.append(f"{col} = (SELECT id FROM names WHERE name = ?)")
                params.append(value)
        cond = " AND ".join(where)
        names = ", ".join(f"(SELECT name FROM names WHERE id = r.{c})" for c in (*DIMENSIONS, "error_type"))
        sql = (
            f"SELECT at, request_id, {names}, status FROM recent_errors AS r WHERE {cond}"
            " ORDER BY at DESC, seq DESC LIMIT ? OFFSET ?"
        )
        with self._read_lock:
            total = self._reader.execute(f"SELECT COUNT(*) FROM recent_errors WHERE {cond}", params).fetchone()[0]
            rows = self._reader.execute(sql, [*params, limit, offset]).fetchall()
        keys = ("at", "request_id", *DIMENSIONS, "error_type", "status")
        return total, [{k: (v if v != "" else None) for k, v in zip(keys, row, strict=True)} for row in rows]

    def last_seen(self) -> dict[str, float]:
        """Each key id's latest stats line (epoch seconds)."""
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT (SELECT name FROM names WHERE id = s.key_id), last FROM key_seen AS s"
            ).fetchall()
        return dict(rows)


def schema_is_current(path: Path) -> bool:
    """Whether ``path`` is a rollups file of this ``SCHEMA_VERSION`` (False: missing, older, or unreadable)."""
    if not path.exists():
        return False
    try:
        db = sqlite3.connect(path, timeout=30)
        try:
            return db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return False


def _check_group(group_by: Iterable[str], bucket: Bucket) -> list[str]:
    group = list(dict.fromkeys(group_by))
    bad = [g for g in group if g not in GROUPS]
    if bad:
        raise ValueError(f"cannot group by {', '.join(bad)}: choose from {', '.join(GROUPS)}")
    if bucket not in TABLES:
        raise ValueError(f"bucket must be 'hour' or 'day', not {bucket!r}")
    if bucket == "day" and "hour" in group:
        raise ValueError("grouping by hour needs bucket='hour'")
    return group


def _project(rows: dict[tuple, list[int]], keep: tuple[int, ...] | None) -> dict[tuple, list[int]]:
    """Rows summed onto fewer key columns (``keep``: their positions), or with ``None`` onto day starts."""
    out: dict[tuple, list[int]] = {}
    for key, sums in rows.items():
        k = (key[0] - key[0] % DAY, *key[1:]) if keep is None else tuple(key[i] for i in keep)
        have = out.get(k)
        out[k] = list(sums) if have is None else [a + b for a, b in zip(have, sums, strict=True)]
    return out


@dataclass(frozen=True, slots=True)
class _Shape:
    """A grouped read apart from its time range: the table family, groups and filters (with their values)."""

    family: _Family
    group: tuple[str, ...]
    filters: str
    values: tuple


def _split(legs: list[_Leg], boundary: int) -> tuple[list[_Leg], list[_Leg]]:
    """``legs`` cut at ``boundary``: those before it, and the rest (a day-table leg across it stays whole, after)."""
    past: list[_Leg] = []
    live: list[_Leg] = []
    for b, start, end in legs:
        if end is not None and end <= boundary:
            past.append((b, start, end))
        elif start >= boundary or b == "day":
            live.append((b, start, end))
        else:
            past.append((b, start, boundary))
            live.append((b, boundary, end))
    return past, live


def _legs(lo: int, hi: int | None, bucket: Bucket, by_hour: bool) -> list[tuple[Bucket, int, int | None]]:
    """(bucket table, start, end) ranges covering [lo, hi): whole days from the day table where allowed."""
    if bucket == "day":
        return [("day", _floor(lo, DAY), None if hi is None else _ceil(hi, DAY))]
    first, last = _ceil(lo, DAY), None if hi is None else _floor(hi, DAY)
    if by_hour or (last is not None and first >= last):
        return [("hour", lo, hi)]
    legs: list[tuple[Bucket, int, int | None]] = [("hour", lo, first)] if lo < first else []
    legs.append(("day", first, last))
    if hi is not None and last is not None and last < hi:
        legs.append(("hour", last, hi))
    return legs


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK and forget ids the rollback took back."""

    def __init__(self, store: Rollups) -> None:
        self.store = store

    def __enter__(self) -> None:
        self.store._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.store._db.execute("COMMIT")
        else:
            self.store._db.execute("ROLLBACK")
            self.store._ids.clear()


@functools.lru_cache(maxsize=4096)
def _time_label(kind: str, start: int) -> str:
    """A bucket's label (the same few repeat in every row of a query: formatting them is most of its time)."""
    return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ" if kind == "hour" else "%Y-%m-%d")


def _result(group: list[str], row: tuple, sums: tuple[str, ...] = SUMS) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in zip(group, row, strict=False):
        out[name] = _time_label(name, value) if name == "hour" or name == "day" else value or None
    for name, value in zip(sums, row[len(group) :], strict=True):
        if name == "cost_e10":
            out["cost_usd"] = value / COST_UNIT
        else:
            out[name] = value
    return out


def _results(group: list[str], rows: list[tuple]) -> list[dict[str, Any]]:
    """``_result`` of many usage rows, column by column (a month by key and day is 15,000 of them)."""
    if not rows:
        return []
    keys = (*group, *("cost_usd" if c == "cost_e10" else c for c in SUMS))
    columns: list[Any] = list(zip(*rows, strict=True))
    for i, g in enumerate(group):
        if g == "hour" or g == "day":
            columns[i] = [_time_label(g, t) for t in columns[i]]
        else:
            columns[i] = [v or None for v in columns[i]]
    cost = len(group) + SUMS.index("cost_e10")
    columns[cost] = [c / COST_UNIT for c in columns[cost]]
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]


def _floor(t: float, unit: int) -> int:
    return int(t // unit * unit)


def _ceil(t: float, unit: int) -> int:
    return -int(-t // unit * unit)


def stats_files(jsonl_path: Path) -> list[Path]:
    """The rotated files oldest first (as ``StatsWriter.rotated_files`` names them), then the live one.

    A rotation interrupted between rename and gzip leaves a plain rotated file; it
    is read unless its ``.gz`` was completed.
    """
    parent, stem, suffix = jsonl_path.parent, jsonl_path.stem, jsonl_path.suffix
    gz = {p.name[: -len(".gz")]: p for p in parent.glob(f"{stem}-*{suffix}.gz")}
    plain = {p.name: p for p in parent.glob(f"{stem}-*{suffix}") if p.name not in gz}
    rotated = [p for _, p in sorted({**plain, **gz}.items())]
    return [*rotated, jsonl_path] if jsonl_path.exists() else rotated


def _lines(paths: Iterable[Path]) -> Iterator[tuple[str, bytes]]:
    """(``file:line``, raw line) for every non-blank line; unreadable files are logged and skipped."""
    for path in paths:
        try:
            f = path.open("rb")
        except OSError as e:
            log.error("rollups rebuild: cannot read %s (%s); going on with the next file", path, e)
            continue
        with f:
            yield from file_lines(path.name, f)


def file_lines(name: str, f: BinaryIO, limit: int | None = None) -> Iterator[tuple[str, bytes]]:
    """(``name:line``, raw line) for every non-blank line of an open stats file (``.gz``: gzipped), up to
    ``limit`` bytes of it; a file that breaks off is logged, and what it gave before stays read."""
    n = consumed = 0
    try:
        lines = gzip.GzipFile(fileobj=f, mode="rb") if name.endswith(".gz") else f
        for n, raw in enumerate(lines, 1):
            if limit is not None:
                if consumed >= limit:
                    return
                raw = raw[: limit - consumed]
                consumed += len(raw)
            if raw.strip():
                yield f"{name}:{n}", raw
    except (OSError, EOFError, zlib.error) as e:
        log.error("rollups rebuild: cannot read %s after line %d (%s); going on with the next file", name, n, e)
