"""lmgate's one vocabulary of errors: what a stats line's ``error_type`` may say, and each refusal's constructor.

``ErrorType`` names every ``error_type`` a stats line can carry (the metrics
labels, the nginx template and docs/metrics.md read it); ``ErrorKind`` is what
a provider needs to phrase an error its SDK understands. A refusal is a
``GateError`` subclass built whole by its constructor (status, kind, type,
message, headers) and never changed after; the auth handler renders it once, in
the provider's shape, with ``render``. Messages never contain a full key
(callers pass masked keys).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

import orjson

from lmgate.keys import printable

if TYPE_CHECKING:
    from lmgate.providers.base import Provider


class ConfigError(Exception):
    """A config file or env variable that cannot be used; the message names the key."""


class ErrorKind(StrEnum):
    """Gateway-made errors, rendered by each provider in its own JSON shape."""

    INVALID_REQUEST = "invalid_request"  # 400
    AUTHENTICATION = "authentication"  # 401
    PERMISSION = "permission"  # 403
    NOT_FOUND = "not_found"  # 404
    TOO_LARGE = "too_large"  # 413
    RATE_LIMIT = "rate_limit"  # 429
    QUOTA = "quota"  # 429, budget spent
    UNAVAILABLE = "unavailable"  # 502, 503, 504


class ErrorType(StrEnum):
    """Every ``error_type`` of a stats line: a refusal below (one ``GateError`` class each), or ``OBSERVED``."""

    # refusals of /auth
    INVALID_REQUEST = "invalid_request"
    UNAUTHORIZED = "unauthorized"
    KEY_EXPIRED = "key_expired"
    FORBIDDEN = "forbidden"
    KEY_DISABLED = "key_disabled"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    GATEWAY_ERROR = "gateway_error"
    MODEL_NOT_ALLOWED = "model_not_allowed"
    RATE_LIMITED_RPM = "rate_limited_rpm"
    RATE_LIMITED_TPM = "rate_limited_tpm"
    BUDGET_EXCEEDED = "budget_exceeded"
    TOO_MANY_PARALLEL = "too_many_parallel"
    POLICY_STORE_UNAVAILABLE = "policy_store_unavailable"
    DLP_BLOCKED = "dlp_blocked"
    DLP_NOT_READY = "dlp_not_ready"
    # refusals nginx answers from the rendered template (nginx_conf.py)
    TOO_LARGE = "too_large"
    SIDECAR_UNAVAILABLE = "sidecar_unavailable"
    UPSTREAM_UNREACHABLE = "upstream_unreachable"
    UPSTREAM_TIMEOUT = "upstream_timeout"  # also njs (gate.js): no byte for server.upstream_timeout mid-answer
    # observed on forwarded requests (stats/build.py, stats/intake.py, gate.js): no refusal, no constructor
    UPSTREAM_ERROR = "upstream_error"  # the provider answered non-2xx
    UPSTREAM_CLOSED = "upstream_closed"  # the provider closed the connection before the answer's end
    CLIENT_DISCONNECT = "client_disconnect"  # the client went away before the end
    CAPTURE_TRUNCATED = "capture_truncated"  # body larger than the capture cap
    UNREADABLE_BODY = "unreadable_body"  # encoding or framing we could not read
    STATS_ERROR = "stats_error"  # the line of a request whose usage could not be read


#: error types of forwarded requests: what happened to an answer the provider gave, not a refusal
OBSERVED: frozenset[ErrorType] = frozenset(
    (
        ErrorType.UPSTREAM_ERROR,
        ErrorType.UPSTREAM_CLOSED,
        ErrorType.CLIENT_DISCONNECT,
        ErrorType.CAPTURE_TRUNCATED,
        ErrorType.UNREADABLE_BODY,
        ErrorType.STATS_ERROR,
    )
)


class GateError(Exception):
    """A refusal; subclasses fix status, kind and type, constructors take what varies."""

    status: int = 500
    kind: ErrorKind = ErrorKind.UNAVAILABLE
    error_type: str = ErrorType.GATEWAY_ERROR  # an ErrorType; a policy from ``policies.extra`` may name its own
    dlp: dict | None = None  # for the stats line: what DLP found (DlpBlocked)

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


def _retry(retry_after: int | None, headers: dict[str, str] | None) -> dict[str, str]:
    out = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return out | headers if headers else out


class InvalidRequest(GateError):
    status, kind, error_type = 400, ErrorKind.INVALID_REQUEST, ErrorType.INVALID_REQUEST


class Unauthorized(GateError):
    status, kind, error_type = 401, ErrorKind.AUTHENTICATION, ErrorType.UNAUTHORIZED


class KeyExpired(Unauthorized):
    """A key past its ``expires`` (or a rotated key past its grace): 401 saying so, not "unknown"."""

    error_type = ErrorType.KEY_EXPIRED


class Forbidden(GateError):
    status, kind, error_type = 403, ErrorKind.PERMISSION, ErrorType.FORBIDDEN


class KeyDisabled(Forbidden):
    """A key whose ``disabled`` cell is true: 403."""

    error_type = ErrorType.KEY_DISABLED


class ModelNotAllowed(Forbidden):
    """The model is not among the key's or its owner's ``models`` patterns."""

    error_type = ErrorType.MODEL_NOT_ALLOWED


class DlpBlocked(Forbidden):
    """The prompt holds what data-loss prevention blocks; ``dlp``: entity types and counts, never values."""

    error_type = ErrorType.DLP_BLOCKED

    def __init__(self, message: str, dlp: dict) -> None:
        super().__init__(message)
        self.dlp = dlp  # set once, by the constructor


class NotFound(GateError):
    status, kind, error_type = 404, ErrorKind.NOT_FOUND, ErrorType.NOT_FOUND


class TooLarge(GateError):
    status, kind, error_type = 413, ErrorKind.TOO_LARGE, ErrorType.TOO_LARGE


class RateLimited(GateError):
    """429, retry after ``retry_after`` seconds (``headers``: e.g. OpenAI's ``x-ratelimit-*``)."""

    status, kind, error_type = 429, ErrorKind.RATE_LIMIT, ErrorType.RATE_LIMITED

    def __init__(self, message: str, retry_after: int | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, _retry(retry_after, headers))


class RpmExceeded(RateLimited):
    error_type = ErrorType.RATE_LIMITED_RPM


class TpmExceeded(RateLimited):
    error_type = ErrorType.RATE_LIMITED_TPM


class TooManyParallel(RateLimited):
    """max_parallel requests are in flight already."""

    error_type = ErrorType.TOO_MANY_PARALLEL


class QuotaExceeded(GateError):
    """A budget is spent: 429 ``insufficient_quota``; ``retry_after`` None for a budget that never resets."""

    status, kind, error_type = 429, ErrorKind.QUOTA, ErrorType.BUDGET_EXCEEDED

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message, _retry(retry_after, None))


