"""What every limited key and owner has used of its limits right now: budgets, rpm, tpm, max_parallel.

Read for the metrics' gauges and the budget alerts, never on the request path:
one read-only store call for all limited scopes (``Store.usage``), and for a
budget whose counter is cold (no request since start in this period) the
spend the engine would seed it with, from the stats rollups. Snapshots are
cached for ``ttl`` seconds, so several scrapers and the alerts share one read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from lmgate.lograte import RateLimitedLog
from lmgate.policies.limits import Limits
from lmgate.store.base import ScopeUse, Store, StoreUnavailable, key_scope, owner_scope
from lmgate.store.periods import Period, PeriodKind, period_of

log = logging.getLogger("lmgate.policies")
_ROLLUPS_FAILED = RateLimitedLog(log, logging.WARNING, interval=60.0)

KEY, OWNER = "key", "owner"
BUDGET, RPM, TPM, MAX_PARALLEL = "budget", "rpm", "tpm", "max_parallel"

# spend_by(since, group) -> {name: USD} for every key_id (group "key_id") or owner (group "owner") since then
SpendBy = Callable[[float, str], Mapping[str, float]]


@dataclass(frozen=True, slots=True)
class LimitUse:
    """One limit of one key or owner and how much of it is used."""

    scope: str  # KEY or OWNER
    key_id: str  # "" for an owner's limit
    owner: str
    rule: str  # BUDGET, RPM, TPM or MAX_PARALLEL
    limit: float
    used: float  # USD this period, requests or tokens in the last 60 s, requests in flight
    period: Period | None = None  # budgets: the current day, month or "total"
    reserved: float = 0.0  # budgets: USD held by requests in flight (budget_mode reserve), not in ``used``


@dataclass(frozen=True, slots=True)
class Limited:
    """A key or owner with limits: who, and which limits."""

    scope: str
    key_id: str
    owner: str
    limits: Limits

    @property
    def store_scope(self) -> str:
        return key_scope(self.key_id) if self.scope == KEY else owner_scope(self.owner)


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: float
    uses: tuple[LimitUse, ...]
    error: str | None = None  # the store could not be read: uses lack its counters


class Headroom:
    def __init__(
        self, store: Store, limited: Callable[[], Iterable[Limited]], spend_by: SpendBy, ttl: float = 2.0
    ) -> None:
        self._store, self._limited, self._spend_by, self._ttl = store, limited, spend_by, ttl
        self._last: Snapshot | None = None
        self._lock = asyncio.Lock()
        self.read_errors = 0  # reads the store or the rollups could not answer

    async def snapshot(self) -> Snapshot:
        """The current uses, read again when the last read is older than ``ttl``."""
        async with self._lock:  # concurrent callers share one read
            now = time.time()
            if self._last is None or now - self._last.at >= self._ttl:
                self._last = await self._read(now)
            return self._last

    async def _read(self, now: float) -> Snapshot:
        limited = list(self._limited())
        error = None
        try:
            used = await self._store.usage([x.store_scope for x in limited], now)
        except StoreUnavailable as e:
            used, error = {}, str(e)
            self.read_errors += 1
        cold: dict[tuple[PeriodKind, str], dict[str, float]] = {}
        uses: list[LimitUse] = []
        for x in limited:
            u = used.get(x.store_scope, ScopeUse())
            lim = x.limits
            if lim.budget_usd is not None:
                period = period_of(lim.budget_period, now)
                spend = (u.spend or {}).get(period.id)
                if spend is None:  # cold: what the engine would seed the counter with
                    group = "key_id" if x.scope == KEY else "owner"
                    sums = cold.get((lim.budget_period, group))
                    if sums is None:
                        sums = cold[(lim.budget_period, group)] = await self._cold_spend(period.start, group)
                    spend = sums.get(x.key_id if x.scope == KEY else x.owner, 0.0)
                uses.append(LimitUse(x.scope, x.key_id, x.owner, BUDGET, lim.budget_usd, spend, period, u.reserved))
            for rule, limit, value in ((RPM, lim.rpm, u.requests), (TPM, lim.tpm, u.tokens)):
                if limit is not None:
                    uses.append(LimitUse(x.scope, x.key_id, x.owner, rule, limit, value))
            if lim.max_parallel is not None:
                uses.append(LimitUse(x.scope, x.key_id, x.owner, MAX_PARALLEL, lim.max_parallel, u.in_flight))
        return Snapshot(now, tuple(uses), error)

    async def _cold_spend(self, since: float, group: str) -> dict[str, float]:
        try:
            return dict(await asyncio.to_thread(self._spend_by, since, group))
        except Exception as e:  # the rollups: logged; the budget reads as unspent until they answer again
            self.read_errors += 1
            # once a minute, not a traceback per scrape: a shared store down for an hour is one story
            _ROLLUPS_FAILED.event("limits: reading spend by %s from the rollups failed: %r", group, e)
            return {}


def limited_scopes(keys: Iterable[tuple[str, str, Limits]], owners: Mapping[str, Limits]) -> list[Limited]:
    """The keys ``(id, owner, limits)`` and owners that have a counted limit (models alone need no counter)."""
    out = [Limited(KEY, key_id, owner, lim) for key_id, owner, lim in keys if not lim.stateless]
    out += [Limited(OWNER, "", owner, lim) for owner, lim in owners.items() if not lim.stateless]
    return out
