"""Stats lines -> what the rollups add: pure, shared by live ``add`` and ``rebuild`` so both count alike.

A line gives, for its hour and (key_id, owner, provider, model):
- one usage row of sums (requests, tokens, cost in 1e-10 USD, errors);
- counts: its latency, time to first byte and gateway time as histogram buckets
  (``histogram.py``; only lines that went upstream have them), its error_type,
  and its DLP findings per entity type;
- when it has an error_type: an entry in the recent errors;
- its key's last-seen time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import add

from lmgate.stats.histogram import bucket

DIMENSIONS = ("key_id", "owner", "provider", "model")
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
SUMS = ("requests", *TOKEN_FIELDS, "cost_e10", "errors")
HOUR = 3600
COST_UNIT = 10**10  # cost is stored in 1e-10 USD
MAX_COUNT = 2**48  # a larger token count is garbage, and sums must stay within SQLite's int64
MAX_NAME = 200  # longer names (a client's model string) are cut: they only label rows
RECENT_MAX = 10_000  # recent errors kept (the refusals page's "latest refusals")

# The counts' series, stored as small ints. Durations are labelled by histogram bucket, the others by name.
DURATION_SERIES = {"latency": "latency_ms", "ttfb": "ttfb_ms", "gateway": "gateway_ms"}
SERIES = {"latency": 1, "ttfb": 2, "gateway": 3, "error": 4, "dlp": 5}
NAMED_SERIES = frozenset(("error", "dlp"))

# (hour start, key_id, owner, provider, model)
UsageKey = tuple[int, str, str, str, str]
# (hour start, key_id, owner, provider, model, series id, label: a bucket index or a name)
CountKey = tuple[int, str, str, str, str, int, int | str]
# (epoch seconds, request_id, key_id, owner, provider, model, status, error_type)
Recent = tuple[float, str, str, str, str, str, int, str]


class Malformed(ValueError):
    """A stats line the rollups cannot count (bad ts, a count that is no count...)."""


@dataclass(slots=True)
class Batch:
    """What a batch of lines adds, summed in memory so a batch is one upsert per distinct row."""

    usage: dict[UsageKey, list[int]] = field(default_factory=dict)
    counts: dict[CountKey, int] = field(default_factory=dict)
    recent: deque[Recent] = field(default_factory=lambda: deque(maxlen=RECENT_MAX))
    seen: dict[str, float] = field(default_factory=dict)  # key_id -> latest epoch seconds
    lines: int = 0

    def add(self, record: object) -> None:
        """Add one stats line; Malformed (and nothing added) when it cannot be counted."""
        if not isinstance(record, dict):
            raise Malformed("not a JSON object")
        when, key, sums = _usage(record)
        counts = _counts(record, key)
        recent = None if record.get("error_type") is None else _recent(record, when, key)
        # all checks passed: add
        self.lines += 1
        usage = self.usage
        row = usage.get(key)
        usage[key] = sums if row is None else list(map(add, row, sums))  # map: C, not a zip per line
        mine = self.counts
        for ck, n in counts.items():
            mine[ck] = mine.get(ck, 0) + n
        if recent is not None:
            self.recent.append(recent)
        if key[1]:
            last = self.seen.get(key[1])
            if last is None or when > last:
                self.seen[key[1]] = when

    def names(self) -> set[str]:
        """Every name the batch's rows hold (dimensions and named labels)."""
        out = {n for k in self.usage for n in k[1:]}
        out |= {n for k in self.counts for n in k[1:5]}
        out |= {k[6] for k in self.counts if isinstance(k[6], str)}
        for r in self.recent:
            out.update((r[2], r[3], r[4], r[5], r[7]))
        out.update(self.seen)
        return out


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


def _usage(record: dict) -> tuple[float, UsageKey, list[int]]:
    """The line's time, its hour row's key and its sums."""
    get = record.get
    epoch = _epoch(get("ts"))
    cost = get("cost_usd")
    if cost is None:
        cost_e10 = 0
    elif type(cost) not in (int, float) or not 0 <= cost < 1e8:
        raise Malformed(f"cost_usd is not an amount: {cost!r}")
    else:
        cost_e10 = round(cost * COST_UNIT)
    # Loops written out (no helper call per field): this runs once per request the gateway serves.
    key: list = [int(epoch) // HOUR * HOUR]
    for d in DIMENSIONS:
        value = get(d)
        key.append(value[:MAX_NAME] if type(value) is str else _name(value, d))
    sums = [1]
    for f in TOKEN_FIELDS:
        value = get(f)
        sums.append(value if type(value) is int and 0 <= value < MAX_COUNT else _count(value, f))
    sums += (cost_e10, 0 if get("error_type") is None else 1)
    return epoch, tuple(key), sums  # type: ignore[return-value]


def _epoch(ts: object) -> float:
    """A line's ts as epoch seconds (a naive one is UTC)."""
    if type(ts) is not str:
        raise Malformed("no ts")
    try:
        when = datetime.fromisoformat(ts)
    except ValueError:
        raise Malformed(f"ts is not ISO-8601: {ts!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _counts(record: dict, key: UsageKey) -> dict[CountKey, int]:
    """The line's counts: one per duration it has, its error_type, and its DLP findings per entity."""
    out: dict[CountKey, int] = {}
    get = record.get
    for name, series in _DURATIONS:
        value = get(name)
        if value is None:
            continue
        if type(value) not in (int, float) or not 0 <= value < 1e12:
            raise Malformed(f"{name} is not a duration: {value!r}")
        b = _BUCKETS.get(value)
        out[(*key, series, _bucket(value) if b is None else b)] = 1
    error = get("error_type")
    if error is not None:
        error = _name(error, "error_type")
        if error:
            out[(*key, SERIES["error"], error)] = 1
    dlp = get("dlp")
    if dlp is not None:
        findings = dlp.get("findings") if isinstance(dlp, dict) else None
        if not isinstance(dlp, dict) or not isinstance(findings, dict | None):
            raise Malformed(f"dlp is not a DLP summary: {str(dlp)[:80]!r}")
        for entity, n in (findings or {}).items():
            if n := _count(n, "dlp findings"):
                out[(*key, SERIES["dlp"], _name(entity, "dlp entity") or "?")] = n
    return out


#: duration -> its bucket: nginx's times are whole ms, so the same values recur (a lookup is 5x cheaper)
_BUCKETS: dict[float, int] = {}


def _bucket(ms: float) -> int:
    if len(_BUCKETS) >= 16_384:  # ~1 MB; whole ms up to 16 s
        _BUCKETS.clear()
    b = _BUCKETS[ms] = bucket(ms)
    return b


#: (field, series id) of the durations, in DURATION_SERIES order
_DURATIONS = tuple((name, SERIES[series]) for series, name in DURATION_SERIES.items())


def _recent(record: dict, when: float, key: UsageKey) -> Recent | None:
    error = record.get("error_type")
    if error is None:
        return None
    status = record.get("status")
    if type(status) is not int:
        status = 0
    return (when, _name(record.get("request_id"), "request_id"), *key[1:], status, _name(error, "error_type"))
