"""Azure OpenAI (deployments API and v1): usage read from the recorded answers, errors as the openai SDK's
AzureOpenAI reads them. Azure streams open with the prompt's content-filter verdict, a chunk with no
choices and an empty model."""

from __future__ import annotations

import openai
import pytest

from lmgate.providers.azure import PROVIDER
from lmgate.providers.base import ErrorKind
from lmgate.usage import Usage
from tests.fakes import fixtures
from tests.unit.providers.fixture_table import PROMPT, STATUSES, WORDS, Case, recorded, served, usage_of
from tests.unit.providers.test_openai import SDK_CLASSES

MINI = "gpt-4o-mini-2024-07-18"
OUT = len(WORDS)
CACHED_AND_REASONING = {"prompt": 1045, "cache_read": 1024, "cache_write": 21, "thoughts": 64}
PLAIN = Usage(PROMPT, OUT, 0, 0, 0, MINI, "provider")
CACHED = Usage(1045, OUT + 64, 1024, 21, 64, MINI, "provider")

CASES = {
    f"{api}: {what}": Case(endpoint, file, MINI, expected, values)
    for api, endpoint in (("deployments", "chat_completions"), ("v1", "v1_chat_completions"))
    for what, file, expected, values in (
        ("chat completion", "response.json", PLAIN, {}),
        ("chat completion with cached prompt and reasoning tokens", "response.json", CACHED, CACHED_AND_REASONING),
        ("stream with include_usage, after the prompt filter chunk", "stream.sse", PLAIN, {}),
        ("stream with cached prompt and reasoning tokens", "stream.sse", CACHED, CACHED_AND_REASONING),
        ("stream without include_usage: the model, no counts", "stream-without-usage.sse", Usage(model=MINI), {}),
    )
}


@pytest.mark.parametrize("name", list(CASES))
def test_usage_of_recorded_answers(name):
    assert usage_of(PROVIDER, "azure", CASES[name]) == CASES[name].expected


def test_the_prompt_filter_chunk_has_no_model_and_no_choices():
    body = fixtures.stream("azure", "chat_completions", recorded(MINI), WORDS, "stream.sse").body
    first = PROVIDER.events(body)[0]
    assert (first["model"], first["choices"]) == ("", []) and first["prompt_filter_results"]
    assert PROVIDER.text_from_events(PROVIDER.events(body)) == "".join(WORDS)


def sdk_error(status: int, body: bytes, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    client = openai.AzureOpenAI(
        api_key="k",
        azure_endpoint="http://resource.test",
        api_version="2024-10-21",
        http_client=served(status, body, headers),
        max_retries=0,
    )
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="my-deployment", messages=[{"role": "user", "content": "hi"}])
    return e.value


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_error_body_is_what_the_sdk_raises_its_own_class_from(kind):
    status = STATUSES[kind]
    err = sdk_error(status, PROVIDER.error_body(status, f"lmgate says {kind}", kind))
    assert type(err) is SDK_CLASSES[status] and err.body["message"] == f"lmgate says {kind}"


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500])
def test_recorded_errors_raise_the_sdks_class_and_share_message_and_code(status):
    recorded_error = fixtures.error("azure", "chat_completions", status, {})
    err = sdk_error(status, recorded_error.body, recorded_error.headers)
    assert type(err) is SDK_CLASSES.get(status, openai.InternalServerError)
    assert err.body["message"] == recorded_error.json()["error"]["message"]
    assert {"message", "code"} <= set(recorded_error.json()["error"])  # what every Azure error has, and ours too
