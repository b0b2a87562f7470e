"""What the policies decide on, what they answer, and the interface each policy module implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from lmgate.errors import GateError
from lmgate.policies.limits import NO_LIMITS, Limits
from lmgate.providers.base import ErrorKind
from lmgate.store.base import Check, Outcome

# error_type values of refusals, for the stats line
MODEL_NOT_ALLOWED = "model_not_allowed"
RATE_LIMITED_RPM = "rate_limited_rpm"
RATE_LIMITED_TPM = "rate_limited_tpm"
BUDGET_EXCEEDED = "budget_exceeded"
TOO_MANY_PARALLEL = "too_many_parallel"
STORE_UNAVAILABLE = "policy_store_unavailable"


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Verdict:
    """A refusal: rendered by the auth handler in the provider's error shape."""

    status: int  # 403, 429 or 503
    kind: ErrorKind  # PERMISSION, RATE_LIMIT, QUOTA or UNAVAILABLE
    error_type: str  # the stats line's error_type
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def as_gate_error(self) -> GateError:
        err = GateError(self.message, dict(self.headers))
        err.status, err.kind, err.error_type = self.status, self.kind, self.error_type
        return err


@dataclass(slots=True)  # not frozen: made on every request, and a frozen __init__ costs more
class Decision:
    allowed: bool
    verdict: Verdict | None = None  # the refusal when not allowed
    lease_id: str | None = None  # give it back via record_usage/release after the response; None: nothing to report


class Policy(Protocol):
    """One rule. Pure parts only: counting is the store's, in one atomic call for all policies.

    ``precheck`` decides what needs no counter (model rules); ``checks`` lists
    what the store must count for this request, key before owner; ``verdict``
    phrases the refusal when the store says one of those checks failed.
    """

    def precheck(self, facts: RequestFacts) -> Verdict | None: ...

    def checks(self, facts: RequestFacts) -> Sequence[Check]: ...

    def verdict(self, facts: RequestFacts, check: Check, outcome: Outcome) -> Verdict: ...


def who(facts: RequestFacts, scope: str) -> str:
    """How a refusal names the limited party: the key's id or its owner."""
    return f"key {facts.key_id!r}" if scope.startswith("k:") else f"owner {facts.owner!r}"
