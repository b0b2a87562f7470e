"""Google's Gemini API: usage read from the recorded answers (JSON, SSE and JSON-array streams), errors as
google-genai reads them.

``candidatesTokenCount`` leaves out thinking; thoughts are billed as output, so output adds them.
"""

from __future__ import annotations

import httpx2
import orjson
import pytest
from google.genai import errors as genai_errors

from lmgate.providers.base import ErrorKind
from lmgate.providers.gemini import PROVIDER
from lmgate.usage import Usage
from tests.fakes import fixtures
from tests.unit.providers.fixture_table import PROMPT, STATUSES, WORDS, Case, recorded, usage_of

FLASH = "gemini-2.5-flash"
OUT = len(WORDS)
THINKING = {"prompt": 1021, "cache_read": 1000, "thoughts": 64}  # promptTokenCount includes the cached tokens
PLAIN = Usage(PROMPT, OUT, None, None, None, FLASH, "provider")
THOUGHT = Usage(1021, OUT + 64, 1000, None, 64, FLASH, "provider")

CASES = {
    "generateContent": Case("generate_content", "response.json", FLASH, PLAIN),
    "generateContent with thoughts and a cached prompt": Case(
        "generate_content", "response.json", FLASH, THOUGHT, THINKING
    ),
    "SSE stream: the last chunk's totals": Case("stream_generate_content", "stream.sse", FLASH, PLAIN),
    "SSE stream with thoughts and a cached prompt": Case(
        "stream_generate_content", "stream.sse", FLASH, THOUGHT, THINKING
    ),
    "SSE stream cut before its last chunk: the running totals": Case(
        "stream_generate_content",
        "stream.sse",
        FLASH,
        Usage(PROMPT, OUT - 1, None, None, None, FLASH, "provider"),
        cut=1,
    ),
    "JSON-array stream": Case("stream_generate_content", "stream.json", FLASH, PLAIN),
    "JSON-array stream with thoughts and a cached prompt": Case(
        "stream_generate_content", "stream.json", FLASH, THOUGHT, THINKING
    ),
    "JSON-array stream cut before its closing bracket": Case(
        "stream_generate_content", "stream.json", FLASH, PLAIN, cut=1
    ),
    "JSON-array stream cut before its last chunk": Case(
        "stream_generate_content",
        "stream.json",
        FLASH,
        Usage(PROMPT, OUT - 1, None, None, None, FLASH, "provider"),
        cut=2,
    ),
    "embedContent reports no usage": Case("embed_content", "response.json", "gemini-embedding-001", Usage()),
}


@pytest.mark.parametrize("name", list(CASES))
def test_usage_of_recorded_answers(name):
    assert usage_of(PROVIDER, "gemini", CASES[name]) == CASES[name].expected


@pytest.mark.parametrize("file", ["stream.sse", "stream.json"])
def test_stream_text_is_the_parts(file):
    body = fixtures.stream("gemini", "stream_generate_content", recorded(FLASH), WORDS, file).body
    assert PROVIDER.text_from_events(PROVIDER.events(body)) == "".join(WORDS)


# --- errors

STATUS_NAMES = {
    ErrorKind.INVALID_REQUEST: "INVALID_ARGUMENT",
    ErrorKind.AUTHENTICATION: "UNAUTHENTICATED",
    ErrorKind.PERMISSION: "PERMISSION_DENIED",
    ErrorKind.NOT_FOUND: "NOT_FOUND",
    ErrorKind.TOO_LARGE: "INVALID_ARGUMENT",
    ErrorKind.RATE_LIMIT: "RESOURCE_EXHAUSTED",
    ErrorKind.QUOTA: "RESOURCE_EXHAUSTED",
    ErrorKind.UNAVAILABLE: "UNAVAILABLE",
}


def sdk_error(status: int, body: bytes) -> genai_errors.APIError:
    with pytest.raises(genai_errors.APIError) as e:
        genai_errors.APIError.raise_for_response(httpx2.Response(status, content=body))
    return e.value


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_error_body_is_what_google_genai_raises_its_own_class_from(kind):
    status = STATUSES[kind]
    err = sdk_error(status, PROVIDER.error_body(status, f"lmgate says {kind}", kind))
    assert type(err) is (genai_errors.ClientError if status < 500 else genai_errors.ServerError)
    assert (err.code, err.status, err.message) == (status, STATUS_NAMES[kind], f"lmgate says {kind}")


@pytest.mark.parametrize("status", [400, 403, 404, 429, 500, 503])
def test_recorded_errors_and_the_gateways_have_one_shape(status):
    recorded_error = fixtures.error("gemini", "generate_content", status, {}).json()
    err = sdk_error(status, orjson.dumps(recorded_error))
    assert (err.code, err.status) == (status, recorded_error["error"]["status"])
    kind = next((k for k, s in STATUSES.items() if s == status), ErrorKind.UNAVAILABLE)
    ours = orjson.loads(PROVIDER.error_body(status, "m", kind))
    assert set(ours["error"]) == {"code", "message", "status"} <= set(recorded_error["error"])  # details: optional
