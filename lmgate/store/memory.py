"""Counters in this process's memory: for one sidecar process.

asyncio runs one coroutine at a time and ``acquire`` never awaits, so its
check-then-commit is atomic without locks. Memory stays bounded: windows are
pruned as they slide, and scopes idle for ``idle_ttl`` are dropped by a sweep.
Spend is not persisted here: a dropped or never-seen counter is cold, and the
engine seeds it from the stats rollups.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence

from lmgate.store.base import (
    BUDGET,
    FIT_TOLERANCE,
    PARALLEL,
    PASSED,
    RPM,
    WINDOW,
    Check,
    Outcome,
    ScopeUse,
    Usage,
    tpm_first_bucket,
)
from lmgate.store.periods import PERIOD_KINDS, Period, period_ids, period_of


class _TimeLog:
    """Admitted request times, oldest first (rpm's sliding log): a count per millisecond.

    Times are rounded up to the millisecond, so a hit stays in the window up to
    1 ms longer than its exact time, never shorter: no request gets past the
    limit early. At thousands of requests a second a key's 60 s log is ~60,000
    (millisecond, count) pairs, ~0.7 MB, where a float per request was ~3.4 MB
    and twice that before compaction (the benchmark's RSS soak showed it).
    Expired entries are skipped by an index and dropped in bulk.
    """

    __slots__ = ("counts", "head", "ms", "total")

    def __init__(self) -> None:
        self.ms = array("q")  # epoch milliseconds, rounded up, ascending
        self.counts = array("I")  # hits in that millisecond
        self.head = 0  # ms[:head] have expired
        self.total = 0  # hits in ms[head:]

    def __len__(self) -> int:
        return self.total

    def oldest(self) -> float:
        return self.ms[self.head] / 1000

    def append(self, at: float) -> None:
        ms = self.ms
        m = math.ceil(at * 1000)
        if len(ms) > self.head and ms[-1] >= m:  # same millisecond (or an earlier one: counted a bit longer)
            self.counts[-1] += 1
        else:
            ms.append(m)
            self.counts.append(1)
        self.total += 1

    def remove(self, at: float) -> None:
        """Take back one hit appended at ``at``: from its millisecond, or the later one it was counted in."""
        ms, counts = self.ms, self.counts
        i = bisect_left(ms, math.ceil(at * 1000), self.head)
        while i < len(ms) and counts[i] == 0:
            i += 1
        if i == len(ms):
            return
        counts[i] -= 1
        self.total -= 1
        while self.head < len(ms) and counts[self.head] == 0:  # the oldest counted hit sets the reset time
            self.head += 1

    def prune(self, cutoff: float) -> None:
        """Forget the times at or before ``cutoff`` (from the oldest on, as they were admitted)."""
        ms, counts, head, end = self.ms, self.counts, self.head, len(self.ms)
        limit = cutoff * 1000
        while head < end and (ms[head] <= limit or counts[head] == 0):  # a hit taken back leaves a 0
            self.total -= counts[head]
            head += 1
        if head > 1024 and head * 2 > end:  # compact once the dead part is the larger half
            del ms[:head]
            del counts[:head]
            head = 0
        self.head = head


class _Scope:
    """Everything counted for one key or one owner."""

    __slots__ = ("buckets", "held", "hits", "holds", "leases", "seen", "spend", "tokens")

    def __init__(self) -> None:
        self.hits = _TimeLog()  # admitted request times, oldest first (rpm)
        self.buckets: deque[list[int]] = deque()  # [second, tokens], oldest first (tpm)
        self.tokens = 0  # sum over buckets
        self.leases: dict[str, float] = {}  # lease id -> expiry (max_parallel)
        self.spend: dict[str, list[float]] = {}  # period id -> [usd, period end]
        # budget holds (budget_mode reserve): lease id -> (usd, expiry), in the order taken, which is expiry
        # order (one lease_ttl per engine); held is their sum
        self.holds: dict[str, tuple[float, float]] = {}
        self.held = 0.0
        self.seen = 0.0

    def prune_hits(self, now: float) -> None:
        self.hits.prune(now - WINDOW)

    def prune_tokens(self, now: float) -> None:
        first, buckets = tpm_first_bucket(now), self.buckets
        while buckets and buckets[0][0] < first:
            self.tokens -= buckets.popleft()[1]

    def prune_leases(self, now: float) -> None:
        for lease in [lease for lease, expiry in self.leases.items() if expiry <= now]:
            del self.leases[lease]

    def prune_holds(self, now: float) -> None:
        """Drop the holds whose lease expired (no stats line came): from the oldest on."""
        holds = self.holds
        while holds:
            lease, (_, expiry) = next(iter(holds.items()))
            if expiry > now:
                break
            self.free_hold(lease)

    def free_hold(self, lease: str) -> None:
        hold = self.holds.pop(lease, None)
        if hold is not None:
            # the sum starts again from 0 when nothing is held, so float rounding cannot pile up
            self.held = self.held - hold[0] if self.holds else 0.0


class MemoryStore:
    def __init__(self, idle_ttl: float = 3600.0, sweep_interval: float = 60.0) -> None:
        self._scopes: dict[str, _Scope] = {}
        self._idle_ttl = idle_ttl
        self._sweep_interval = sweep_interval
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self._scopes)

    def _scope(self, name: str) -> _Scope:
        s = self._scopes.get(name)
        if s is None:
            s = self._scopes[name] = _Scope()
        return s

    async def acquire(
        self, checks: Sequence[Check], now: float, lease_id: str, lease_ttl: float, reserve_usd: float = 0.0
    ) -> Outcome:
        # No await in here: this is the atomic section.
        if now >= self._next_sweep:
            self._sweep(now)
        scopes = self._scopes
        cold: list[int] = []
        for i, c in enumerate(checks):
            s = scopes.get(c.scope)
            if s is None:
                s = scopes[c.scope] = _Scope()
            s.seen = now
            rule = c.rule
            if rule == BUDGET:
                counter = s.spend.get(period_of(c.period, now).id)  # type: ignore[arg-type]  # set for BUDGET
                if counter is None:
                    cold.append(i)
                elif not cold:
                    total = counter[0] + s.held
                    if total >= c.limit or total + reserve_usd > c.limit + FIT_TOLERANCE:
                        if s.holds:  # only worth scanning when it would refuse
                            s.prune_holds(now)
                            total = counter[0] + s.held
                        if total >= c.limit or total + reserve_usd > c.limit + FIT_TOLERANCE:
                            return Outcome(denied=i, value=counter[0], reserved=s.held)
                continue
            if cold:  # budgets come first; judge nothing else on an unknown spend
                break
            if rule == PARALLEL:
                if len(s.leases) >= c.limit:
                    s.prune_leases(now)  # only worth scanning when at the limit
                    if len(s.leases) >= c.limit:
                        return Outcome(denied=i, value=len(s.leases))
            elif rule == RPM:
                hits = s.hits
                if hits and hits.oldest() <= now - WINDOW:
                    s.prune_hits(now)
                if len(hits) >= c.limit:
                    return Outcome(denied=i, value=len(hits), reset_at=hits.oldest() + WINDOW)
            else:  # TPM
                if s.buckets:
                    s.prune_tokens(now)
                if s.tokens >= c.limit:
                    return Outcome(denied=i, value=s.tokens, reset_at=_tokens_reset(s, c.limit))
        if cold:
            return Outcome(seed=tuple(cold))
        for c in checks:
            if c.rule == PARALLEL:
                scopes[c.scope].leases[lease_id] = now + lease_ttl
            elif c.rule == RPM:
                scopes[c.scope].hits.append(now)
            elif c.rule == BUDGET and reserve_usd > 0:
                s = scopes[c.scope]
                if lease_id not in s.holds:
                    s.holds[lease_id] = (reserve_usd, now + lease_ttl)
                    s.held += reserve_usd
        return PASSED

    async def seed(self, scope: str, period: Period, usd: float, now: float) -> None:
        s = self._scope(scope)
        s.seen = max(s.seen, now)  # a seeded scope is in use: not for the idle sweep
        s.spend.setdefault(period.id, [usd, period.end])

    async def record(
        self, scopes: Sequence[str], tokens: int, cost_usd: float, at: float, lease_id: str | None
    ) -> None:
        self._record(scopes, tokens, cost_usd, at, lease_id)

    async def record_many(self, usages: Sequence[Usage]) -> None:
        # one coroutine per pass over the spool, not one per line
        record = self._record
        for u in usages:
            record(*u)

    def _record(self, scopes: Sequence[str], tokens: int, cost_usd: float, at: float, lease_id: str | None) -> None:
        ids = period_ids(at) if cost_usd else ()
        second = int(at // 1)
        for name in scopes:
            s = self._scope(name)
            s.seen = max(s.seen, at)
            if lease_id is not None:
                s.leases.pop(lease_id, None)
                if s.holds:
                    s.free_hold(lease_id)  # settled: the cost goes into spend below, in the same step
            for pid in ids:  # only warm counters: a cold one is seeded later from rollups that include this
                counter = s.spend.get(pid)
                if counter is not None:
                    counter[0] += cost_usd
            if tokens > 0:
                s.prune_tokens(at)
                # Reports arrive roughly in time order; a late one joins the newest bucket (counted a bit longer).
                if s.buckets and s.buckets[-1][0] >= second:
                    s.buckets[-1][1] += tokens
                else:
                    s.buckets.append([second, tokens])
                s.tokens += tokens

    async def release(self, scopes: Sequence[str], lease_id: str) -> None:
        for name in scopes:
            s = self._scopes.get(name)
            if s is not None:
                s.leases.pop(lease_id, None)
                s.free_hold(lease_id)

    async def usage(self, scopes: Sequence[str], now: float) -> dict[str, ScopeUse]:
        ids = [period_of(kind, now).id for kind in PERIOD_KINDS]
        out = {}
        for name in scopes:
            s = self._scopes.get(name)
            if s is None:
                out[name] = ScopeUse(spend={})
                continue
            s.prune_hits(now)  # what acquire would drop anyway: no count changes meaning
            s.prune_tokens(now)
            s.prune_leases(now)
            s.prune_holds(now)
            spend = {pid: s.spend[pid][0] for pid in ids if pid in s.spend}
            out[name] = ScopeUse(len(s.hits), s.tokens, len(s.leases), spend, s.held)
        return out

    async def undo(self, checks: Sequence[Check], now: float, lease_id: str) -> None:
        for c in checks:
            s = self._scopes.get(c.scope)
            if s is None:
                continue
            if c.rule == PARALLEL:
                s.leases.pop(lease_id, None)
            elif c.rule == RPM:
                s.hits.remove(now)
            elif c.rule == BUDGET:
                s.free_hold(lease_id)

    async def close(self) -> None:
        self._scopes.clear()

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self._sweep_interval
        idle_before = now - self._idle_ttl
        for name, s in list(self._scopes.items()):
            s.prune_hits(now)
            s.prune_tokens(now)
            s.prune_leases(now)
            s.prune_holds(now)
            for pid in [pid for pid, (_, end) in s.spend.items() if end <= now]:
                del s.spend[pid]
            if s.seen < idle_before and not (s.hits or s.buckets or s.leases or s.holds):
                del self._scopes[name]


def _tokens_reset(s: _Scope, limit: float) -> float:
    """When enough buckets have left the window for the sum to drop under ``limit``."""
    left = s.tokens
    for second, n in s.buckets:
        left -= n
        if left < limit:
            return second + 1 + WINDOW
    return s.buckets[-1][0] + 1 + WINDOW  # unreachable: the sum of all buckets is s.tokens
