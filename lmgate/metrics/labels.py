"""Label values from stats lines: refusal reasons, status classes, capped model names.

Every label value comes from a bounded set: providers from the config, key ids
and owners from the allow-list (the handoff /auth made), models capped at
``max_models`` distinct names, reasons and classes from the tables below. No
key, prompt text or request URI reaches a label.
"""

from __future__ import annotations

import threading

from lmgate.dlp.gate import DlpBlocked, DlpNotReady
from lmgate.errors import (
    Forbidden,
    GateError,
    InvalidRequest,
    KeyDisabled,
    KeyExpired,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
    Unavailable,
)
from lmgate.policies.base import (
    BUDGET_EXCEEDED,
    MODEL_NOT_ALLOWED,
    RATE_LIMITED_RPM,
    RATE_LIMITED_TPM,
    STORE_UNAVAILABLE,
    TOO_MANY_PARALLEL,
)
from lmgate.stats.record import (
    CAPTURE_TRUNCATED,
    CLIENT_DISCONNECT,
    UNREADABLE_BODY,
    UPSTREAM_CLOSED,
    UPSTREAM_ERROR,
    UPSTREAM_TIMEOUT,
    UPSTREAM_UNREACHABLE,
)

SIDECAR_UNAVAILABLE = "sidecar_unavailable"  # nginx.conf.j2 sets it when /auth gave no verdict
STATS_ERROR = "stats_error"  # stats/intake.py: the line of a request whose usage could not be read

#: the stats line's error_type of a request the gateway answered itself -> the refusal reason label
REFUSAL_REASONS: dict[str, str] = {
    Unauthorized.error_type: "unauthorized",
    KeyExpired.error_type: "key_expired",
    KeyDisabled.error_type: "key_disabled",
    MODEL_NOT_ALLOWED: "model",
    RATE_LIMITED_RPM: "rpm",
    RATE_LIMITED_TPM: "tpm",
    BUDGET_EXCEEDED: "budget",
    TOO_MANY_PARALLEL: "max_parallel",
    DlpBlocked.error_type: "dlp",
    DlpNotReady.error_type: "dlp_not_ready",
    SIDECAR_UNAVAILABLE: "sidecar_unavailable",
    TooLarge.error_type: "too_large",
    UPSTREAM_UNREACHABLE: "upstream_unreachable",
    STORE_UNAVAILABLE: "store_unavailable",
    # the generic refusals of lmgate/errors.py, for a module that raises one
    InvalidRequest.error_type: "invalid_request",
    Forbidden.error_type: "forbidden",
    NotFound.error_type: "not_found",
    RateLimited.error_type: "rate_limited",
    Unavailable.error_type: "unavailable",
    GateError.error_type: "gateway_error",
}
#: error_type values of requests that were forwarded: no refusal (a provider that went silent or hung up
#: mid-answer was reached: its answer, whole or cut, is the provider's)
FORWARDED = frozenset(
    (
        UPSTREAM_ERROR,
        UPSTREAM_TIMEOUT,
        UPSTREAM_CLOSED,
        CLIENT_DISCONNECT,
        CAPTURE_TRUNCATED,
        UNREADABLE_BODY,
        STATS_ERROR,
    )
)
#: error_type values counted in lmgate_upstream_errors_total
UPSTREAM_FAILURES = frozenset((UPSTREAM_ERROR, UPSTREAM_UNREACHABLE, UPSTREAM_TIMEOUT, UPSTREAM_CLOSED))

OTHER = "other"  # the model label past the cap


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
