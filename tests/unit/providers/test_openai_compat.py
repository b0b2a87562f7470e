"""OpenAI-compatible servers (recorded from vLLM): usage read from the recorded answers, their errors
(a flat ``{"object": "error", ...}``) and the gateway's as the openai SDK reads them."""

from __future__ import annotations

import openai
import pytest

from lmgate.providers.base import ErrorKind
from lmgate.providers.openai_compat import PROVIDER
from lmgate.usage import Usage
from tests.fakes import fixtures
from tests.unit.providers.fixture_table import PROMPT, STATUSES, WORDS, Case, usage_of
from tests.unit.providers.test_openai import SDK_CLASSES, sdk_error

LLAMA = "meta-llama/Llama-3.3-70B-Instruct"
OUT = len(WORDS)
COUNTED = Usage(PROMPT, OUT, None, None, None, LLAMA, "provider")  # prompt_tokens_details is null

CASES = {
    "chat completion": Case("chat_completions", "response.json", LLAMA, COUNTED),
    "stream with include_usage": Case("chat_completions", "stream.sse", LLAMA, COUNTED),
    "stream without include_usage": Case("chat_completions", "stream-without-usage.sse", LLAMA, Usage(model=LLAMA)),
    "stream cut before its usage chunk": Case("chat_completions", "stream.sse", LLAMA, Usage(model=LLAMA), cut=2),
}


@pytest.mark.parametrize("name", list(CASES))
def test_usage_of_recorded_answers(name):
    assert usage_of(PROVIDER, "openai_compat", CASES[name]) == CASES[name].expected


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_error_body_is_what_the_sdk_raises_its_own_class_from(kind):
    status = STATUSES[kind]
    err = sdk_error(status, PROVIDER.error_body(status, f"lmgate says {kind}", kind))
    assert type(err) is SDK_CLASSES[status] and err.body["message"] == f"lmgate says {kind}"


@pytest.mark.parametrize("status", [400, 404, 500])
def test_recorded_flat_errors_raise_the_sdks_class(status):
    recorded_error = fixtures.error("openai_compat", "chat_completions", status, {})
    err = sdk_error(status, recorded_error.body)
    assert type(err) is SDK_CLASSES.get(status, openai.InternalServerError)
    assert err.body["message"] == recorded_error.json()["message"]
