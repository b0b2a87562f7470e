"""Families read at scrape time from what the sidecar already counts: the stats pipeline, the allow-list,
the policy store, the alerts, budgets and rate-limit headroom. Nothing here runs on the request path."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterator, Mapping, Sized
from dataclasses import dataclass
from importlib import metadata
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from lmgate.metrics import families as f
from lmgate.policies.headroom import BUDGET, Snapshot


class _Writer(Protocol):
    written: int
    dropped: int
    write_errors: int

    @property
    def pending(self) -> int: ...


class _Spool(Protocol):
    bad_lines: int


class _Intake(Protocol):
    spool: _Spool

    def lag(self, now: float) -> float: ...


class _AllowList(Protocol):
    current: Sized
    reloads: int
    errors: int
    loaded_at: float


class _Rollups(Protocol):
    @property
    def up(self) -> bool: ...  # a shared store that answers (a file: always)

    @property
    def pending_lines(self) -> int: ...

    @property
    def rebuilding(self) -> bool: ...

    @property
    def progress(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Sources:
    """Where the health families read their numbers (the gateway's parts, through narrow views)."""

    writer: _Writer
    intake: _Intake
    allowlist: _AllowList
    store_errors: Callable[[], Mapping[str, int]]  # source -> failed store calls
    alerts: Callable[[], Mapping[tuple[str, str], int]]  # (kind, result) -> notifications
    rollups: _Rollups


class HealthCollector:
    def __init__(self, sources: Sources) -> None:
        self.s = sources
        self._build = (_version(), platform.python_version())

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        s, now = self.s, time.time()
        yield _gauge(f.SPOOL_LAG, s.intake.lag(now))
        yield _counter(f.LINES_WRITTEN, s.writer.written)
        yield _gauge(f.LINES_BUFFERED, s.writer.pending)
        yield _gauge(f.ROLLUPS_STORE_UP, 1 if s.rollups.up else 0)
        yield _gauge(f.ROLLUPS_PENDING, s.rollups.pending_lines)
        yield _counter(f.LINES_DROPPED, s.writer.dropped)
        yield _counter(f.WRITE_ERRORS, s.writer.write_errors)
        yield _counter(f.SPOOL_BAD_LINES, s.intake.spool.bad_lines)
        yield _gauge(f.ROLLUPS_REBUILDING, int(s.rollups.rebuilding))
        yield _gauge(f.ROLLUPS_PROGRESS, s.rollups.progress)
        yield _gauge(f.ALLOWLIST_KEYS, len(s.allowlist.current))
        reloads = CounterMetricFamily(f.ALLOWLIST_RELOADS.name, f.ALLOWLIST_RELOADS.help, labels=("result",))
        reloads.add_metric(("ok",), s.allowlist.reloads)
        reloads.add_metric(("rejected",), s.allowlist.errors)
        yield reloads
        yield _gauge(f.ALLOWLIST_LOADED, s.allowlist.loaded_at)
        store = CounterMetricFamily(f.STORE_ERRORS.name, f.STORE_ERRORS.help, labels=f.STORE_ERRORS.labels)
        for source, n in s.store_errors().items():
            store.add_metric((source,), n)
        yield store
        alerts = CounterMetricFamily(f.ALERTS.name, f.ALERTS.help, labels=f.ALERTS.labels)
        for labels, n in s.alerts().items():
            alerts.add_metric(labels, n)
        yield alerts
        info = InfoMetricFamily(f.BUILD.name, f.BUILD.help)
        info.add_metric((), dict(zip(f.BUILD.labels, self._build, strict=True)))
        yield info


class LimitsCollector:
    """Budgets and rate-limit headroom from the latest ``Headroom`` snapshot (the scrape handler reads one first)."""

    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        spend = GaugeMetricFamily(f.BUDGET_SPEND.name, f.BUDGET_SPEND.help, labels=f.BUDGET_SPEND.labels)
        reserved = GaugeMetricFamily(f.BUDGET_RESERVED.name, f.BUDGET_RESERVED.help, labels=f.BUDGET_RESERVED.labels)
        budget = GaugeMetricFamily(f.BUDGET_LIMIT.name, f.BUDGET_LIMIT.help, labels=f.BUDGET_LIMIT.labels)
        limit = GaugeMetricFamily(f.RATE_LIMIT.name, f.RATE_LIMIT.help, labels=f.RATE_LIMIT.labels)
        remaining = GaugeMetricFamily(f.RATE_REMAINING.name, f.RATE_REMAINING.help, labels=f.RATE_REMAINING.labels)
        for u in self.snapshot.uses if self.snapshot is not None else ():
            who = (u.scope, u.key_id, u.owner)
            if u.rule == BUDGET:
                period = u.period.kind if u.period is not None else ""
                spend.add_metric((*who, period), u.used)
                reserved.add_metric((*who, period), u.reserved)
                budget.add_metric((*who, period), u.limit)
            else:
                limit.add_metric((*who, u.rule), u.limit)
                remaining.add_metric((*who, u.rule), max(0.0, u.limit - u.used))
        yield from (spend, reserved, budget, limit, remaining)


def _gauge(family: f.Family, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(family.name, family.help, value=value)


def _counter(family: f.Family, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(family.name, family.help, value=value)


def _version() -> str:
    try:
        return metadata.version("lmgate")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "unknown"
