"""The policy engine of /auth: models → budget → max_parallel → rpm → tpm, then usage from stats lines.

``precheck`` runs the pure rules; ``decide`` asks the store to judge and commit
every counted rule in one atomic call, so a refused request consumes nothing
(/auth makes every other judgement before it). A key and owner without limits
never reach the store. After the response the stats path calls ``record_usage``
with the decision's ``lease_id`` (carried in the handoff), which also frees the
max_parallel slot and settles the budget hold (``budget_mode: reserve``: the
most the request can cost, ``facts.reserve_usd``, held from decide to its stats
line); ``undo`` takes back a decision nginx did not act on.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import NamedTuple

from lmgate.config import PolicyConfig
from lmgate.errors import GateError, PolicyStoreUnavailable
from lmgate.lograte import RateLimitedLog
from lmgate.policies.base import Decision, Policy, RequestFacts
from lmgate.policies.limits import NO_LIMITS, Limits, limits_from_owner
from lmgate.policies.registry import POLICIES
from lmgate.store.base import Check, Outcome, Store, StoreUnavailable, Usage, key_scope, owner_scope
from lmgate.store.periods import Period, period_of

log = logging.getLogger("lmgate.policies")

# seed_spend(since_epoch, key_id=None, owner=None) -> USD spent since then (from the stats rollups)
SeedSpend = Callable[..., float | Awaitable[float]]

PLAN_CACHE_SIZE = 100_000
ALLOWED = Decision(True)
SEED_GRACE = 5.0  # seconds a finished seed stays shared


class UsageUpdate(NamedTuple):
    """What a finished request tells the policy store: tokens (tpm), cost (budgets), its lease (max_parallel)."""

    key_id: str
    owner: str | None
    tokens: int | None
    cost_usd: float | None
    at: float
    lease: str | None


def make_store(config: PolicyConfig) -> Store:
    if config.store == "memory":
        from lmgate.store.memory import MemoryStore

        return MemoryStore()
    from lmgate.store.redis import RedisStore  # redis-py is only imported when configured

    return RedisStore.from_url(config.store, timeout=config.store_timeout)


class PolicyEngine:
    def __init__(self, config: PolicyConfig, store: Store, seed_spend: SeedSpend | None = None) -> None:
        self.store = store
        self._owners = {name: limits_from_owner(o) for name, o in config.owners.items()}
        self._fail_open = config.on_store_error == "open"
        self._lease_ttl = config.lease_ttl
        self._reserve = config.budget_mode == "reserve"
        self._seed_spend = seed_spend
        # Lease ids: unique across instances sharing Redis, cheap to make.
        self._lease_prefix = secrets.token_hex(6) + "."
        self._lease_seq = itertools.count(1)
        self._plans: dict[tuple[str, str], tuple[Limits, Limits, tuple[Check, ...]]] = {}
        self._seeding: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._store_errors = RateLimitedLog(log)
        # The order rules are judged in (policies/registry.py): prechecks need no store; counted rules go to
        # the store in one call. Read once: config.policies.extra has added its policies by now.
        self._prechecks = tuple(p for p in POLICIES if type(p).precheck is not Policy.precheck)
        self._counted = tuple(p for p in POLICIES if type(p).checks is not Policy.checks)
        self._rule_policy = {rule: p for p in POLICIES for rule in p.rules}

    @classmethod
    def from_config(cls, config: PolicyConfig, seed_spend: SeedSpend | None = None) -> PolicyEngine:
        return cls(config, make_store(config), seed_spend)

    def owner_limits(self, owner: str | None) -> Limits:
        return self._owners.get(owner, NO_LIMITS) if owner is not None else NO_LIMITS

    @property
    def owners(self) -> Mapping[str, Limits]:
        """Every owner the config gives limits (read by policies/headroom.py)."""
        return self._owners

    def reserves(self, facts: RequestFacts) -> bool:
        """Whether ``decide`` should hold what this request can cost: budget_mode reserve and a budget on
        its key or owner (only then is the amount worth computing)."""
        k, o = facts.key_limits, facts.owner_limits
        if not self._reserve or (k.stateless and o.stateless):  # no counted setting, so no budget: asked per request
            return False
        return k.budget_usd is not None or o.budget_usd is not None

    def precheck(self, facts: RequestFacts) -> GateError | None:
        """The rules that need no store (model rules): a refusal, or None. Commits nothing."""
        if not (facts.key_limits.needs_precheck or facts.owner_limits.needs_precheck):
            return None
        for policy in self._prechecks:
            verdict = policy.precheck(facts)
            if verdict is not None:
                return verdict
        return None

    async def decide(self, facts: RequestFacts, prechecked: bool = False) -> Decision:
        """Every rule (the counted ones only if ``prechecked``: the caller ran ``precheck`` already).

        An allowed decision with a ``lease_id`` has committed its counts (a max_parallel slot, rpm
        hits): report the request's usage with the lease once it is done, or ``undo`` it if the
        request is not forwarded after all.
        """
        k, o = facts.key_limits, facts.owner_limits
        if k.unlimited and o.unlimited:
            return ALLOWED
        if not prechecked:
            verdict = self.precheck(facts)
            if verdict is not None:
                return Decision(False, verdict)
        if k.stateless and o.stateless:
            return ALLOWED
        checks = self._plan(facts)
        lease_id = f"{self._lease_prefix}{next(self._lease_seq)}"
        try:
            outcome = await self.store.acquire(checks, facts.now, lease_id, self._lease_ttl, facts.reserve_usd)
            if outcome.seed:
                outcome = await self._seed_and_retry(checks, outcome, facts, lease_id)
        except StoreUnavailable as e:
            self._store_failed(e, "decide")
            if self._fail_open:
                return Decision(True, None, lease_id)  # still report usage: the store may be back by then
            return Decision(False, _unavailable())
        if outcome.denied is None:
            return Decision(True, None, lease_id)
        check = checks[outcome.denied]
        return Decision(False, self._rule_policy[check.rule].verdict(facts, check, outcome))

    def _plan(self, facts: RequestFacts) -> tuple[Check, ...]:
        """The checks for this key and owner, in rule order; cached while their Limits objects stay the same."""
        ident = (facts.key_id, facts.owner)
        hit = self._plans.get(ident)
        if hit is not None and hit[0] is facts.key_limits and hit[1] is facts.owner_limits:
            return hit[2]
        checks = tuple(c for policy in self._counted for c in policy.checks(facts))
        if len(self._plans) >= PLAN_CACHE_SIZE:  # keys come and go with allow-list edits
            self._plans.clear()
        self._plans[ident] = (facts.key_limits, facts.owner_limits, checks)
        return checks

    async def record_usage(
        self,
        key_id: str,
        owner: str | None,
        tokens: int | None,
        cost_usd: float | None,
        at: float | None = None,
        lease_id: str | None = None,
    ) -> None:
        """A finished request's tokens and cost; frees its max_parallel slot. Never raises on store errors."""
        await self.record_usages(
            (UsageUpdate(key_id, owner, tokens, cost_usd, time.time() if at is None else at, lease_id),)
        )

    async def record_usages(self, updates: Sequence[UsageUpdate]) -> None:
        """``record_usage`` of each, in order, in one store call (a pass over the stats spool: one coroutine and
        a few Redis round trips, not one of each per line). Never raises on store errors."""
        scopes: dict[tuple[str, str | None], Sequence[str]] = {}  # a pass's lines come from few keys
        usages = []
        for key_id, owner, tokens, cost_usd, at, lease_id in updates:
            ident = (key_id, owner)
            s = scopes.get(ident)
            if s is None:
                s = scopes[ident] = self._scopes(key_id, owner)
            usages.append(Usage(s, tokens or 0, cost_usd or 0.0, at, lease_id))
        try:
            await self.store.record_many(usages)
        except StoreUnavailable as e:
            self._store_failed(e, "record_usage", len(usages))  # counted per request, as the metric is

    async def release(self, lease_id: str, key_id: str, owner: str | None) -> None:
        """Free a max_parallel slot (and a budget hold) without reporting usage."""
        try:
            await self.store.release(self._scopes(key_id, owner), lease_id)
        except StoreUnavailable as e:
            self._store_failed(e, "release")

    async def undo(self, facts: RequestFacts, decision: Decision) -> None:
        """Take back what ``decide`` committed for a request nginx did not forward after all (it stopped
        waiting for the answer): its max_parallel slot, its rpm hits and its budget hold. Never raises on
        store errors."""
        if decision.lease_id is None:
            return
        try:
            await self.store.undo(self._plan(facts), facts.now, decision.lease_id)
        except StoreUnavailable as e:
            self._store_failed(e, "undo")

    async def close(self) -> None:
        await self.store.close()

    def _scopes(self, key_id: str, owner: str | None) -> Sequence[str]:
        # The key's limits are not known here (they live in the allow-list), so its scope always counts;
        # an owner's only when the config limits it.
        if owner is not None and not self.owner_limits(owner).stateless:
            return (key_scope(key_id), owner_scope(owner))
        return (key_scope(key_id),)

    async def _seed_and_retry(
        self, checks: Sequence[Check], outcome: Outcome, facts: RequestFacts, lease_id: str
    ) -> Outcome:
        now = facts.now
        for _ in range(3):  # cold spend counters: seed, then ask again (a counter can expire in between)
            for i in outcome.seed:
                await self._seed(checks[i], now)
            outcome = await self.store.acquire(checks, now, lease_id, self._lease_ttl, facts.reserve_usd)
            if not outcome.seed:
                return outcome
        raise StoreUnavailable("spend counters stayed cold after seeding")

    async def _seed(self, check: Check, now: float) -> None:
        assert check.period is not None
        period = period_of(check.period, now)
        ident = (check.scope, period.id)
        task = self._seeding.get(ident)
        if task is None:  # one rollups query per cold counter, however many requests wait for it
            task = self._seeding[ident] = asyncio.ensure_future(self._load_seed(check.scope, period, now))
            task.add_done_callback(lambda t: self._seed_done(ident, t))
        await asyncio.shield(task)  # a cancelled request must not cancel the others' seed

    def _seed_done(self, ident: tuple[str, str], task: asyncio.Future[None]) -> None:
        if task.cancelled() or task.exception() is not None:  # retrieved here too: every waiter may have gone
            self._seeding.pop(ident, None)
            return
        # Kept a little longer: a request whose store call crossed the seed still sees the counter cold
        # and must not query the rollups again.
        asyncio.get_running_loop().call_later(SEED_GRACE, self._seeding.pop, ident, None)

    async def _load_seed(self, scope: str, period: Period, now: float) -> None:
        usd = 0.0
        if self._seed_spend is not None:
            kw = {"key_id": scope[2:]} if scope.startswith("k:") else {"owner": scope[2:]}
            try:
                if inspect.iscoroutinefunction(self._seed_spend):
                    usd = await self._seed_spend(period.start, **kw)
                else:  # SQLite: off the event loop
                    usd = await asyncio.to_thread(self._seed_spend, period.start, **kw)  # type: ignore[arg-type]
            except StoreUnavailable:  # the spend is not known yet (rollups being rebuilt): said without a traceback
                raise
            except Exception as e:
                log.exception("seed_spend(%s, %s) failed", period.start, kw)
                raise StoreUnavailable(f"seed_spend failed: {e}") from e
        await self.store.seed(scope, period, float(usd), now)

    def _store_failed(self, err: StoreUnavailable, what: str, count: int = 1) -> None:
        action = "allowing requests (on_store_error: open)" if self._fail_open else "refusing with 503"
        self._store_errors.event("policy store unavailable in %s: %s; %s", what, err, action, count=count)

    @property
    def store_errors(self) -> int:
        """Decisions and reports the store failed (a counter for metrics)."""
        return self._store_errors.total


def _unavailable() -> PolicyStoreUnavailable:
    """Built per refusal: an exception raised carries its traceback, so none is shared between requests."""
    return PolicyStoreUnavailable("lmgate: the gateway cannot check this key's limits right now; try again shortly")
