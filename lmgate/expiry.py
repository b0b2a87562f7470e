"""When a key stops working: the allow-list's ``expires`` cells, durations, and the daily expiry warning.

An ``expires`` cell is an ISO date or datetime in UTC. A date names the last day
the key works: ``2027-01-31`` stops it at ``2027-02-01T00:00:00Z``. A datetime
without an offset is UTC; one with an offset is converted.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta

log = logging.getLogger("lmgate.expiry")

WARN_WITHIN = 7 * 86400  # a key expiring this soon is logged, once a UTC day
_DURATION = re.compile(r"^([0-9]{1,9})\s*([smhdw])$", re.ASCII)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_MAX_CHARS = 40  # longer text is no time
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", re.ASCII)
_DATETIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}", re.ASCII)  # no basic-format surprises
_HELP = "use a date (2027-01-31: the key works through that day, UTC), an ISO time (2027-01-31T12:00:00Z)"


def parse_expires(cell: str) -> float:
    """Epoch seconds at which the key stops working; ValueError saying what is accepted."""
    text = cell.strip()
    if not text or len(text) > _MAX_CHARS or not text.isascii():
        raise ValueError(f"cannot read {text[:_MAX_CHARS]!r} as an expiry: {_HELP}")
    try:
        if _DATE.match(text):
            when = datetime.combine(date.fromisoformat(text) + timedelta(days=1), datetime.min.time(), UTC)
        elif _DATETIME.match(text):
            when = datetime.fromisoformat(text)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
        else:
            raise ValueError
        return when.timestamp()
    except (ValueError, OverflowError):  # OverflowError: the last day of year 9999 has no next day
        raise ValueError(f"cannot read {text!r} as an expiry: {_HELP}") from None


def parse_duration(text: str) -> int:
    """Seconds of ``30m``, ``24h``, ``90d``, ``2w``, ``45s`` (``0`` alone is zero); ValueError otherwise."""
    t = text.strip().lower()
    if t == "0":
        return 0
    m = _DURATION.match(t)
    if not m:
        raise ValueError(f"cannot read {text[:_MAX_CHARS]!r} as a duration: use e.g. 30m, 24h, 90d or 2w")
    return int(m[1]) * _UNIT_SECONDS[m[2]]


def format_instant(ts: float) -> str:
    """``2027-02-01T00:00:00Z``: whole seconds, UTC."""
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expires_cell(value: str, now: float) -> str:
    """The ``expires`` cell for what an operator typed: a date stays a date, a time becomes UTC, a
    duration (``90d``) counts from ``now``. A moment already past is refused (revoke or disable instead)."""
    text = value.strip()
    try:
        cell = format_instant(now + parse_duration(text))
    except ValueError:
        try:
            at = parse_expires(text)
        except ValueError:
            raise ValueError(f"cannot read {text[:_MAX_CHARS]!r} as an expiry: {_HELP} or a duration (90d)") from None
        cell = text if _DATE.match(text) else format_instant(at)
    if parse_expires(cell) <= now:
        raise ValueError(f"{text!r} is in the past; to stop a key now, disable or revoke it")
    return cell


class ExpiryWarnings:
    """Logs each key that expires within ``WARN_WITHIN`` (WARNING), at most once per key and UTC day."""

    def __init__(self) -> None:
        self._warned: dict[str, str] = {}  # key id -> the UTC day it was last logged

    def check(self, keys: Iterable[tuple[str, str, float | None]], now: float) -> list[str]:
        """``keys``: ``(id, owner, expires_at)``; returns the ids logged this time."""
        today = datetime.fromtimestamp(now, UTC).date().isoformat()
        logged = []
        for key_id, owner, expires_at in keys:
            if expires_at is None or not now < expires_at <= now + WARN_WITHIN or self._warned.get(key_id) == today:
                continue
            self._warned[key_id] = today
            logged.append(key_id)
            hours = (expires_at - now) / 3600
            log.warning(
                "key %r (owner %r) expires at %s, in %.0f hours: rotate it or extend its expires",
                key_id,
                owner,
                format_instant(expires_at),
                hours,
            )
        return logged


async def warn_expiring(keys: Callable[[], Iterable[tuple[str, str, float | None]]], interval: float = 300) -> None:
    """The sidecar's task: every ``interval`` seconds, log the keys expiring soon (once a day each)."""
    warnings = ExpiryWarnings()
    while True:
        warnings.check(keys(), time.time())
        await asyncio.sleep(interval)
