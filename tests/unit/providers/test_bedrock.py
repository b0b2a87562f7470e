"""The Bedrock provider module: credentials, model ids, prompts, errors as boto3 reads them, usage of every shape.

Usage is checked on the fake Bedrock's real bytes (fetched with an upstream
signature), on the recorded fixtures as a table, and on hand-made documents.
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from multidict import CIMultiDict

from lmgate.providers.base import ErrorKind
from lmgate.providers.bedrock import PROVIDER, ClientCredential, parse_operation
from lmgate.sigv4 import sign_upstream
from lmgate.streams import Capture
from lmgate.usage import Usage
from tests.fakes import eventstream, fixtures
from tests.fakes.bedrock import FakeBedrock, intercept
from tests.fakes.upstream import WORDS, prompt_tokens
from tests.unit.providers.fixture_table import PROMPT as TABLE_PROMPT
from tests.unit.providers.fixture_table import WORDS as TABLE_WORDS
from tests.unit.providers.fixture_table import Case, recorded, usage_of

SESSION = boto3.Session()
CONVERSE = {"messages": [{"role": "user", "content": [{"text": "hello there"}]}], "system": [{"text": "be brief"}]}
NATIVE = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def client(endpoint: str, akid: str = "AKIAFAKEBEDROCK00001", secret: str = "x", **kw):
    return SESSION.client(
        "bedrock-runtime",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}),
        **kw,
    )


@pytest.fixture(scope="module")
def fake():
    f = FakeBedrock()
    f.start()
    yield f
    f.stop()


@pytest.fixture
def bedrock(fake):
    fake.clear()
    fake.chunk_delay = 0
    yield fake
    fake.clear()


def fetch(fake: FakeBedrock, model_id: str, op: str, doc: dict) -> tuple[int, dict[str, str], bytes, bytes]:
    """One signed request to the fake, as nginx would forward it: (status, headers, raw body, request body)."""
    path = f"/model/{quote(model_id, safe='')}/{op}"
    body = json.dumps(doc).encode()
    creds = Credentials(fake.access_key_id, fake.secret_access_key)
    rewrite = sign_upstream("POST", fake.base_url + path, body, creds, fake.region)
    parts = urlsplit(fake.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **rewrite.headers})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read(), body
    finally:
        conn.close()


# --- the fake itself, as boto3 sees it


def test_fake_answers_all_four_operations_in_boto3(bedrock):
    c = client(bedrock.base_url, bedrock.access_key_id, bedrock.secret_access_key)
    text = "".join(WORDS[:5])

    answer = c.converse(modelId=HAIKU, **CONVERSE)
    assert answer["output"]["message"]["content"][0]["text"] == text
    assert answer["stopReason"] == "end_turn"
    assert answer["usage"]["outputTokens"] == 5 and answer["metrics"]["latencyMs"] == 42

    events = list(c.converse_stream(modelId=HAIKU, **CONVERSE)["stream"])
    assert [next(iter(e)) for e in events] == [
        "messageStart",
        *["contentBlockDelta"] * 5,
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e) == text
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 5

    answer = c.invoke_model(modelId=HAIKU, body=json.dumps(NATIVE))
    doc = json.loads(answer["body"].read())
    assert doc["content"][0]["text"] == text and doc["model"] == "claude-3-haiku-20240307"
    assert answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-output-token-count"] == "5"

    chunks = [
        json.loads(e["chunk"]["bytes"])
        for e in c.invoke_model_with_response_stream(modelId=HAIKU, body=json.dumps(NATIVE))["body"]
    ]
    assert chunks[0]["type"] == "message_start" and chunks[-1]["type"] == "message_stop"
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 5


def test_fake_refuses_a_wrong_secret(bedrock):
    c = client(bedrock.base_url, bedrock.access_key_id, "not-the-secret")
    with pytest.raises(ClientError) as e:
        c.converse(modelId=HAIKU, **CONVERSE)
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "signature we calculated does not match" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        client(bedrock.base_url, "AKIAUNKNOWN").converse(modelId=HAIKU, **CONVERSE)
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_fake_errors_and_streams_chunk_by_chunk(bedrock):
    c = client(bedrock.base_url, bedrock.access_key_id, bedrock.secret_access_key)
    with pytest.raises(c.exceptions.ThrottlingException):
        c.converse(modelId="fail-429", **CONVERSE)
    bedrock.chunk_delay = 0.05
    status, _, raw, _ = fetch(bedrock, "stream-3", "converse-stream", CONVERSE)
    assert status == 200 and len(PROVIDER.events(raw)) == 7


# --- who the client is


def test_client_credential_from_boto3_sigv4():
    c = client("http://gw.example:8080/bedrock", "AKIAGATEWAYISSUED001")
    sent = intercept(c)
    c.converse(modelId=HAIKU, **CONVERSE)
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in sent[0].headers.items()}
    assert PROVIDER.client_credential(headers, "") == ClientCredential("sigv4", "AKIAGATEWAYISSUED001")
    assert PROVIDER.client_credential(CIMultiDict(headers), "") == ClientCredential("sigv4", "AKIAGATEWAYISSUED001")


def test_client_credential_from_boto3_bearer_token(monkeypatch):
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "lmgate-gateway-key-123")
    c = SESSION.client("bedrock-runtime", endpoint_url="https://gw.example/bedrock", region_name="us-east-1")
    sent = intercept(c)
    c.converse(modelId=HAIKU, **CONVERSE)
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in sent[0].headers.items()}
    assert headers["Authorization"] == "Bearer lmgate-gateway-key-123"
    assert PROVIDER.client_credential(headers, "") == ClientCredential("bearer", "lmgate-gateway-key-123")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "AWS4-HMAC-SHA256 Credential=broken"}, {"authorization": "Basic dXNlcjpwYXNz"}],
)
def test_no_client_credential(headers):
    assert PROVIDER.client_credential(headers, "") is None


# --- the request


@pytest.mark.parametrize(
    ("path", "model", "stream"),
    [
        ("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", HAIKU, False),
        (
            "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            True,
        ),
        ("/model/amazon.nova-pro-v1%3A0/invoke", "amazon.nova-pro-v1:0", False),
        ("/model/meta.llama3-8b-instruct-v1%3A0/invoke-with-response-stream", "meta.llama3-8b-instruct-v1:0", True),
        (
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse",
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
            False,
        ),
        (
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Famazon.titan-text-express-v1/invoke",
            "amazon.titan-text-express-v1",
            False,
        ),
        (
            "/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3Aapplication-inference-profile%2Fa1b2c3/converse",
            "arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/a1b2c3",
            False,
        ),
        ("/guardrail/g1/version/1/apply", None, False),
        ("/", None, False),
    ],
)
def test_model_and_stream_from_the_path(path, model, stream):
    assert PROVIDER.model_from_request(path, {"model": "ignored"}) == model
    assert PROVIDER.stream_requested(path, None) is stream


def test_parse_operation_decodes_the_id():
    assert parse_operation("/model/a%3Ab%2Fc/count-tokens") == ("a:b/c", "count-tokens")


def test_prompt_fields_converse():
    body = {
        "system": [{"text": "sys"}, {"cachePoint": {"type": "default"}}],
        "messages": [
            {"role": "user", "content": [{"text": "q1"}, {"image": {"format": "png", "source": {"bytes": "..."}}}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": [{"text": "r"}, {"json": {}}]}}]},
        ],
    }
    assert list(PROVIDER.prompt_fields(body)) == [
        (("system", 0, "text"), "sys"),
        (("messages", 0, "content", 0, "text"), "q1"),
        (("messages", 2, "content", 0, "toolResult", "content", 0, "text"), "r"),
    ]


def test_prompt_fields_native_bodies():
    anthropic_body = {
        **NATIVE,
        "system": "sys",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "q"}]}],
    }
    assert list(PROVIDER.prompt_fields(anthropic_body)) == [
        (("system",), "sys"),
        (("messages", 0, "content", 0, "text"), "q"),
    ]
    assert list(PROVIDER.prompt_fields({"prompt": "<s>[INST] hi [/INST]", "max_gen_len": 5})) == [
        (("prompt",), "<s>[INST] hi [/INST]")
    ]
    assert list(PROVIDER.prompt_fields({"inputText": "titan"})) == [(("inputText",), "titan")]


# --- errors, as boto3 reads them


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        (ErrorKind.INVALID_REQUEST, 400, "ValidationException"),
        (ErrorKind.AUTHENTICATION, 401, "UnrecognizedClientException"),
        (ErrorKind.PERMISSION, 403, "AccessDeniedException"),
        (ErrorKind.NOT_FOUND, 404, "ResourceNotFoundException"),
        (ErrorKind.TOO_LARGE, 413, "ValidationException"),
        (ErrorKind.RATE_LIMIT, 429, "ThrottlingException"),
        (ErrorKind.QUOTA, 429, "ServiceQuotaExceededException"),
        (ErrorKind.UNAVAILABLE, 503, "ServiceUnavailableException"),
    ],
)
@pytest.mark.parametrize("with_header", [True, False])
def test_errors_become_boto3_client_errors(kind, status, code, with_header):
    message = "lmgate: no, and here is why"
    headers = {"Content-Type": "application/json", **(PROVIDER.error_headers(kind) if with_header else {})}
    c = client("http://gw.example:8080/bedrock")
    intercept(c, lambda req: (status, headers, PROVIDER.error_body(status, message, kind)))
    with pytest.raises(ClientError) as e:
        c.converse(modelId=HAIKU, **CONVERSE)
    assert e.value.response["Error"] == {"Code": code, "Message": message}
    assert json.loads(PROVIDER.error_body(status, message, kind)) == {"message": message, "__type": code}


@pytest.mark.parametrize(("kind", "status", "attempts"), [(ErrorKind.QUOTA, 429, 1), (ErrorKind.RATE_LIMIT, 429, 3)])
def test_retries_boto3_makes(kind, status, attempts, monkeypatch):
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    status = PROVIDER.error_status(kind, status)
    c = SESSION.client(
        "bedrock-runtime",
        endpoint_url="http://gw.example:8080/bedrock",
        region_name="us-east-1",
        aws_access_key_id="A",
        aws_secret_access_key="B",
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
    )
    sent = intercept(c, lambda req: (status, PROVIDER.error_headers(kind), PROVIDER.error_body(status, "m", kind)))
    with pytest.raises(ClientError):
        c.converse(modelId=HAIKU, **CONVERSE)
    assert len(sent) == attempts  # a spent budget is not retried; a rate limit is


def test_error_header_code_override():
    headers = PROVIDER.error_headers(ErrorKind.AUTHENTICATION, code="InvalidSignatureException")
    assert headers["x-amzn-ErrorType"].startswith("InvalidSignatureException:")


def test_modelled_errors_raise_their_class():
    c = client("http://gw.example:8080/bedrock")
    body = PROVIDER.error_body(403, "denied", ErrorKind.PERMISSION)
    intercept(c, lambda req: (403, PROVIDER.error_headers(ErrorKind.PERMISSION), body))
    with pytest.raises(c.exceptions.AccessDeniedException):
        c.converse(modelId=HAIKU, **CONVERSE)


# --- usage: JSON bodies and headers


def test_converse_usage_adds_cache_to_input():
    doc = {
        "usage": {
            "inputTokens": 10,
            "outputTokens": 3,
            "totalTokens": 1213,
            "cacheReadInputTokens": 1000,
            "cacheWriteInputTokens": 200,
        }
    }
    assert PROVIDER.usage_from_json(doc) == Usage(1210, 3, 1000, 200, None, None, "provider")
    plain = {"usage": {"inputTokens": 10, "outputTokens": 3, "totalTokens": 13}}
    assert PROVIDER.usage_from_json(plain) == Usage(10, 3, None, None, None, None, "provider")


def test_native_usage_shapes():
    anthropic_doc = {
        "model": "claude-3-haiku-20240307",
        "usage": {
            "input_tokens": 7,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 0,
            "output_tokens": 9,
        },
    }
    assert PROVIDER.usage_from_json(anthropic_doc) == Usage(107, 9, 100, 0, None, None, "provider")
    nova = {
        "output": {},
        "usage": {
            "inputTokens": 5,
            "outputTokens": 6,
            "totalTokens": 61,
            "cacheReadInputTokenCount": 50,
            "cacheWriteInputTokenCount": 0,
        },
    }
    assert PROVIDER.usage_from_json(nova) == Usage(55, 6, 50, 0, None, None, "provider")
    llama = {"generation": "hi", "prompt_token_count": 12, "generation_token_count": 4, "stop_reason": "stop"}
    assert PROVIDER.usage_from_json(llama) == Usage(12, 4, usage_source="provider")
    titan = {"inputTextTokenCount": 8, "results": [{"tokenCount": 3, "outputText": "a"}, {"tokenCount": 2}]}
    assert PROVIDER.usage_from_json(titan) == Usage(8, 5, usage_source="provider")
    openai_style = {"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}}
    assert PROVIDER.usage_from_json(openai_style) == Usage(11, 2, usage_source="provider")
    assert PROVIDER.usage_from_json({"generations": []}) == Usage()
    assert PROVIDER.usage_from_json({"inputTokens": 5}) == Usage()  # count-tokens: nothing billed


def test_usage_from_headers():
    headers = {
        "X-Amzn-Bedrock-Input-Token-Count": "7",
        "X-Amzn-Bedrock-Output-Token-Count": "9",
        "X-Amzn-Bedrock-Cache-Read-Input-Token-Count": "100",
        "X-Amzn-Bedrock-Cache-Write-Input-Token-Count": "20",
    }
    assert PROVIDER.usage_from_headers(headers) == Usage(127, 9, 100, 20, None, None, "provider")
    assert PROVIDER.usage_from_headers({"x-amzn-bedrock-input-token-count": "7"}) == Usage(7, usage_source="provider")
    assert PROVIDER.usage_from_headers({"content-type": "application/json"}) is None


# --- usage of the fake's real answers, exact


@pytest.mark.parametrize(("cache_read", "cache_write"), [(0, 0), (1000, 200)])
def test_usage_of_every_operation(bedrock, cache_read, cache_write):
    bedrock.cache_read, bedrock.cache_write = cache_read, cache_write
    cached = {"cache_read_tokens": cache_read or None, "cache_write_tokens": cache_write or None}
    text = "".join(WORDS[:5])

    status, _, raw, sent = fetch(bedrock, HAIKU, "converse", CONVERSE)
    assert status == 200
    assert PROVIDER.usage_from_body(raw, stream=False) == Usage(
        prompt_tokens(sent) + cache_read + cache_write, 5, **cached, usage_source="provider"
    )

    status, headers, raw, sent = fetch(bedrock, HAIKU, "converse-stream", CONVERSE)
    assert headers["content-type"] == "application/vnd.amazon.eventstream"
    assert PROVIDER.usage_from_body(raw, stream=True) == Usage(
        prompt_tokens(sent) + cache_read + cache_write, 5, **cached, usage_source="provider"
    )
    assert PROVIDER.text_from_events(PROVIDER.events(raw)) == text

    exact = Usage(0, 5, cache_read, cache_write, usage_source="provider")  # natives report zeros, not absences
    status, headers, raw, sent = fetch(bedrock, HAIKU, "invoke", NATIVE)
    exact.input_tokens = prompt_tokens(sent) + cache_read + cache_write
    assert PROVIDER.usage_from_headers(headers) == exact
    assert PROVIDER.usage_from_body(raw, stream=False) == exact

    status, _, raw, sent = fetch(bedrock, HAIKU, "invoke-with-response-stream", NATIVE)
    events = PROVIDER.events(raw)
    assert [e["native"]["type"] for e in events][-1] == "message_stop"
    assert PROVIDER.usage_from_events(events) == exact
    assert PROVIDER.text_from_events(events) == text


def test_events_shape(bedrock):
    _, _, raw, _ = fetch(bedrock, "stream-2", "converse-stream", CONVERSE)
    events = PROVIDER.events(raw)
    assert (events[0]["event"], events[0]["message_type"], events[0]["data"]["role"]) == (
        "messageStart",
        "event",
        "assistant",
    )
    assert events[0]["data"]["p"].isalnum()  # the padding Bedrock adds to mask the length of each event
    assert events[1]["data"]["delta"] == {"text": "Hello"}
    _, _, raw, _ = fetch(bedrock, "stream-2", "invoke-with-response-stream", NATIVE)
    first = PROVIDER.events(raw)[0]
    assert first["event"] == "chunk" and first["native"]["type"] == "message_start"


# --- cut and stitched captures


def test_truncated_converse_stream_keeps_whole_messages(bedrock):
    _, _, raw, _sent = fetch(bedrock, "stream-4", "converse-stream", CONVERSE)
    whole = PROVIDER.events(raw)
    assert len(whole) == 8
    for cut in range(len(raw)):
        events = PROVIDER.events(raw[:cut])
        assert events == whole[: len(events)]  # a prefix of the messages, never a wrong one
    assert PROVIDER.usage_from_body(raw[:-1], stream=True) == Usage()  # the metadata event is lost
    assert PROVIDER.text_from_events(PROVIDER.events(raw[:-1])) == "".join(WORDS[:4])


def test_truncated_invoke_stream_falls_back_to_anthropic_events(bedrock):
    bedrock.cache_read = 30
    _, _, raw, sent = fetch(bedrock, "stream-4", "invoke-with-response-stream", NATIVE)
    events = PROVIDER.events(raw)
    no_metrics = b"".join(eventstream.chunk(e["native"]) for e in events[:-1])
    fresh = prompt_tokens(sent)
    assert PROVIDER.usage_from_body(no_metrics, stream=True) == Usage(fresh + 30, 4, 30, 0, usage_source="provider")
    only_start = eventstream.chunk(events[0]["native"])
    assert PROVIDER.usage_from_body(only_start, stream=True) == Usage(fresh + 30, 1, 30, 0, usage_source="provider")


def test_stitched_capture_resyncs_after_the_gap(bedrock):
    bedrock.cache_write = 64
    _, _, raw, sent = fetch(bedrock, "stream-300", "converse-stream", CONVERSE)
    whole = PROVIDER.events(raw)
    for gap in (len(raw) // 3, len(raw) // 4 + 7):
        # nginx's capture keeps a head and a tail; the provider rejoins them for parsing
        events = PROVIDER.events(PROVIDER.rejoin(Capture(raw[:gap] + raw[-gap:], [gap])))
        assert 0 < len(events) < len(whole)
        assert all(e in whole for e in events)
        assert PROVIDER.usage_from_events(events) == Usage(
            prompt_tokens(sent) + 64, 300, 0, 64, usage_source="provider"
        )


def test_line_joined_capture_still_parses(bedrock):
    """Even the default line-framed rejoin (cuts at 0x0a bytes, adds one) loses only the messages at the gap."""
    _, _, raw, _sent = fetch(bedrock, "stream-300", "converse-stream", CONVERSE)
    gap = len(raw) // 3
    events = PROVIDER.events(Capture(raw[:gap] + raw[-gap:], [gap]).lines_joined())
    assert PROVIDER.usage_from_events(events).output_tokens == 300


def test_garbage_and_empty_bodies():
    import random

    rng = random.Random(7)
    assert PROVIDER.events(b"") == []
    assert PROVIDER.events(bytes(rng.randrange(256) for _ in range(5000))) == []
    assert PROVIDER.usage_from_body(b'{"message": "not a stream"}', stream=True) == Usage()
    valid = eventstream.event("metadata", {"usage": {"inputTokens": 1, "outputTokens": 2}})
    assert PROVIDER.usage_from_body(b"\x00" * 37 + valid + b"\xff" * 3, stream=True) == Usage(
        1, 2, usage_source="provider"
    )


def test_resync_is_fast_and_its_assumption_holds():
    import os
    import time

    from botocore.eventstream import _MAX_HEADERS_LENGTH, _MAX_PAYLOAD_LENGTH

    # the resync jumps to bytes 0x00/0x01: a message's length is below 2**25 or botocore refuses it
    assert 12 + _MAX_HEADERS_LENGTH + _MAX_PAYLOAD_LENGTH + 4 < 2**25
    valid = eventstream.event("metadata", {"usage": {"inputTokens": 1, "outputTokens": 2}})
    body = os.urandom(1024 * 1024) + valid
    start = time.perf_counter()
    assert [e["event"] for e in PROVIDER.events(body)][-1] == "metadata"
    assert time.perf_counter() - start < 1.0  # a capture of 1 MiB of garbage must not stall the sidecar


def test_stream_exceptions_are_events_without_usage():
    raw = eventstream.event("messageStart", {"role": "assistant"}) + eventstream.exception(
        "throttlingException", "Too many tokens"
    )
    events = PROVIDER.events(raw)
    assert events[1] == {
        "event": "throttlingException",
        "message_type": "exception",
        "data": {"message": "Too many tokens"},
    }
    assert PROVIDER.usage_from_events(events) == Usage()


# --- the recorded answers of each operation (tests/fixtures/bedrock/), as a table

OUT = len(TABLE_WORDS)
CACHE = {"cache_read": 1000, "cache_write": 64}
FRESH = Usage(TABLE_PROMPT, OUT, None, None, usage_source="provider")
CACHED = Usage(TABLE_PROMPT + 1064, OUT, 1000, 64, usage_source="provider")
NATIVE_ZEROS = Usage(TABLE_PROMPT, OUT, 0, 0, usage_source="provider")  # Anthropic's native body reports zeros

TABLE = {
    "converse": Case("converse", "response.json", HAIKU, FRESH),
    "converse with cache reads and writes: Bedrock's inputTokens leaves them out": Case(
        "converse", "response.json", HAIKU, CACHED, CACHE
    ),
    "converse with only a cache write reports both counts": Case(
        "converse",
        "response.json",
        HAIKU,
        Usage(TABLE_PROMPT + 64, OUT, 0, 64, usage_source="provider"),
        {"cache_write": 64},
    ),
    "converse-stream: the metadata event": Case("converse_stream", "stream.events.json", HAIKU, CACHED, CACHE),
    "converse-stream cut before its metadata event": Case(
        "converse_stream", "stream.events.json", HAIKU, Usage(), CACHE, cut=1
    ),
    "invoke: Anthropic's native body": Case("invoke", "response.json", "claude-3-haiku-20240307", NATIVE_ZEROS),
    "invoke-with-response-stream: the invocation metrics": Case(
        "invoke_with_response_stream",
        "stream.events.json",
        "claude-3-haiku-20240307",
        Usage(TABLE_PROMPT + 1064, OUT, 1000, 64, usage_source="provider"),
        CACHE,
    ),
    "invoke-with-response-stream cut before the metrics: Anthropic's own events": Case(
        "invoke_with_response_stream",
        "stream.events.json",
        "claude-3-haiku-20240307",
        Usage(TABLE_PROMPT + 1064, OUT, 1000, 64, usage_source="provider"),
        CACHE,
        cut=1,
    ),
}


@pytest.mark.parametrize("name", list(TABLE))
def test_usage_of_recorded_answers(name):
    assert usage_of(PROVIDER, "bedrock", TABLE[name]) == TABLE[name].expected


@pytest.mark.parametrize(("values", "expected"), [({}, NATIVE_ZEROS), (CACHE, CACHED)])
def test_usage_of_the_recorded_invoke_headers(values, expected):
    answer = fixtures.response("bedrock", "invoke", recorded("claude-3-haiku-20240307", **values))
    assert PROVIDER.usage_from_headers(answer.headers) == expected


@pytest.mark.parametrize("status", [400, 403, 404, 408, 424, 429, 500, 503])
def test_recorded_errors_are_botocores_modelled_exceptions_and_the_gateways_share_their_shape(status):
    recorded_error = fixtures.error("bedrock", "converse", status, {})
    c = client("http://bedrock.test")
    intercept(c, lambda req: (status, recorded_error.headers, recorded_error.body))
    code = recorded_error.headers["x-amzn-ErrorType"].split(":")[0]
    with pytest.raises(getattr(c.exceptions, code)) as e:
        c.converse(modelId=HAIKU, **CONVERSE)
    assert e.value.response["Error"]["Message"] == recorded_error.json()["message"]
    ours = json.loads(PROVIDER.error_body(status, "m", ErrorKind.UNAVAILABLE))
    assert ours["message"] == "m" and set(recorded_error.json()) <= set(ours)  # ours adds __type
