"""Hourly and daily usage rollups of the stats lines, in an embedded SQLite file.

Two tables of one shape, ``rollup_hour`` and ``rollup_day``: one row per bucket
start (epoch seconds, UTC) x key_id x owner x provider x model, with the sums of
its lines. The four names are stored as ids into ``names`` (id 0 is the empty
name, for an absent one: NULLs would never match an upsert's conflict target),
which keeps rows and indexes small. Cost is summed as an integer count of 1e-10
USD (the precision ``pricing.cost_usd`` rounds to), so totals do not depend on
the order or batching of lines: a rebuild from the JSONL files arrives at exactly
the totals live ``add`` did.

All methods block; call them from a worker thread. One connection writes and
another reads (WAL), each behind its own lock, so queries do not wait on a batch.
"""

from __future__ import annotations

import gzip
import logging
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

log = logging.getLogger("lmgate.stats")

SCHEMA_VERSION = 1
HOUR, DAY = 3600, 86400
COST_UNIT = 10**10  # cost is stored in 1e-10 USD
DIMENSIONS = ("key_id", "owner", "provider", "model")
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
METRICS = ("requests", *TOKEN_FIELDS, "cost_usd", "errors")
GROUPS = (*DIMENSIONS, "hour", "day")
TABLES = {"hour": "rollup_hour", "day": "rollup_day"}
MAX_COUNT = 2**48  # a larger token count is garbage, and sums must stay within SQLite's int64
MAX_NAME = 200  # longer names (a client's model string) are cut: they only label rows
MAX_CACHED_NAMES = 100_000
MAX_LOGGED = 20  # malformed lines logged one by one per rebuild; the rest only counted

_SUMS = ("requests", *TOKEN_FIELDS, "cost_e10", "errors")
_COLUMNS = ("start", *DIMENSIONS, *_SUMS)
_KEY = "start, key_id, owner, provider, model"

Bucket = Literal["hour", "day"]
# In memory a row is keyed by (hour start, key_id, owner, provider, model) names.
Rows = dict[tuple[int, str, str, str, str], list[int]]


class Malformed(ValueError):
    """A stats line the rollups cannot count (bad ts, a count that is no count...)."""


def _schema() -> list[str]:
    out = [
        "CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
        "INSERT INTO names (id, name) VALUES (0, '')",
    ]
    sums = ", ".join(f"{c} INTEGER NOT NULL" for c in _SUMS)
    dims = ", ".join(f"{d} INTEGER NOT NULL" for d in DIMENSIONS)
    for table in TABLES.values():
        out += [
            f"CREATE TABLE {table} (start INTEGER NOT NULL, {dims}, {sums}, PRIMARY KEY ({_KEY})) WITHOUT ROWID",
            f"CREATE INDEX {table}_key ON {table} (key_id, start)",
            f"CREATE INDEX {table}_owner ON {table} (owner, start)",
        ]
    return out


def _upsert(table: str) -> str:
    marks = ", ".join("?" * len(_COLUMNS))
    updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in _SUMS)
    return f"INSERT INTO {table} ({', '.join(_COLUMNS)}) VALUES ({marks}) ON CONFLICT ({_KEY}) DO UPDATE SET {updates}"


