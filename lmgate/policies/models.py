"""Model rules: the requested model must match the key's patterns and its owner's."""

from __future__ import annotations

from lmgate.clip import clip
from lmgate.errors import ModelNotAllowed
from lmgate.policies.base import Policy, RequestFacts, who
from lmgate.policies.limits import Limits
from lmgate.policies.settings import Setting, model_patterns

MAX_MODEL_SHOWN = 256  # characters of the client's model name a refusal repeats


class ModelsPolicy(Policy):
    name = "models"
    settings = (
        Setting(
            "models",
            "glob patterns, `;`-separated (a YAML list for owners), e.g. `gpt-4o*;claude-*`, matched against what "
            "will run (Azure: the deployment in the path)",
            model_patterns,
            "precheck",
            default=(),
        ),
    )
    refusals = (ModelNotAllowed,)

    def precheck(self, facts: RequestFacts) -> ModelNotAllowed | None:
        for limits, scope in ((facts.key_limits, "k:"), (facts.owner_limits, "o:")):
            rx = limits.model_re
            if rx is None or (facts.model is not None and rx.match(facts.model) is not None):
                continue
            if facts.model is None:
                if facts.read_only:
                    continue
                return ModelNotAllowed(
                    f"lmgate: the model of this request could not be determined, and {who(facts, scope)} "
                    f"may only use models matching {_patterns(limits)}"
                )
            shown = clip(facts.model, MAX_MODEL_SHOWN)
            return ModelNotAllowed(
                f"lmgate: model {shown!r} is not allowed for {who(facts, scope)}; allowed: {_patterns(limits)}"
            )
        return None


def _patterns(limits: Limits) -> str:
    return ", ".join(limits.models)


MODELS = ModelsPolicy()
