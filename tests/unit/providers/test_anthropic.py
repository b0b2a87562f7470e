"""Anthropic's Messages API: usage read from the recorded answers, errors as the anthropic SDK reads them.

Anthropic's ``input_tokens`` leaves out the prompt tokens read from or written to the cache;
``Usage.input_tokens`` counts every prompt token, so the cached ones are added back.
"""

from __future__ import annotations

import anthropic
import orjson
import pytest

from lmgate.providers.anthropic import PROVIDER
from lmgate.providers.base import ErrorKind
from lmgate.usage import Usage
from tests.fakes import fixtures
from tests.unit.providers.fixture_table import PROMPT, STATUSES, WORDS, Case, recorded, served, usage_of

SONNET = "claude-sonnet-4-5-20250929"
OUT = len(WORDS)
CACHED = {"cache_read": 1024, "cache_write": 256}

CASES = {
    "message": Case("messages", "response.json", SONNET, Usage(PROMPT, OUT, 0, 0, None, SONNET, "provider")),
    "message with cache reads and writes: all prompt tokens counted": Case(
        "messages", "response.json", SONNET, Usage(PROMPT + 1280, OUT, 1024, 256, None, SONNET, "provider"), CACHED
    ),
    "stream: message_start's input, message_delta's output": Case(
        "messages", "stream.sse", SONNET, Usage(PROMPT, OUT, 0, 0, None, SONNET, "provider")
    ),
    "stream with cache reads and writes": Case(
        "messages", "stream.sse", SONNET, Usage(PROMPT + 1280, OUT, 1024, 256, None, SONNET, "provider"), CACHED
    ),
    "stream cut before message_delta: message_start's count of one output token": Case(
        "messages", "stream.sse", SONNET, Usage(PROMPT + 1280, 1, 1024, 256, None, SONNET, "provider"), CACHED, cut=2
    ),
    "stream cut after message_start": Case(
        "messages", "stream.sse", SONNET, Usage(PROMPT, 1, 0, 0, None, SONNET, "provider"), cut=4 + OUT
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_usage_of_recorded_answers(name):
    assert usage_of(PROVIDER, "anthropic", CASES[name]) == CASES[name].expected


def test_stream_text_is_the_text_deltas():
    body = fixtures.stream("anthropic", "messages", recorded(SONNET), WORDS, "stream.sse").body
    assert PROVIDER.text_from_events(PROVIDER.events(body)) == "".join(WORDS)


# --- errors

SDK_CLASSES = {
    400: anthropic.BadRequestError,
    401: anthropic.AuthenticationError,
    403: anthropic.PermissionDeniedError,
    404: anthropic.NotFoundError,
    413: anthropic.ContentTooLargeError,
    429: anthropic.RateLimitError,
    500: anthropic.InternalServerError,
    503: anthropic.ServiceUnavailableError,
    529: anthropic.OverloadedError,
}


def sdk_error(status: int, body: bytes, headers: dict[str, str] | None = None) -> anthropic.APIStatusError:
    client = anthropic.Anthropic(
        api_key="k", base_url="http://api.test", http_client=served(status, body, headers), max_retries=0
    )
    with pytest.raises(anthropic.APIStatusError) as e:
        client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    return e.value


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_error_body_is_what_the_sdk_raises_its_own_class_from(kind):
    status = STATUSES[kind]
    err = sdk_error(status, PROVIDER.error_body(status, f"lmgate says {kind}", kind))
    assert type(err) is SDK_CLASSES[status]
    assert err.body["error"]["message"] == f"lmgate says {kind}"
    assert err.type == err.body["error"]["type"] != ""


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 429, 500, 529])
def test_recorded_errors_and_the_gateways_have_one_shape(status):
    recorded_error = fixtures.error("anthropic", "messages", status, {})
    err = sdk_error(status, recorded_error.body, recorded_error.headers)
    assert type(err) is SDK_CLASSES[status]
    assert err.request_id == recorded_error.json()["request_id"]  # the API names the request in the body too
    kind = next((k for k, s in STATUSES.items() if s == status), ErrorKind.UNAVAILABLE)
    ours = orjson.loads(PROVIDER.error_body(status, "m", kind))
    assert ours["type"] == "error" and set(ours["error"]) == set(recorded_error.json()["error"])  # type, message
