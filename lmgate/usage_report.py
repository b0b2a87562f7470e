"""Pure helpers for ``lmgate usage`` and the usage HTTP API: reading times, printing rollup rows."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal

import orjson

from lmgate.clip import clip

Format = Literal["table", "csv", "json"]

_DURATION = re.compile(r"^([0-9]+)\s*([smhdw])$", re.ASCII)  # ASCII: "٣d" is no duration
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_HELP = "use a duration (30m, 24h, 7d, 2w), a date (2026-11-01) or an ISO time (2026-11-01T12:00:00Z)"
_COST = "cost_usd"
_EARLIEST = 0.0  # 1970-01-01: no stats line is older, and earlier times only overflow
_MAX_TIME_CHARS = 64  # longer text is no time: refused before any parsing


class QueryError(ValueError):
    """A bad value of one parameter of a usage query; the message names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


def parse_since(value: str, now: float) -> float:
    """Epoch seconds for ``value``: a duration back from ``now``, a UTC date (its midnight) or an ISO time.

    ``m`` is minutes; months have no fixed length, so give a date for them.
    Times without an offset are UTC. The result lies between 1970-01-01 and
    ``now``; anything else (a 400-digit duration, year 1) is a ValueError.
    """
    text = value.strip()
    if not text:
        raise ValueError(f"empty time: {_HELP}")
    if len(text) > _MAX_TIME_CHARS or not text.isascii():
        raise ValueError(f"cannot read {_shown(value)} as a time: {_HELP}")
    m = _DURATION.match(text.lower())
    if m:
        back = int(m[1]) * _UNIT_SECONDS[m[2]]  # an int: no overflow however many digits
        if back > now - _EARLIEST:
            raise ValueError(f"{_shown(value)} reaches back before 1970-01-01: {_HELP}")
        return now - back
    try:
        if len(text) == 10:
            when = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        else:
            when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        since = when.timestamp()
    except (ValueError, OverflowError):  # OverflowError: date arithmetic at the ends of the calendar
        raise ValueError(f"cannot read {_shown(value)} as a time: {_HELP}") from None
    if since > now:
        raise ValueError(f"{_shown(value)} is in the future")
    if since < _EARLIEST:
        raise ValueError(f"{_shown(value)} is before 1970-01-01")
    return since


def parse_range(since: str, until: str | None, now: float) -> tuple[float, float | None]:
    """``since`` and ``until`` (None: now) read as by ``parse_since``; QueryError names the bad one."""
    try:
        start = parse_since(since, now)
    except ValueError as e:
        raise QueryError("since", str(e)) from None
    if until is None:
        return start, None
    try:
        end = parse_since(until, now)
    except ValueError as e:
        raise QueryError("until", str(e)) from None
    if end < start:
        raise QueryError("until", f"{_shown(until)} is before since ({_shown(since)})")
    return start, end


def _shown(value: str) -> str:
    """The client's text in a message, cut: an error must not echo a megabyte back."""
    return repr(clip(value, _MAX_TIME_CHARS))


def format_rows(
    rows: Sequence[dict[str, Any]], fmt: Format = "table", *, total: bool = True, empty: str = "no usage in this period"
) -> str:
    """Rows as an aligned text table (with a total row of the numeric columns), as CSV, or as a JSON array."""
    if fmt == "json":
        return orjson.dumps(list(rows), option=orjson.OPT_INDENT_2).decode()
    if fmt == "csv":
        return _csv(rows)
    if fmt == "table":
        return _table(rows, total, empty)
    raise ValueError(f"unknown format {fmt!r}: choose table, csv or json")


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for row in rows for k in row))


def _csv(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)  # None is written as an empty field
    return out.getvalue()


def _is_metric(column: str, rows: Sequence[dict[str, Any]]) -> bool:
    return all(isinstance(r.get(column), int | float) and not isinstance(r.get(column), bool) for r in rows)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if column == _COST and isinstance(value, int | float):
        return f"{value:,.4f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _table(rows: Sequence[dict[str, Any]], with_total: bool, empty: str) -> str:
    if not rows:
        return empty + "\n"
    columns = _columns(rows)
    metrics = [c for c in columns if _is_metric(c, rows)]
    total: dict[str, Any] = {c: sum(r[c] for r in rows) for c in metrics}
    labels = [c for c in columns if c not in metrics]
    if labels:
        total[labels[0]] = "total"
    body = [[_cell(c, r.get(c)) for c in columns] for r in rows]
    foot = [_cell(c, total.get(c, "")) for c in columns]
    shown = [*body, foot] if with_total else body
    widths = [max(len(c), *(len(line[i]) for line in shown)) for i, c in enumerate(columns)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(w) if c in metrics else cell.ljust(w) for c, cell, w in zip(columns, cells, widths, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    tail = [rule, line(foot)] if with_total else []
    return "\n".join([line(columns), rule, *(line(b) for b in body), *tail]) + "\n"
