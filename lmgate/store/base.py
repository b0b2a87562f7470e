"""The counter store behind the policies: one atomic check-all-then-commit per decision.

A decision is a list of ``Check``s in the order the rules apply. The store
evaluates them in that order and, only if none fails, commits them all (a
parallel slot, an rpm hit), so a refused request consumes nothing. Doing the
whole list in one call is what makes it atomic across gateway instances
sharing Redis, and one round trip.

With ``budget_mode: reserve`` a decision also holds the most the request can
cost (``reserve_usd``) against each budget it is judged by, under its lease id:
a budget refuses when its spend, the money held by requests in flight and this
request's hold would pass it. The stats line settles the hold (``record``: the
real cost into spend, the hold freed, in one step); ``release`` and ``undo``
free it; it expires with the lease (``lease_ttl``) when no line comes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from lmgate.store.periods import Period, PeriodKind

# Rules a store counts, in the order they are judged.
BUDGET, PARALLEL, RPM, TPM = "budget", "parallel", "rpm", "tpm"
WINDOW = 60.0  # seconds of the rpm and tpm windows
# USD: a hold fits a budget up to this much over it, so float sums of holds (0.1 + 0.2 ...) that equal the
# budget on paper do not refuse; costs are rounded to 1e-10 USD (pricing.cost_usd).
FIT_TOLERANCE = 1e-9


class StoreUnavailable(Exception):
    """The store could not answer (Redis down, timed out, or spend could not be seeded)."""


@dataclass(frozen=True, slots=True)
class Check:
    rule: str  # BUDGET | PARALLEL | RPM | TPM
    scope: str  # "k:<key id>" or "o:<owner>"
    limit: float
    period: PeriodKind | None = None  # BUDGET only


@dataclass(frozen=True, slots=True)
class Outcome:
    seed: tuple[int, ...] = ()  # indexes of BUDGET checks whose spend counter is cold: seed, then ask again
    denied: int | None = None  # index of the first check that failed; None: all passed and committed
    value: float = 0.0  # the failed check's current value: spend, in flight, requests or tokens in the window
    reset_at: float | None = None  # RPM/TPM: epoch seconds when the next request would pass
    reserved: float = 0.0  # BUDGET: USD held by requests in flight (budget_mode reserve)


PASSED = Outcome()


@dataclass(frozen=True, slots=True)
class ScopeUse:
    """What a scope has used right now, read without counting anything (metrics, budget alerts)."""

    requests: int = 0  # admitted in the rpm window
    tokens: int = 0  # in the tpm window
    in_flight: int = 0  # max_parallel leases held
    spend: dict[str, float] | None = None  # period id -> USD, warm counters only (a cold one: ask the rollups)
    reserved: float = 0.0  # USD held by requests in flight (budget_mode reserve), not spent yet


class Usage(NamedTuple):
    """A finished request, for ``record_many``: the arguments of ``record``."""

    scopes: Sequence[str]
    tokens: int
    cost_usd: float
    at: float
    lease_id: str | None


def key_scope(key_id: str) -> str:
    return "k:" + key_id


def owner_scope(owner: str) -> str:
    return "o:" + owner


def tpm_first_bucket(now: float) -> int:
    """Tokens go in 1-second buckets (bounded memory); a bucket counts until its end is WINDOW old."""
    return math.floor(now - WINDOW - 1) + 1


class Store(Protocol):
    async def acquire(
        self, checks: Sequence[Check], now: float, lease_id: str, lease_ttl: float, reserve_usd: float = 0.0
    ) -> Outcome:
        """Judge ``checks`` in order; if all pass, take the parallel slots and count the rpm hits under ``lease_id``.

        A budget passes while spend + held + ``reserve_usd`` stays within its limit (and spend + held is under
        it); if all pass, ``reserve_usd`` (when > 0) is held against each budget's scope under ``lease_id``
        until ``record``, ``release`` or ``undo`` of that lease, or ``lease_ttl``.
        """
        ...

    async def seed(self, scope: str, period: Period, usd: float, now: float) -> None:
        """Create a cold spend counter with ``usd``; a counter that exists meanwhile is kept."""
        ...

    async def record(
        self, scopes: Sequence[str], tokens: int, cost_usd: float, at: float, lease_id: str | None
    ) -> None:
        """A finished request: tokens into the tpm window, cost into warm spend counters, its slots and
        its budget hold freed (the hold is settled by the cost, in the same atomic step)."""
        ...

    async def record_many(self, usages: Sequence[Usage]) -> None:
        """``record`` of each, in order, in one call (a pass over the stats spool): the same counts. Raises
        ``StoreUnavailable`` if any may be missing (Redis: each few hundred are one atomic script call)."""
        ...

    async def release(self, scopes: Sequence[str], lease_id: str) -> None:
        """Free the lease's parallel slots and budget holds in ``scopes``, recording nothing."""
        ...

    async def usage(self, scopes: Sequence[str], now: float) -> dict[str, ScopeUse]:
        """Read-only: the window counts, leases and warm spend of the current periods, per scope."""
        ...

    async def undo(self, checks: Sequence[Check], now: float, lease_id: str) -> None:
        """Take back what ``acquire(checks, now, lease_id, ...)`` committed: its parallel slots, rpm hits and
        budget holds.

        For a request that was not forwarded after all; called within seconds of the acquire (a hit
        older than the rpm window is gone already).
        """
        ...

    async def close(self) -> None: ...
