"""Model rules: the requested model must match the key's patterns and its owner's."""

from __future__ import annotations

from collections.abc import Sequence

from lmgate.policies.base import MODEL_NOT_ALLOWED, RequestFacts, Verdict, who
from lmgate.policies.limits import Limits
from lmgate.providers.base import ErrorKind
from lmgate.store.base import Check, Outcome


class ModelsPolicy:
    def precheck(self, facts: RequestFacts) -> Verdict | None:
        for limits, scope in ((facts.key_limits, "k:"), (facts.owner_limits, "o:")):
            rx = limits.model_re
            if rx is None or (facts.model is not None and rx.match(facts.model) is not None):
                continue
            if facts.model is None:
                if facts.read_only:
                    continue
                return _deny(
                    f"lmgate: the model of this request could not be determined, and {who(facts, scope)} "
                    f"may only use models matching {_patterns(limits)}"
                )
            return _deny(
                f"lmgate: model {facts.model!r} is not allowed for {who(facts, scope)}; allowed: {_patterns(limits)}"
            )
        return None

    def checks(self, facts: RequestFacts) -> Sequence[Check]:
        return ()

    def verdict(self, facts: RequestFacts, check: Check, outcome: Outcome) -> Verdict:
        raise AssertionError("the models policy counts nothing")


def _patterns(limits: Limits) -> str:
    return ", ".join(limits.models)


def _deny(message: str) -> Verdict:
    return Verdict(403, ErrorKind.PERMISSION, MODEL_NOT_ALLOWED, message)


MODELS = ModelsPolicy()
