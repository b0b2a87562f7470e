"""Label values from stats lines: refusal reasons, status classes, capped model names.

Every label value comes from a bounded set: providers from the config, key ids
and owners from the allow-list (the handoff /auth made), models capped at
``max_models`` distinct names, reasons and classes from the tables below (and
the names of the policies from ``policies.extra``: ``refusal_reason``). No key,
prompt text or request URI reaches a label.
"""

from __future__ import annotations

import threading

from lmgate.errors import ErrorType as E
from lmgate.policies.registry import REFUSED_BY

#: the stats line's error_type of a request the gateway answered itself -> the refusal reason label
REFUSAL_REASONS: dict[str, str] = {
    E.UNAUTHORIZED: "unauthorized",
    E.KEY_EXPIRED: "key_expired",
    E.KEY_DISABLED: "key_disabled",
    E.MODEL_NOT_ALLOWED: "model",
    E.RATE_LIMITED_RPM: "rpm",
    E.RATE_LIMITED_TPM: "tpm",
    E.BUDGET_EXCEEDED: "budget",
    E.TOO_MANY_PARALLEL: "max_parallel",
    E.DLP_BLOCKED: "dlp",
    E.DLP_NOT_READY: "dlp_not_ready",
    E.SIDECAR_UNAVAILABLE: "sidecar_unavailable",
    E.TOO_LARGE: "too_large",
    E.UPSTREAM_UNREACHABLE: "upstream_unreachable",
    E.POLICY_STORE_UNAVAILABLE: "store_unavailable",
    # the generic refusals of lmgate/errors.py, for a module that raises one
    E.INVALID_REQUEST: "invalid_request",
    E.FORBIDDEN: "forbidden",
    E.NOT_FOUND: "not_found",
    E.RATE_LIMITED: "rate_limited",
    E.UNAVAILABLE: "unavailable",
    E.GATEWAY_ERROR: "gateway_error",
}
#: error_type values of requests that were forwarded: no refusal (a provider that went silent or hung up
#: mid-answer was reached: its answer, whole or cut, is the provider's)
FORWARDED = frozenset(
    (
        E.UPSTREAM_ERROR,
        E.UPSTREAM_TIMEOUT,
        E.UPSTREAM_CLOSED,
        E.CLIENT_DISCONNECT,
        E.CAPTURE_TRUNCATED,
        E.UNREADABLE_BODY,
        E.STATS_ERROR,
    )
)
#: error_type values counted in lmgate_upstream_errors_total
UPSTREAM_FAILURES = frozenset((E.UPSTREAM_ERROR, E.UPSTREAM_UNREACHABLE, E.UPSTREAM_TIMEOUT, E.UPSTREAM_CLOSED))

OTHER = "other"  # the model label past the cap; the reason of a refusal no policy lists


def refusal_reason(error_type: str) -> str | None:
    """The ``reason`` label of a stats line's error_type; None for a forwarded request.

    lmgate's own refusals are labelled in ``REFUSAL_REASONS``; a policy from ``policies.extra`` labels those it
    lists in its ``refusals`` with its name (``registry.REFUSED_BY``); any other error type (a refusal its policy
    does not list, a line of a policy since removed from the config) is ``other``: a bounded set either way."""
    reason = REFUSAL_REASONS.get(error_type)
    if reason is None and error_type not in FORWARDED:
        return REFUSED_BY.get(error_type, OTHER)
    return reason


def status_class(status: int) -> str:
    """``2xx`` ... ``5xx``; anything else (0: no status) is ``other``."""
    return f"{status // 100}xx" if 100 <= status <= 599 else OTHER


class ModelLabels:
    """The first ``cap`` distinct model names label themselves; later ones are ``other``.

    Model names are the provider's answer or the client's request: a client
    sending random names must not grow the series without bound.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.known: dict[str | None, str] = {None: ""}
        self._lock = threading.Lock()

    def __call__(self, model: str | None) -> str:
        label = self.known.get(model)
        if label is not None:
            return label
        with self._lock:
            if model in self.known:
                return self.known[model]
            # None is in known already: cap + 1 entries
            label = model if len(self.known) <= self.cap else OTHER  # type: ignore[assignment]
            if label != OTHER:
                self.known[model] = label
            return label
