"""Gateway-made refusals, rendered once, in the provider's own error JSON.

The core raises a ``GateError``; the auth handler turns it into a response with
``render``. Messages never contain a full key (callers pass masked keys).
"""

from __future__ import annotations

import orjson

from lmgate.keys import printable
from lmgate.providers.base import ErrorKind, Provider


class GateError(Exception):
    status: int = 500
    kind: ErrorKind = ErrorKind.UNAVAILABLE
    error_type: str = "gateway_error"  # the stats line's error_type

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidRequest(GateError):
    status, kind, error_type = 400, ErrorKind.INVALID_REQUEST, "invalid_request"


class Unauthorized(GateError):
    status, kind, error_type = 401, ErrorKind.AUTHENTICATION, "unauthorized"


class Forbidden(GateError):
    status, kind, error_type = 403, ErrorKind.PERMISSION, "forbidden"


class KeyExpired(Unauthorized):
    """A key past its ``expires`` (or a rotated key past its grace): 401 saying so, not "unknown"."""

    error_type = "key_expired"


class KeyDisabled(Forbidden):
    """A key whose ``disabled`` cell is true: 403."""

    error_type = "key_disabled"


class NotFound(GateError):
    status, kind, error_type = 404, ErrorKind.NOT_FOUND, "not_found"


class TooLarge(GateError):
    status, kind, error_type = 413, ErrorKind.TOO_LARGE, "too_large"


class RateLimited(GateError):
    status, kind, error_type = 429, ErrorKind.RATE_LIMIT, "rate_limited"


class Unavailable(GateError):
    status, kind, error_type = 503, ErrorKind.UNAVAILABLE, "unavailable"


def render(provider: Provider, err: GateError) -> bytes:
    return provider.error_body(err.status, printable(err.message), err.kind)  # it may quote the client


def generic_error(status: int, message: str) -> bytes:
    """An error no SDK owns (gateway health, unknown paths): readable by the OpenAI, Anthropic and Gemini parsers."""
    kinds = {404: ("not_found_error", "NOT_FOUND"), 503: ("api_error", "UNAVAILABLE")}
    kind, google_status = kinds[status]
    doc = {"type": "error", "error": {"type": kind, "message": message, "code": status, "status": google_status}}
    return orjson.dumps(doc)
