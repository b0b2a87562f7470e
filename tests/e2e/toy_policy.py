"""A toy policy from outside lmgate, in one file: a key or owner may cap the length of the model name asked for.

lmgate adds it when the config names this module in ``policies.extra``
(tests/e2e/test_toy_policy.py); nothing else in lmgate changes. Its setting
becomes an allow-list column and an owner setting, its refusal a 403 in each
provider's shape, with its own ``error_type`` on the stats line.
"""

from __future__ import annotations

from lmgate.errors import Forbidden
from lmgate.policies.base import Policy, RequestFacts, who
from lmgate.policies.settings import Setting, positive_int


class ModelNameTooLong(Forbidden):
    error_type = "model_name_too_long"


class ModelNameLength(Policy):
    name = "model_name_length"
    settings = (Setting("max_model_chars", "longest model name the key may ask for", positive_int, "precheck"),)
    refusals = (ModelNameTooLong,)

    def precheck(self, facts: RequestFacts) -> ModelNameTooLong | None:
        for limits, scope in ((facts.key_limits, "k:"), (facts.owner_limits, "o:")):
            cap = limits.max_model_chars
            if cap is not None and facts.model is not None and len(facts.model) > cap:
                return ModelNameTooLong(f"lmgate: {who(facts, scope)} may ask for model names of {cap} characters")
        return None


POLICY = ModelNameLength()
