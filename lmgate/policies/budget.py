"""Budgets: spend per key and per owner in the current UTC day, UTC month, or forever."""

from __future__ import annotations

import math
from collections.abc import Sequence

from lmgate.errors import QuotaExceeded
from lmgate.policies.base import Policy, RequestFacts, who
from lmgate.policies.settings import Setting, choice, positive_usd
from lmgate.store.base import BUDGET, FIT_TOLERANCE, Check, Outcome, key_scope, owner_scope
from lmgate.store.periods import PERIOD_KINDS, period_of

_LABEL = {"day": "daily", "month": "monthly", "total": "total"}


class BudgetPolicy(Policy):
    name = "budget"
    settings = (
        Setting("budget_usd", "spend allowed per `budget_period`, in US dollars", positive_usd, "store"),
        Setting(
            "budget_period", "`day`, `month` (UTC) or `total` (forever)", choice(*PERIOD_KINDS), "modifier", "month"
        ),
    )
    refusals = (QuotaExceeded,)
    rules = (BUDGET,)

    def check_settings(self, values: dict[str, object], where: str, scope: str) -> None:
        # keys only: owner configs with a lone budget_period were always accepted
        if scope == "key" and "budget_period" in values and "budget_usd" not in values:
            raise ValueError(f"{where}budget_period: set without budget_usd")

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
        label = _LABEL[period.kind]
        if outcome.value < check.limit:  # not spent: refused for what requests in flight and this one may cost
            return _reservation_verdict(facts, check, outcome, f"{spent} {label} budget")
        if period.kind == "total":  # never resets: only an admin can help
            return QuotaExceeded(f"{spent} total budget; it does not reset")
        retry = max(1, math.ceil(period.end - facts.now))
        message = f"{spent} {label} budget; it resets at {period.iso_end()}"
        return QuotaExceeded(message, retry_after=retry)


BUDGETS = BudgetPolicy()

RESERVED_RETRY = 2  # seconds: a refusal for money held by requests in flight may pass once they settle


def _reservation_verdict(facts: RequestFacts, check: Check, outcome: Outcome, spent: str) -> QuotaExceeded:
    """budget_mode reserve: the budget is not used up, but this request's most possible cost does not fit."""
    may_cost = f"this request may cost up to {usd(facts.reserve_usd)} (its output limit at the model's price)"
    if outcome.value + facts.reserve_usd > check.limit + FIT_TOLERANCE:  # cannot fit, whatever settles
        left = usd(check.limit - outcome.value)
        message = f"{spent}; {may_cost}, more than the {left} left; lower its max output tokens"
        return QuotaExceeded(message)
    message = f"{spent} and requests in flight hold {usd(outcome.reserved)}"
    message += f"; {may_cost}; retry when they finish" if facts.reserve_usd else "; retry when they finish"
    return QuotaExceeded(message, retry_after=RESERVED_RETRY)


def usd(amount: float) -> str:
    """Cents for real budgets, significant digits for tiny ones ($0.0000108, not $0.00)."""
    if amount >= 1 or amount == 0:
        return f"${amount:,.2f}"
    digits = f"{float(f'{amount:.3g}'):.10f}".rstrip("0")
    return "$" + (digits if len(digits.split(".")[1]) >= 2 else f"{amount:.2f}")
