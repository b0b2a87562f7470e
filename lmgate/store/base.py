"""The counter store behind the policies: one atomic check-all-then-commit per decision.

A decision is a list of ``Check``s in the order the rules apply. The store
evaluates them in that order and, only if none fails, commits them all (a
parallel slot, an rpm hit), so a refused request consumes nothing. Doing the
whole list in one call is what makes it atomic across gateway instances
sharing Redis, and one round trip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from lmgate.store.periods import Period, PeriodKind

# Rules a store counts, in the order they are judged.
BUDGET, PARALLEL, RPM, TPM = "budget", "parallel", "rpm", "tpm"
WINDOW = 60.0  # seconds of the rpm and tpm windows


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


PASSED = Outcome()


@dataclass(frozen=True, slots=True)
class ScopeUse:
    """What a scope has used right now, read without counting anything (metrics, budget alerts)."""

    requests: int = 0  # admitted in the rpm window
    tokens: int = 0  # in the tpm window
    in_flight: int = 0  # max_parallel leases held
    spend: dict[str, float] | None = None  # period id -> USD, warm counters only (a cold one: ask the rollups)


def key_scope(key_id: str) -> str:
    return "k:" + key_id


def owner_scope(owner: str) -> str:
    return "o:" + owner


def tpm_first_bucket(now: float) -> int:
    """Tokens go in 1-second buckets (bounded memory); a bucket counts until its end is WINDOW old."""
    return math.floor(now - WINDOW - 1) + 1


class Store(Protocol):
    async def acquire(self, checks: Sequence[Check], now: float, lease_id: str, lease_ttl: float) -> Outcome:
        """Judge ``checks`` in order; if all pass, take the parallel slots and count the rpm hits under ``lease_id``."""
        ...

    async def seed(self, scope: str, period: Period, usd: float, now: float) -> None:
        """Create a cold spend counter with ``usd``; a counter that exists meanwhile is kept."""
        ...

    async def record(
        self, scopes: Sequence[str], tokens: int, cost_usd: float, at: float, lease_id: str | None
    ) -> None:
        """A finished request: tokens into the tpm window, cost into warm spend counters, its slots freed."""
        ...

    async def release(self, scopes: Sequence[str], lease_id: str) -> None: ...

    async def usage(self, scopes: Sequence[str], now: float) -> dict[str, ScopeUse]:
        """Read-only: the window counts, leases and warm spend of the current periods, per scope."""
        ...

    async def undo(self, checks: Sequence[Check], now: float, lease_id: str) -> None:
        """Take back what ``acquire(checks, now, lease_id, ...)`` committed: its parallel slots and rpm hits.

        For a request that was not forwarded after all; called within seconds of the acquire (a hit
        older than the rpm window is gone already).
        """
        ...

    async def close(self) -> None: ...
