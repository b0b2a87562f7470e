"""Budgets: spend per key and per owner in the current UTC day, UTC month, or forever."""

from __future__ import annotations

import math
from collections.abc import Sequence

from lmgate.errors import QuotaExceeded
from lmgate.policies.base import RequestFacts, who
from lmgate.policies.periods import period_of
from lmgate.store.base import BUDGET, Check, Outcome, key_scope, owner_scope

_LABEL = {"day": "daily", "month": "monthly", "total": "total"}


class BudgetPolicy:
    def precheck(self, facts: RequestFacts) -> None:
        return None

    def checks(self, facts: RequestFacts) -> Sequence[Check]:
        out = []
        k, o = facts.key_limits, facts.owner_limits
        if k.budget_usd is not None:
            out.append(Check(BUDGET, key_scope(facts.key_id), k.budget_usd, k.budget_period))
        if o.budget_usd is not None:
            out.append(Check(BUDGET, owner_scope(facts.owner), o.budget_usd, o.budget_period))
        return out

    def verdict(self, facts: RequestFacts, check: Check, outcome: Outcome) -> QuotaExceeded:
        assert check.period is not None
        period = period_of(check.period, facts.now)
        spent = f"lmgate: {who(facts, check.scope)} has spent {usd(outcome.value)} of its {usd(check.limit)}"
        if period.kind == "total":  # never resets: only an admin can help
            return QuotaExceeded(f"{spent} total budget; it does not reset")
        retry = max(1, math.ceil(period.end - facts.now))
        message = f"{spent} {_LABEL[period.kind]} budget; it resets at {period.iso_end()}"
        return QuotaExceeded(message, retry_after=retry)


BUDGETS = BudgetPolicy()


def usd(amount: float) -> str:
    """Cents for real budgets, significant digits for tiny ones ($0.0000108, not $0.00)."""
    if amount >= 1 or amount == 0:
        return f"${amount:,.2f}"
    digits = f"{float(f'{amount:.3g}'):.10f}".rstrip("0")
    return "$" + (digits if len(digits.split(".")[1]) >= 2 else f"{amount:.2f}")
