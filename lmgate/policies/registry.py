"""The policies /auth applies, in the order it judges them: the one tuple every derived table reads.

Prechecks (pure) run first, in this order; the counted rules go to the store in
one atomic call, judged in this order too (budget → max_parallel → rpm → tpm).
A policy from outside lmgate is added by naming its module in the config's
``policies.extra``: importing it through ``register_module`` appends its
``POLICY``, and with it its settings, before the owners' settings are read.
"""

from __future__ import annotations

import importlib

from lmgate.policies.base import Policy
from lmgate.policies.budget import BUDGETS
from lmgate.policies.models import MODELS
from lmgate.policies.parallel import PARALLELS
from lmgate.policies.ratelimit import RATE_LIMITS
from lmgate.policies.settings import SETTINGS

POLICIES: list[Policy] = [MODELS, BUDGETS, PARALLELS, RATE_LIMITS]


def _add(policy: Policy) -> None:
    for s in policy.settings:
        if s.name in SETTINGS:
            raise ValueError(f"policy {policy.name!r}: setting {s.name!r} is declared already")
        SETTINGS[s.name] = s


def register_module(path: str) -> Policy:
    """Import ``path`` (e.g. ``mycompany.lmgate_quota``) and add its ``POLICY``, once."""
    try:
        policy = importlib.import_module(path).POLICY
    except (ImportError, AttributeError) as e:
        raise ValueError(f"{path!r}: no policy module ({e}); it must define POLICY") from None
    if policy not in POLICIES:
        _add(policy)
        POLICIES.append(policy)
    return policy


def key_columns() -> tuple[str, ...]:
    """The allow-list columns the policies read; an empty cell means no limit."""
    return tuple(s.name for s in SETTINGS.values() if s.key)


def owner_settings() -> tuple[str, ...]:
    return tuple(s.name for s in SETTINGS.values() if s.owner)


for _policy in POLICIES:
    _add(_policy)