class Rollups:
    def __init__(self, path: Path) -> None:
        self.path = path
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
        rows, skipped = _aggregate(records)
        self.skipped += skipped
        if skipped:
            log.warning("rollups: skipped %d stats records without a usable ts or numbers", skipped)
        with self._write_lock, self._transaction():
            self._upsert_rows(rows)
        return sum(sums[0] for sums in rows.values())

    def rebuild(self, jsonl_path: Path, batch_rows: int = 100_000) -> int:
        """Wipe and recompute from ``jsonl_path`` and its rotated ``.gz`` siblings; returns lines read.

        Run it before live ``add`` calls start (at startup): lines written while it
        runs could be counted twice. One transaction, so readers see old or new totals.
        Blank lines are not counted; malformed ones are counted in ``malformed``.
        """
        self.malformed = 0
        lines = 0
        with self._write_lock, self._transaction():
            for table in TABLES.values():
                self._db.execute(f"DELETE FROM {table}")  # names stay: other processes may hold their ids
            rows: Rows = {}
            for where, raw in _lines(stats_files(jsonl_path)):
                lines += 1
                try:
                    record = orjson.loads(raw)
                    if not isinstance(record, dict):
                        raise Malformed("not a JSON object")
                    _add_row(rows, _row(record))  # the checks add() makes, so both skip the same lines
                except (orjson.JSONDecodeError, Malformed) as e:
                    self.malformed += 1
                    if self.malformed <= MAX_LOGGED:
                        log.warning("rollups rebuild: %s: malformed stats line skipped (%s)", where, e)
                if len(rows) >= batch_rows:
                    self._upsert_rows(rows)
                    rows = {}
            self._upsert_rows(rows)
        with self._write_lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the rebuild's WAL is as big as the store
        if self.malformed:
            log.warning("rollups rebuild: %d of %d lines malformed and skipped", self.malformed, lines)
        log.info("rollups rebuilt from %d stats lines", lines)
        return lines

    def _upsert_rows(self, hour_rows: Rows) -> None:
        """Upsert into both tables; the caller holds the write lock inside a transaction."""
        ids = self._name_ids({name for key in hour_rows for name in key[1:]})
        hours: dict[tuple[int, ...], list[int]] = {}
        days: dict[tuple[int, ...], list[int]] = {}
        for (start, key, owner, provider, model), sums in hour_rows.items():
            dims = (ids[key], ids[owner], ids[provider], ids[model])
            hours[(start, *dims)] = sums
            day_key = (start - start % DAY, *dims)
            day = days.get(day_key)
            days[day_key] = sums if day is None else [a + b for a, b in zip(day, sums, strict=True)]
        for table, rows in ((TABLES["hour"], hours), (TABLES["day"], days)):
            self._db.executemany(_upsert(table), [(*k, *v) for k, v in rows.items()])

    def _name_ids(self, names: set[str]) -> dict[str, int]:
        new = [n for n in names if n not in self._ids]
        if new:
            if len(self._ids) > MAX_CACHED_NAMES:
                self._ids.clear()
            self._db.executemany("INSERT OR IGNORE INTO names (name) VALUES (?)", [(n,) for n in new])
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
        group = list(dict.fromkeys(group_by))
        bad = [g for g in group if g not in GROUPS]
        if bad:
            raise ValueError(f"cannot group by {', '.join(bad)}: choose from {', '.join(GROUPS)}")
        if bucket not in TABLES:
            raise ValueError(f"bucket must be 'hour' or 'day', not {bucket!r}")
        if bucket == "day" and "hour" in group:
            raise ValueError("grouping by hour needs bucket='hour'")
        lo, hi = _floor(since, HOUR), None if until is None else _ceil(until, HOUR)
        filters, values = [], []
        for col, value in (("key_id", key_id), ("owner", owner)):
            if value is not None:
                filters.append(f" AND {col} = (SELECT id FROM names WHERE name = ?)")
                values.append(value)
        legs, params = [], []
        for table, start, end in _legs(lo, hi, bucket, "hour" in group):
            legs.append(
                f"SELECT {', '.join(_COLUMNS)} FROM {table} WHERE start >= ?"
                + ("" if end is None else " AND start < ?")
                + "".join(filters)
            )
            params += [start, *([] if end is None else [end]), *values]
        expr = {"hour": "start", "day": f"start - start % {DAY}"}
        # "+" keeps SQLite from scanning a whole (owner, start) index just to get groups in order.
        inner = (
            f"SELECT {', '.join([f'{expr.get(g, g)} AS {g}' for g in group] + [f'SUM({c}) AS {c}' for c in _SUMS])}"
            f" FROM ({' UNION ALL '.join(legs)})"
            + (f" GROUP BY {', '.join(g if g in expr else '+' + g for g in group)}" if group else "")
        )
        # Names are looked up after grouping, on the few result rows only.
        outer = [g if g in expr else f"(SELECT name FROM names WHERE id = g.{g})" for g in group]
        order = [g for g in group if g in expr] + ["cost_e10 DESC"] + [f"{i + 1}" for i in range(len(group))]
        sql = f"SELECT {', '.join([*outer, *_SUMS])} FROM ({inner}) AS g ORDER BY {', '.join(order)}"
        with self._read_lock:
            rows = self._reader.execute(sql, params).fetchall()
        return [_result(group, row) for row in rows if row[len(group)] is not None]

    def spend(self, since: float, key_id: str | None = None, owner: str | None = None) -> float:
        """USD spent from the hour holding ``since`` on: exact for periods that start on an hour."""
        rows = self.query(since, key_id=key_id, owner=owner)
        return rows[0]["cost_usd"] if rows else 0.0

    def row_counts(self) -> dict[str, int]:
        """Rows per bucket table, e.g. ``{"hour": 980_000, "day": 390_000}``: how big the store is (benchmarks)."""
        with self._read_lock:
            return {b: self._reader.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for b, t in TABLES.items()}

    def spend_by(self, since: float, group: Literal["key_id", "owner"]) -> dict[str, float]:
        """USD spent from the hour holding ``since`` on, per key id or per owner (one query for all)."""
        return {row[group]: row["cost_usd"] for row in self.query(since, group_by=[group])}


