"""OpenAI's API: usage read from the recorded answers of each endpoint, and errors as the openai SDK reads them."""

from __future__ import annotations

import openai
import orjson
import pytest

from lmgate.providers.base import ErrorKind
from lmgate.providers.openai import PROVIDER
from lmgate.usage import Usage
from tests.fakes import fixtures
from tests.unit.providers.fixture_table import PROMPT, STATUSES, WORDS, Case, served, usage_of

GPT = "gpt-4o-mini-2024-07-18"
OUT = len(WORDS)
# prompt_tokens include the cached and the cache-written ones
CACHED_AND_REASONING = {"prompt": 1045, "cache_read": 1024, "cache_write": 21, "thoughts": 64}


def provider_usage(inp, out, cache_read, reasoning, model, cache_write=0) -> Usage:
    return Usage(inp, out, cache_read, cache_write, reasoning, model, "provider")


CASES = {
    "chat completion": Case("chat_completions", "response.json", GPT, provider_usage(PROMPT, OUT, 0, 0, GPT)),
    "chat completion with cached prompt and reasoning tokens": Case(
        "chat_completions",
        "response.json",
        GPT,
        provider_usage(1045, OUT + 64, 1024, 64, GPT, 21),
        CACHED_AND_REASONING,
    ),
    "chat stream with include_usage: the last chunk's usage": Case(
        "chat_completions", "stream.sse", GPT, provider_usage(PROMPT, OUT, 0, 0, GPT)
    ),
    "chat stream with cached prompt and reasoning tokens": Case(
        "chat_completions", "stream.sse", GPT, provider_usage(1045, OUT + 64, 1024, 64, GPT, 21), CACHED_AND_REASONING
    ),
    "chat stream without include_usage carries none": Case(
        "chat_completions", "stream-without-usage.sse", GPT, Usage(model=GPT)
    ),
    "chat stream cut before its usage chunk": Case("chat_completions", "stream.sse", GPT, Usage(model=GPT), cut=2),
    "responses": Case(
        "responses", "response.json", "gpt-4o-2024-08-06", provider_usage(PROMPT, OUT, 0, 0, "gpt-4o-2024-08-06")
    ),
    "responses with cached prompt and reasoning tokens": Case(
        "responses",
        "response.json",
        "o4-mini-2025-04-16",
        provider_usage(1045, OUT + 64, 1024, 64, "o4-mini-2025-04-16", 21),
        CACHED_AND_REASONING,
    ),
    "responses stream: response.completed's usage": Case(
        "responses",
        "stream.sse",
        "o4-mini-2025-04-16",
        provider_usage(1045, OUT + 64, 1024, 64, "o4-mini-2025-04-16", 21),
        CACHED_AND_REASONING,
    ),
    "responses stream cut before response.completed": Case(
        "responses", "stream.sse", "gpt-4o-2024-08-06", Usage(model="gpt-4o-2024-08-06"), cut=1
    ),
    "embeddings: prompt tokens only": Case(
        "embeddings",
        "response.json",
        "text-embedding-3-small",
        Usage(PROMPT, 0, None, None, None, "text-embedding-3-small", "provider"),
    ),
    "embeddings as base64, the SDK's default": Case(
        "embeddings",
        "response-base64.json",
        "text-embedding-3-small",
        Usage(PROMPT, 0, None, None, None, "text-embedding-3-small", "provider"),
    ),
    "legacy completion": Case(
        "completions",
        "response.json",
        "gpt-3.5-turbo-instruct",
        Usage(PROMPT, OUT, None, None, None, "gpt-3.5-turbo-instruct", "provider"),
    ),
    "legacy completion stream with include_usage": Case(
        "completions",
        "stream.sse",
        "gpt-3.5-turbo-instruct",
        Usage(PROMPT, OUT, None, None, None, "gpt-3.5-turbo-instruct", "provider"),
    ),
    "legacy completion stream without include_usage": Case(
        "completions", "stream-without-usage.sse", "gpt-3.5-turbo-instruct", Usage(model="gpt-3.5-turbo-instruct")
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_usage_of_recorded_answers(name):
    assert usage_of(PROVIDER, "openai", CASES[name]) == CASES[name].expected


def test_stream_text_is_the_deltas():
    case = CASES["chat stream without include_usage carries none"]
    body = fixtures.stream("openai", case.endpoint, {"model": GPT}, WORDS, case.file).body
    assert PROVIDER.text_from_events(PROVIDER.events(body)) == "".join(WORDS)
    body = fixtures.stream("openai", "responses", {"model": GPT, "text": "x", **_counts()}, WORDS, "stream.sse").body
    assert PROVIDER.text_from_events(PROVIDER.events(body)) == "".join(WORDS)


def _counts() -> dict:
    return {"prompt": 1, "output": 1, "cache_read": 0, "cache_write": 0, "thoughts": 0}


# --- errors: the gateway's, as the SDK reads them; the API's recorded ones, for their shape

SDK_CLASSES = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    413: openai.APIStatusError,
    429: openai.RateLimitError,
    503: openai.InternalServerError,
}


def sdk_error(status: int, body: bytes, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    client = openai.OpenAI(
        api_key="k", base_url="http://api.test/v1", http_client=served(status, body, headers), max_retries=0
    )
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    return e.value


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_error_body_is_what_the_sdk_raises_its_own_class_from(kind):
    status = STATUSES[kind]
    err = sdk_error(status, PROVIDER.error_body(status, f"lmgate says {kind}", kind))
    assert type(err) is SDK_CLASSES[status]
    assert err.body["message"] == f"lmgate says {kind}" and err.status_code == status
    assert (err.type, err.code) == {
        ErrorKind.RATE_LIMIT: ("requests", "rate_limit_exceeded"),
        ErrorKind.QUOTA: ("insufficient_quota", "insufficient_quota"),
    }.get(kind, (err.type, err.code))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503])
def test_recorded_errors_and_the_gateways_have_one_shape(status):
    recorded = fixtures.error("openai", "chat_completions", status, {})
    err = sdk_error(status, recorded.body, recorded.headers)
    assert type(err) is SDK_CLASSES.get(status, openai.InternalServerError)
    assert err.body["message"] == recorded.json()["error"]["message"]
    kind = next((k for k, s in STATUSES.items() if s == status), ErrorKind.UNAVAILABLE)
    ours = orjson.loads(PROVIDER.error_body(status, "m", kind))
    assert set(ours["error"]) == set(recorded.json()["error"])  # message, type, param, code
