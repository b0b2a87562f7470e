"""Model rules: the requested model must match the key's patterns and its owner's."""

from __future__ import annotations

from collections.abc import Sequence

from lmgate.clip import clip
from lmgate.policies.base import MODEL_NOT_ALLOWED, RequestFacts, Verdict, who
from lmgate.policies.limits import Limits
from lmgate.providers.base import ErrorKind
from lmgate.store.base import Check, Outcome

MAX_MODEL_SHOWN = 256  # characters of the client's model name a refusal repeats


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
            shown = clip(facts.model, MAX_MODEL_SHOWN)
            return _deny(
                f"lmgate: model {shown!r} is not allowed for {who(facts, scope)}; allowed: {_patterns(limits)}"
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
