"""What the policies decide on, what they answer, and the interface each policy module implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lmgate.errors import GateError
from lmgate.policies.limits import NO_LIMITS, Limits
from lmgate.policies.settings import Setting
from lmgate.store.base import Check, Outcome


# not frozen: made on every request (a frozen __init__ costs ~0.6 µs more), and /auth sets ``reserve_usd`` in
# place once the hold is priced, where dataclasses.replace cost ~1.8 µs; nothing else changes facts
@dataclass(slots=True)
class RequestFacts:
    key_id: str
    owner: str
    model: str | None  # None: the request names no model we could read
    provider: str
    now: float  # epoch seconds; injected so tests control the clock
    key_limits: Limits = NO_LIMITS
    owner_limits: Limits = NO_LIMITS
    request_id: str = ""
    read_only: bool = False  # GET/HEAD (model lists, files): no model to check, none will run
    # the most the request can cost (budget_mode reserve, policies/reservation.py), held against its budgets
    # until its stats line settles it; 0: nothing held
    reserve_usd: float = 0.0


@dataclass(slots=True)  # not frozen: made on every request, and a frozen __init__ costs more
class Decision:
    allowed: bool
    verdict: GateError | None = None  # the refusal when not allowed
    lease_id: str | None = None  # give it back via record_usage/release after the response; None: nothing to report


class Policy:
    """One rule, behind one interface; subclasses override what they judge. Pure parts only: counting is the
    store's, in one atomic call for all policies.

    ``settings`` declares what a key or owner may set (``policies/settings.py``), ``refusals`` the
    ``GateError`` classes it answers with (``lmgate/errors.py``), ``rules`` the store rules it phrases
    refusals for. ``precheck`` decides what needs no counter (model rules); ``checks`` lists what the
    store must count for this request, key before owner; ``verdict`` phrases the refusal when the store
    says one of those checks failed; ``check_settings`` is the rule across its settings (a budget period
    needs a budget); ``where`` prefixes its message, ``scope`` is "key" or "owner".
    """

    name: str = ""
    settings: tuple[Setting, ...] = ()
    refusals: tuple[type[GateError], ...] = ()
    rules: tuple[str, ...] = ()

    def check_settings(self, values: dict[str, object], where: str, scope: str) -> None:
        return None

    def precheck(self, facts: RequestFacts) -> GateError | None:
        return None

    def checks(self, facts: RequestFacts) -> Sequence[Check]:
        return ()

    def verdict(self, facts: RequestFacts, check: Check, outcome: Outcome) -> GateError:
        raise AssertionError(f"the {self.name} policy counts nothing")


def who(facts: RequestFacts, scope: str) -> str:
    """How a refusal names the limited party: the key's id or its owner."""
    return f"key {facts.key_id!r}" if scope.startswith("k:") else f"owner {facts.owner!r}"
