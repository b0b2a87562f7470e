"""max_parallel: requests in flight per key and per owner, held by a lease until the stats line frees it."""

from __future__ import annotations

from collections.abc import Sequence

from lmgate.errors import TooManyParallel
from lmgate.policies.base import Policy, RequestFacts, who
from lmgate.policies.settings import Setting, positive_int
from lmgate.store.base import PARALLEL, Check, Outcome, key_scope, owner_scope


class ParallelPolicy(Policy):
    name = "parallel"
    settings = (
        Setting(
            "max_parallel", "requests in flight (released when the response ends or the client hangs up)",
            positive_int, "store",
        ),
    )  # fmt: skip
    refusals = (TooManyParallel,)
    rules = (PARALLEL,)

    def checks(self, facts: RequestFacts) -> Sequence[Check]:
        out = []
        if facts.key_limits.max_parallel is not None:
            out.append(Check(PARALLEL, key_scope(facts.key_id), facts.key_limits.max_parallel))
        if facts.owner_limits.max_parallel is not None:
            out.append(Check(PARALLEL, owner_scope(facts.owner), facts.owner_limits.max_parallel))
        return out

    def verdict(self, facts: RequestFacts, check: Check, outcome: Outcome) -> TooManyParallel:
        message = (
            f"lmgate: {who(facts, check.scope)} already has {int(outcome.value)} requests in flight "
            f"(max_parallel {int(check.limit)}); retry when one finishes"
        )
        return TooManyParallel(message, retry_after=1)


PARALLELS = ParallelPolicy()
