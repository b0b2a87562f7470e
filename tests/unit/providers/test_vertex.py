"""Vertex AI: Gemini models in Gemini's wire format, Claude models (rawPredict, streamRawPredict) in
Anthropic's; usage read from the recorded answers of both, gateway errors as each SDK reads them."""

from __future__ import annotations

import pytest

from lmgate.providers.base import ErrorKind
from lmgate.providers.vertex import PROVIDER
from lmgate.usage import Usage
from tests.fakes import fixtures
from tests.unit.providers.fixture_table import PROMPT, STATUSES, WORDS, Case, recorded, usage_of
from tests.unit.providers.test_anthropic import SDK_CLASSES as ANTHROPIC_CLASSES
from tests.unit.providers.test_anthropic import sdk_error as anthropic_error
from tests.unit.providers.test_gemini import sdk_error as genai_error

FLASH = "gemini-2.5-flash"
SONNET = "claude-sonnet-4-5-20250929"
OUT = len(WORDS)
THINKING = {"prompt": 1021, "cache_read": 1000, "thoughts": 64}
PLAIN = Usage(PROMPT, OUT, None, None, None, FLASH, "provider")
THOUGHT = Usage(1021, OUT + 64, 1000, None, 64, FLASH, "provider")
CACHED = {"cache_read": 1024, "cache_write": 256}

CASES = {
    "Gemini generateContent": Case("generate_content", "response.json", FLASH, PLAIN),
    "Gemini generateContent with thoughts and a cached prompt": Case(
        "generate_content", "response.json", FLASH, THOUGHT, THINKING
    ),
    "Gemini SSE stream": Case("stream_generate_content", "stream.sse", FLASH, THOUGHT, THINKING),
    "Gemini JSON-array stream": Case("stream_generate_content", "stream.json", FLASH, PLAIN),
    "Claude rawPredict": Case(
        "raw_predict", "response.json", SONNET, Usage(PROMPT, OUT, 0, 0, None, SONNET, "provider")
    ),
    "Claude rawPredict with cache reads and writes": Case(
        "raw_predict", "response.json", SONNET, Usage(PROMPT + 1280, OUT, 1024, 256, None, SONNET, "provider"), CACHED
    ),
    "Claude streamRawPredict": Case(
        "stream_raw_predict",
        "stream.sse",
        SONNET,
        Usage(PROMPT + 1280, OUT, 1024, 256, None, SONNET, "provider"),
        CACHED,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_usage_of_recorded_answers(name):
    assert usage_of(PROVIDER, "vertex", CASES[name]) == CASES[name].expected


@pytest.mark.parametrize(
    ("endpoint", "file"), [("stream_generate_content", "stream.sse"), ("stream_raw_predict", "stream.sse")]
)
def test_stream_text_of_both_formats(endpoint, file):
    body = fixtures.stream("vertex", endpoint, recorded(FLASH), WORDS, file).body
    assert PROVIDER.text_from_events(PROVIDER.events(body)) == "".join(WORDS)


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_gateway_errors_raise_each_sdks_class(kind):
    """One error shape (Google's) for both routes: google-genai reads it whole, the anthropic SDK by status."""
    status = STATUSES[kind]
    body = PROVIDER.error_body(status, f"lmgate says {kind}", kind)
    assert (genai_error(status, body).code, genai_error(status, body).message) == (status, f"lmgate says {kind}")
    assert type(anthropic_error(status, body)) is ANTHROPIC_CLASSES[status]


@pytest.mark.parametrize(
    ("endpoint", "status"), [("raw_predict", 400), ("raw_predict", 429), ("stream_raw_predict", 529)]
)
def test_recorded_claude_errors_raise_the_anthropic_sdks_class(endpoint, status):
    recorded_error = fixtures.error("vertex", endpoint, status, {})
    assert type(anthropic_error(status, recorded_error.body)) is ANTHROPIC_CLASSES[status]