class Unavailable(GateError):
    status, kind, error_type = 503, ErrorKind.UNAVAILABLE, ErrorType.UNAVAILABLE

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message, _retry(retry_after, None))


class PolicyStoreUnavailable(Unavailable):
    """The counters' store (Redis) failed and ``policies.on_store_error`` is ``closed``."""

    error_type = ErrorType.POLICY_STORE_UNAVAILABLE


class DlpNotReady(Unavailable):
    """The DLP scanner is starting or was replaced: retryable."""

    error_type = ErrorType.DLP_NOT_READY


class SidecarUnavailable(Unavailable):
    """nginx's answer when /auth gave no verdict."""

    error_type = ErrorType.SIDECAR_UNAVAILABLE


class UpstreamUnreachable(Unavailable):
    """nginx could not reach the provider: 502."""

    status, error_type = 502, ErrorType.UPSTREAM_UNREACHABLE


class UpstreamTimeout(Unavailable):
    """The provider sent no answer within ``server.upstream_timeout``: 504."""

    status, error_type = 504, ErrorType.UPSTREAM_TIMEOUT


def refusal_classes() -> dict[str, type[GateError]]:
    """error_type -> the class whose constructor makes that refusal (policies' own included once imported)."""
    out: dict[str, type[GateError]] = {GateError.error_type: GateError}
    todo = [GateError]
    while todo:
        for sub in todo.pop().__subclasses__():
            out.setdefault(sub.error_type, sub)
            todo.append(sub)
    return out


def render(provider: Provider, err: GateError) -> bytes:
    return provider.error_body(err.status, printable(err.message), err.kind)  # it may quote the client


def generic_error(status: int, message: str) -> bytes:
    """An error no SDK owns (gateway health, unknown paths): readable by the OpenAI, Anthropic and Gemini parsers."""
    kinds = {404: ("not_found_error", "NOT_FOUND"), 503: ("api_error", "UNAVAILABLE")}
    kind, google_status = kinds[status]
    doc = {"type": "error", "error": {"type": kind, "message": message, "code": status, "status": google_status}}
    return orjson.dumps(doc)
