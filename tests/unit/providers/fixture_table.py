"""What the provider table tests share: a recorded fixture (tests/fixtures/) rendered with recorded
values, read the way the stats path reads a response body, and the provider SDKs' view of an error.

A ``Case`` names a fixture file of one endpoint, the values it is rendered with (``RECORDED`` and
the case's own) and the ``Usage`` the provider module must read from it; ``cut`` drops frames from
the end of a stream, as a client that hangs up early leaves it in the capture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx2

from lmgate.providers.base import ErrorKind, Provider
from lmgate.usage import Usage
from tests.fakes import fixtures

WORDS = ["Hello", "!", " How", " can", " I", " help", " you", " today", "?"]
PROMPT = 21  # the recorded prompt's tokens

# the status each gateway error is sent with (what the SDK sees first)
STATUSES = {
    ErrorKind.INVALID_REQUEST: 400,
    ErrorKind.AUTHENTICATION: 401,
    ErrorKind.PERMISSION: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.RATE_LIMIT: 429,
    ErrorKind.QUOTA: 429,
    ErrorKind.UNAVAILABLE: 503,
}


@dataclass(frozen=True)
class Case:
    endpoint: str
    file: str
    model: str
    expected: Usage
    values: dict = field(default_factory=dict)
    cut: int = 0  # frames lost at the end of a stream

    @property
    def stream(self) -> bool:
        return self.file.startswith("stream")


def recorded(model: str, **values: int | str) -> dict[str, int | str]:
    base = {"prompt": PROMPT, "output": len(WORDS), "cache_read": 0, "cache_write": 0, "thoughts": 0}
    return {**base, "model": model, "text": "".join(WORDS), **values}


def answer(provider: str, case: Case) -> fixtures.Answer:
    values = recorded(case.model, **case.values)
    if not case.stream:
        return fixtures.response(provider, case.endpoint, values, case.file)
    rendered = fixtures.stream(provider, case.endpoint, values, WORDS, case.file)
    if case.cut:
        rendered.frames = rendered.frames[: -case.cut]
    return rendered


def usage_of(api: Provider, provider: str, case: Case) -> Usage:
    """The usage ``api`` reads from the rendered fixture, as stats/build.py asks for it."""
    return api.usage_from_body(answer(provider, case).body, stream=case.stream)


def served(status: int, body: bytes, headers: dict[str, str] | None = None) -> httpx2.Client:
    """An httpx2 client (the SDKs' HTTP library) whose every request gets this answer, which the SDK
    then parses as it would the API's."""
    reply = httpx2.Response(status, headers={"Content-Type": "application/json", **(headers or {})}, content=body)
    return httpx2.Client(transport=httpx2.MockTransport(lambda request: reply))