def _legs(lo: int, hi: int | None, bucket: Bucket, by_hour: bool) -> list[tuple[str, int, int | None]]:
    """(table, start, end) ranges covering [lo, hi): whole days from the day table where allowed."""
    if bucket == "day":
        return [(TABLES["day"], _floor(lo, DAY), None if hi is None else _ceil(hi, DAY))]
    first, last = _ceil(lo, DAY), None if hi is None else _floor(hi, DAY)
    if by_hour or (last is not None and first >= last):
        return [(TABLES["hour"], lo, hi)]
    legs = [(TABLES["hour"], lo, first)] if lo < first else []
    legs.append((TABLES["day"], first, last))
    if hi is not None and last is not None and last < hi:
        legs.append((TABLES["hour"], last, hi))
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


def _result(group: list[str], row: tuple) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in zip(group, row, strict=False):
        if name == "hour":
            out[name] = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif name == "day":
            out[name] = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d")
        else:
            out[name] = value or None
    for name, value in zip(_SUMS, row[len(group) :], strict=True):
        if name == "cost_e10":
            out["cost_usd"] = value / COST_UNIT
        else:
            out[name] = value
    return out


def _floor(t: float, unit: int) -> int:
    return int(t // unit * unit)


def _ceil(t: float, unit: int) -> int:
    return -int(-t // unit * unit)


def _count(value: object, field: str) -> int:
    if value is None:
        return 0
    if type(value) is not int or not 0 <= value < MAX_COUNT:  # type(): a bool is no count
        raise Malformed(f"{field} is not a token count: {value!r}")
    return value


def _name(value: object, field: str) -> str:
    if value is None:
        return ""
    if type(value) is not str:
        raise Malformed(f"{field} is not a string: {value!r}")
    return value[:MAX_NAME]


def _row(record: dict) -> tuple:
    """One stats line as (hour start, 4 names, sums...); Malformed when it cannot count."""
    get = record.get
    ts = get("ts")
    if type(ts) is not str:
        raise Malformed("no ts")
    try:
        when = datetime.fromisoformat(ts)
    except ValueError:
        raise Malformed(f"ts is not ISO-8601: {ts!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    cost = get("cost_usd")
    if cost is None:
        cost_e10 = 0
    elif type(cost) not in (int, float) or not 0 <= cost < 1e8:
        raise Malformed(f"cost_usd is not an amount: {cost!r}")
    else:
        cost_e10 = round(cost * COST_UNIT)
    return (
        int(when.timestamp()) // HOUR * HOUR,
        *[_name(get(d), d) for d in DIMENSIONS],
        1,
        *[_count(get(f), f) for f in TOKEN_FIELDS],
        cost_e10,
        0 if get("error_type") is None else 1,
    )


def _aggregate(records: Iterable[dict]) -> tuple[Rows, int]:
    """Sum records per hour row in memory, so a batch is one upsert per distinct row."""
    rows: Rows = {}
    skipped = 0
    for record in records:
        try:
            if not isinstance(record, dict):
                raise Malformed("not a JSON object")
            _add_row(rows, _row(record))
        except Malformed:
            skipped += 1
    return rows, skipped


def _add_row(rows: Rows, row: tuple) -> None:
    key, values = row[:5], row[5:]
    sums = rows.get(key)
    rows[key] = list(values) if sums is None else [a + b for a, b in zip(sums, values, strict=True)]


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
        opener = gzip.open if path.suffix == ".gz" else open
        n = 0
        try:
            with opener(path, "rb") as f:
                for n, raw in enumerate(f, 1):
                    if raw.strip():
                        yield f"{path.name}:{n}", raw
        except (OSError, EOFError, zlib.error) as e:
            log.error("rollups rebuild: cannot read %s after line %d (%s); going on with the next file", path, n, e)
