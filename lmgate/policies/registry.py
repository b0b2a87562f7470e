"""The policies /auth applies, in the order it judges them: the one tuple every derived table reads.

Prechecks (pure) run first, in this order; the counted rules go to the store in
one atomic call, judged in this order too (budget → max_parallel → rpm → tpm).
A policy from outside lmgate is added by naming its module in the config's
``policies.extra``: importing it through ``register_module`` appends its
``POLICY``, and with it its settings, before the owners' settings are read,
and the error types of the refusals it lists, which the metrics and the console
count under its name (``REFUSED_BY``).
"""

from __future__ import annotations

import importlib
import re

from lmgate.errors import ErrorType
from lmgate.policies.base import Policy
from lmgate.policies.budget import BUDGETS
from lmgate.policies.models import MODELS
from lmgate.policies.parallel import PARALLELS
from lmgate.policies.ratelimit import RATE_LIMITS
from lmgate.policies.settings import SETTINGS

POLICIES: list[Policy] = [MODELS, BUDGETS, PARALLELS, RATE_LIMITS]
#: error_type -> the name of the policy whose ``refusals`` list it, for error types not in lmgate's vocabulary
#: (``ErrorType``, labelled in metrics/labels.py): a policy from ``policies.extra`` labels its refusals
REFUSED_BY: dict[str, str] = {}
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")  # a policy's name is a label value: short, fixed, no request text
RESERVED = "other"  # the label of a refusal no policy lists (metrics/labels.py)
_OWN_TYPES = frozenset(t.value for t in ErrorType)


def _add(policy: Policy) -> None:
    if not NAME.fullmatch(policy.name) or policy.name == RESERVED:
        raise ValueError(f"policy name {policy.name!r}: lowercase letters, digits and _ (it labels its refusals)")
    if any(p.name == policy.name for p in POLICIES if p is not policy):
        raise ValueError(f"policy name {policy.name!r} is taken already")
    types = {r.error_type for r in policy.refusals} - _OWN_TYPES
    for t in types:
        if REFUSED_BY.get(t, policy.name) != policy.name:
            raise ValueError(f"policy {policy.name!r}: error type {t!r} is policy {REFUSED_BY[t]!r}'s already")
    for s in policy.settings:
        if s.name in SETTINGS:
            raise ValueError(f"policy {policy.name!r}: setting {s.name!r} is declared already")
    for s in policy.settings:
        SETTINGS[s.name] = s
    REFUSED_BY.update(dict.fromkeys(types, policy.name))


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
