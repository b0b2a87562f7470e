"""max_parallel: requests in flight per key and per owner, held by a lease until the stats line frees it."""

from __future__ import annotations

from collections.abc import Sequence

from lmgate.errors import TooManyParallel
from lmgate.policies.base import RequestFacts, who
from lmgate.store.base import PARALLEL, Check, Outcome, key_scope, owner_scope


class ParallelPolicy:
    def precheck(self, facts: RequestFacts) -> None:
        return None

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
