"""Amazon Bedrock through the gateway, end to end: boto3's ``bedrock-runtime`` client, real nginx + njs + sidecar,
and the fake Bedrock, which checks the gateway's upstream SigV4 signature as AWS does.

Clients authenticate with an AWS key pair the gateway issued (allow-list ``api_key`` = access key id,
``client_secret`` = ``env:``/``file:`` reference; the sidecar verifies their signature), or with a gateway
key as a Bedrock API key (``AWS_BEARER_TOKEN_BEDROCK``, which boto3 sends only over HTTPS: the gateway's
TLS listener). The gateway re-signs every request with its own AWS credentials.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import quote

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.certs import make_ca_and_cert
from tests.e2e.harness import Gateway, allowlist_csv, free_port, wait_for
from tests.e2e.test_accounting import PRICES, expected_cost, tokens
from tests.fakes.bedrock import BAD_SIGNATURE, FakeBedrock

REGION = "us-east-1"
MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"  # priced in model_prices.json (bedrock_converse)
HAIKU = "anthropic.claude-3-5-haiku-20241022-v1:0"  # priced too (bedrock)
HAIKU_ARN = f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU}"
TEXT = "Hello from the fake upstream"  # the fake's five chunks

# the gateway's own AWS accounts, which the fake Bedrock accepts
UPSTREAM_AKID, UPSTREAM_SECRET = "AKIAUPSTREAMTEST0001", "upstream/test+secret0000000000000000000000"
TEAM_AKID, TEAM_SECRET = "AKIAUPSTREAMTEAMB001", "upstream/team-b+secret00000000000000000000"
# what the gateway issued to its clients: AWS key pairs (SigV4) and a Bedrock API key (bearer)
ENV_AKID, ENV_SECRET = "AKIALMGATEENVTEST001", "issued/env+client0secret000000000000000000"
FILE_AKID, FILE_SECRET = "AKIALMGATEFILETEST01", "issued/file+client0secret00000000000000000"
API_KEY = "lmgate-bedrock-api-key-0123456789abcdef"
SECRETS = (UPSTREAM_SECRET, TEAM_SECRET, ENV_SECRET, FILE_SECRET, API_KEY)
ENV = {"TEST_BEDROCK_UPSTREAM_SECRET": UPSTREAM_SECRET, "TEST_BEDROCK_CLIENT_SECRET": ENV_SECRET}
ENV_REF = "env:TEST_BEDROCK_CLIENT_SECRET"
UNSET_REF = "env:TEST_BEDROCK_UNSET"  # never set in the sidecar's environment

NO_RETRY = Config(retries={"total_max_attempts": 1})  # one attempt: refusals are counted exactly
MESSAGES = [{"role": "user", "content": [{"text": "hi there"}]}]
NATIVE = json.dumps(
    {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
)
OPS = {
    "converse": "converse",
    "converse_stream": "converse-stream",
    "invoke_model": "invoke",
    "invoke_model_with_response_stream": "invoke-with-response-stream",
}


@dataclass
class Setup:
    gw: Gateway
    ca: str
    rows: list[tuple]


def provider_settings(upstream: str, owner_aws: dict | None = None) -> dict:
    entry = {
        "upstream": upstream,
        "region": REGION,
        "aws": {"access_key_id": UPSTREAM_AKID, "secret_access_key": "env:TEST_BEDROCK_UPSTREAM_SECRET"},
    }
    if owner_aws:
        entry["owner_aws"] = owner_aws
    return {"bedrock": entry}


def base_rows(client_secret_file) -> list[tuple]:
    return [
        ("aws-env", ENV_AKID, "team-a", {"client_secret": ENV_REF}),
        ("aws-file", FILE_AKID, "team-a", {"client_secret": f"file:{client_secret_file}"}),
        ("api-key", API_KEY, "team-a"),
    ]


@pytest.fixture(scope="module")
def bedrock():
    fb = FakeBedrock(UPSTREAM_AKID, UPSTREAM_SECRET, REGION, accounts={TEAM_AKID: TEAM_SECRET})
    fb.start()
    yield fb
    fb.stop()


@pytest.fixture(scope="module")
def setup(bedrock, fake, tmp_path_factory):
    """A gateway with Bedrock on the fake, a TLS listener, and per-owner signing accounts."""
    secrets = tmp_path_factory.mktemp("secrets")
    (secrets / "client").write_text(FILE_SECRET + "\n")  # as `echo` writes it
    (secrets / "team-b").write_text(TEAM_SECRET)
    ca, cert, key = make_ca_and_cert(tmp_path_factory.mktemp("pki"))
    owner_aws = {
        "team-b": {"access_key_id": TEAM_AKID, "secret_access_key": f"file:{secrets / 'team-b'}"},
        "broke": {"access_key_id": TEAM_AKID, "secret_access_key": UNSET_REF},
    }
    settings = {
        "server": {"tls_port": free_port(), "tls_cert": str(cert), "tls_key": str(key)},
        "providers": provider_settings(bedrock.base_url, owner_aws),
    }
    gw = Gateway(tmp_path_factory.mktemp("bedrock-gw"), fake.base_url, settings, env=ENV)
    rows = base_rows(secrets / "client")
    gw.write_allowlist(rows)
    gw.start()
    yield Setup(gw, str(ca), rows)
    gw.stop()


@pytest.fixture
def s(setup, bedrock, monkeypatch, tmp_path):
    """The module's gateway with a clean fake, boto3 kept from any AWS settings of the machine."""
    for var in ("AWS_BEARER_TOKEN_BEDROCK", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    bedrock.clear()
    setup.gw.mark_stats()
    yield setup
    if setup.gw.allowlist.read_text() != allowlist_csv(setup.rows):
        setup.gw.write_allowlist(setup.rows)


def sigv4_client(base_url: str, akid: str, secret: str, **kw):
    """boto3 as an application uses it; only the endpoint points at the gateway."""
    return boto3.client(
        "bedrock-runtime",
        region_name=REGION,
        endpoint_url=base_url + "/bedrock",
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        config=NO_RETRY,
        **kw,
    )


def bearer_client(s: Setup, monkeypatch, token: str):
    """boto3 with a Bedrock API key: the AWS_BEARER_TOKEN_BEDROCK variable, HTTPS only."""
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", token)
    return boto3.client(
        "bedrock-runtime", region_name=REGION, endpoint_url=s.gw.https_url + "/bedrock", verify=s.ca, config=NO_RETRY
    )


@dataclass
class Answer:
    text: str
    fresh: int  # Bedrock's input count: the prompt tokens neither read from nor written to the cache
    output: int
    cache_read: int
    cache_write: int
    arrivals: list[float]
    request_id: str


def call(client, op: str, model: str = MODEL) -> Answer:
    """One of the four inference operations, read as an application would; the usage as the client saw it."""
    text: list[str] = []
    arrivals: list[float] = []
    if op == "converse":
        r = client.converse(modelId=model, messages=MESSAGES)
        u = r["usage"]
        text.append(r["output"]["message"]["content"][0]["text"])
        counts = (
            u["inputTokens"],
            u["outputTokens"],
            u.get("cacheReadInputTokens", 0),
            u.get("cacheWriteInputTokens", 0),
        )
    elif op == "converse_stream":
        r = client.converse_stream(modelId=model, messages=MESSAGES)
        u = None
        for event in r["stream"]:
            arrivals.append(time.monotonic())
            if "contentBlockDelta" in event:
                text.append(event["contentBlockDelta"]["delta"]["text"])
            if "metadata" in event:
                u = event["metadata"]["usage"]
        assert u is not None, "no metadata event"
        counts = (
            u["inputTokens"],
            u["outputTokens"],
            u.get("cacheReadInputTokens", 0),
            u.get("cacheWriteInputTokens", 0),
        )
    elif op == "invoke_model":
        r = client.invoke_model(modelId=model, body=NATIVE)
        doc = json.loads(r["body"].read())
        text.append(doc["content"][0]["text"])
        h = r["ResponseMetadata"]["HTTPHeaders"]
        counts = tuple(
            int(h[f"x-amzn-bedrock-{name}-token-count"])
            for name in ("input", "output", "cache-read-input", "cache-write-input")
        )
    else:
        r = client.invoke_model_with_response_stream(modelId=model, body=NATIVE)
        metrics = None
        for event in r["body"]:
            arrivals.append(time.monotonic())
            native = json.loads(event["chunk"]["bytes"])
            if native["type"] == "content_block_delta":
                text.append(native["delta"]["text"])
            metrics = native.get("amazon-bedrock-invocationMetrics", metrics)
        assert metrics is not None, "no invocation metrics"
        counts = tuple(
            metrics[f"{name}TokenCount"] for name in ("input", "output", "cacheReadInput", "cacheWriteInput")
        )
    rid = r["ResponseMetadata"]["HTTPHeaders"]["x-lmgate-request-id"]
    return Answer("".join(text), *counts, arrivals=arrivals, request_id=rid)


def converse(client, model: str = MODEL, **kw) -> dict:
    return client.converse(modelId=model, messages=MESSAGES, **kw)


def error_of(e: pytest.ExceptionInfo) -> tuple[int, str, str]:
    resp = e.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


def masked(key: str) -> str:
    """How keys appear on stats lines and in messages: the last 6 characters, at most a quarter of the key."""
    return "…" + key[-min(6, len(key) // 4) :]


def sent_headers(received) -> str:
    return "\n".join(f"{k}: {v}" for k, v in received.headers)


# --- the four operations, each way of authenticating


AUTHS = {
    # auth -> (key id on the stats line, the key the client holds)
    "sigv4-env-secret": ("aws-env", ENV_AKID),
    "sigv4-file-secret-over-tls": ("aws-file", FILE_AKID),
    "bearer-api-key-over-tls": ("api-key", API_KEY),
}


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("auth", list(AUTHS))
def test_boto3_operation_is_served_signed_streamed_and_accounted(s, bedrock, monkeypatch, auth, op):
    bedrock.chunk_delay = 0.1
    bedrock.cache_read, bedrock.cache_write = 10, 20
    if auth == "sigv4-env-secret":
        client = sigv4_client(s.gw.url, ENV_AKID, ENV_SECRET)
    elif auth == "sigv4-file-secret-over-tls":
        client = sigv4_client(s.gw.https_url, FILE_AKID, FILE_SECRET, verify=s.ca)
    else:
        client = bearer_client(s, monkeypatch, API_KEY)
    key_id, client_key = AUTHS[auth]

    answer = call(client, op)

    assert answer.text == TEXT
    assert (answer.cache_read, answer.cache_write) == (10, 20)
    # the fake verified the gateway's signature, made with the gateway's key, over the path without the prefix
    assert len(bedrock.received) == 1
    got = bedrock.received[0]
    assert got.raw_path == f"/model/{quote(MODEL, safe='')}/{OPS[op]}"
    assert got.header("authorization").startswith(f"AWS4-HMAC-SHA256 Credential={UPSTREAM_AKID}/")
    for secret in (client_key, *SECRETS):  # nothing of the client's credentials travels on
        assert secret not in sent_headers(got)
    if op.endswith("stream"):
        assert len(answer.arrivals) >= 8
        spread = answer.arrivals[-1] - answer.arrivals[0]
        assert spread >= 0.1 * (len(answer.arrivals) - 2), f"events were buffered: all within {spread:.3f}s"

    line = s.gw.stats_for(answer.request_id)
    assert (line["provider"], line["key_id"], line["owner"], line["status"]) == ("bedrock", key_id, "team-a", 200)
    assert (line["model"], line["stream"], line["error_type"]) == (MODEL, op.endswith("stream"), None)
    assert line["endpoint"] == got.raw_path
    assert line["masked_key"] == masked(client_key)
    total_in = answer.fresh + 10 + 20  # Bedrock's input count leaves out the cached tokens
    assert tokens(line) == (total_in, answer.output, 10, 20, None)
    assert line["usage_source"] == "provider"
    assert MODEL in PRICES
    assert line["cost_usd"] == pytest.approx(expected_cost(MODEL, total_in, answer.output, 10, 20))


def test_without_cache_activity_converse_reports_no_cache_counts(s, bedrock):
    answer = call(sigv4_client(s.gw.url, ENV_AKID, ENV_SECRET), "converse")
    line = s.gw.stats_for(answer.request_id)
    assert tokens(line) == (answer.fresh, answer.output, None, None, None)
    assert line["cost_usd"] == pytest.approx(expected_cost(MODEL, answer.fresh, answer.output))


# --- refusals at the gateway: Bedrock's error shape, nothing forwarded


@pytest.mark.parametrize(("akid", "key_id"), [(ENV_AKID, "aws-env"), (FILE_AKID, "aws-file")])
def test_wrong_client_secret_is_401_invalid_signature_and_nothing_forwarded(s, bedrock, akid, key_id):
    client = sigv4_client(s.gw.url, akid, "issued/wrong+secret00000000000000000000000")
    with pytest.raises(ClientError) as e:
        converse(client)
    status, code, message = error_of(e)
    assert (status, code) == (401, "InvalidSignatureException")
    assert "signature does not match" in message and masked(akid) in message
    assert bedrock.received == []
    line = s.gw.next_stats()[0]
    assert (line["status"], line["error_type"], line["key_id"], line["model"]) == (401, "unauthorized", key_id, None)


def test_unknown_access_key_id_is_401_unrecognized_client(s, bedrock):
    with pytest.raises(ClientError) as e:
        converse(sigv4_client(s.gw.url, "AKIANOTISSUED0000001", ENV_SECRET))
    status, code, message = error_of(e)
    assert (status, code) == (401, "UnrecognizedClientException")
    assert "allow-list" in message
    assert bedrock.received == []
    line = s.gw.next_stats()[0]
    assert (line["status"], line["error_type"], line["key_id"]) == (401, "unauthorized", None)


def test_an_issued_key_id_is_no_bearer_token_and_an_api_key_cannot_sign(s, bedrock, monkeypatch):
    # the access key id travels in clear in every signed request: alone it must open nothing
    with pytest.raises(ClientError) as e:
        converse(bearer_client(s, monkeypatch, ENV_AKID))
    status, code, message = error_of(e)
    assert (status, code) == (401, "UnrecognizedClientException") and "must sign" in message
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK")
    with pytest.raises(ClientError) as e:
        converse(sigv4_client(s.gw.url, API_KEY, "any-secret"))
    status, code, message = error_of(e)
    assert (status, code) == (401, "UnrecognizedClientException") and "bearer" in message
    assert bedrock.received == []
    assert [x["status"] for x in s.gw.next_stats(2)] == [401, 401]


def test_unreadable_client_secret_is_503_service_unavailable(s, bedrock):
    akid = "AKIALMGATEUNSETREF01"
    s.gw.write_allowlist([*s.rows, ("aws-unset", akid, "team-a", {"client_secret": UNSET_REF})])
    with pytest.raises(ClientError) as e:
        converse(sigv4_client(s.gw.url, akid, ENV_SECRET))
    status, code, message = error_of(e)
    assert (status, code) == (503, "ServiceUnavailableException")
    assert "TEST_BEDROCK_UNSET" not in message  # the operator's business, in the sidecar log
    assert "env:TEST_BEDROCK_UNSET" in s.gw.sidecar_log()
    assert bedrock.received == []
    line = s.gw.next_stats()[0]
    assert (line["status"], line["error_type"], line["key_id"]) == (503, "unavailable", "aws-unset")


def haiku_only(s: Setup):
    """boto3 with an issued key pair whose key may use Claude 3.5 Haiku only."""
    akid = "AKIALMGATEHAIKUONLY1"
    row = ("haiku-only", akid, "team-a", {"client_secret": ENV_REF, "models": "anthropic.claude-3-5-haiku-*"})
    s.gw.write_allowlist([*s.rows, row])
    return sigv4_client(s.gw.url, akid, ENV_SECRET)


def test_model_rules_apply_to_the_model_in_the_path_arns_included(s, bedrock):
    client = haiku_only(s)
    with pytest.raises(client.exceptions.AccessDeniedException) as e:
        converse(client)
    status, code, message = error_of(e)
    assert (status, code) == (403, "AccessDeniedException")
    assert MODEL in message and "anthropic.claude-3-5-haiku-*" in message
    assert bedrock.received == []
    # a foundation-model ARN (URL-encoded in the path, signed both ways as such) names an allowed model
    answer = call(client, "converse", model=HAIKU_ARN)
    assert answer.text == TEXT
    assert [r.raw_path for r in bedrock.received] == [f"/model/{quote(HAIKU_ARN, safe='')}/converse"]
    refused, served = s.gw.next_stats(2)
    assert (refused["status"], refused["error_type"], refused["model"]) == (403, "model_not_allowed", MODEL)
    assert (served["status"], served["model"]) == (200, HAIKU)
    assert served["cost_usd"] == pytest.approx(expected_cost(HAIKU, answer.fresh, answer.output))


def test_a_model_id_with_dot_segments_is_refused_before_it_is_judged(s, bedrock):
    client = haiku_only(s)
    # boto3 sends the id in one segment, its '/' as %2F: the glob matches, a resolving upstream runs MODEL
    with pytest.raises(client.exceptions.ValidationException) as e:
        converse(client, model=f"{HAIKU_ARN}/../../{MODEL}")
    status, code, message = error_of(e)
    assert (status, code) == (400, "ValidationException") and "'..'" in message
    assert bedrock.received == []
    assert call(client, "converse", model=HAIKU_ARN).text == TEXT  # %3A and %2F in a plain ARN stay fine
    refused, served = s.gw.next_stats(2)
    assert (refused["status"], refused["error_type"], served["status"]) == (400, "invalid_request", 200)


def test_budget_refuses_with_service_quota_exceeded_once_spent(s, bedrock):
    akid = "AKIALMGATETHRIFTY001"
    row = ("thrifty", akid, "team-a", {"client_secret": ENV_REF, "budget_usd": "0.0001", "budget_period": "total"})
    s.gw.write_allowlist([*s.rows, row])
    client = sigv4_client(s.gw.url, akid, ENV_SECRET)
    converse(client, inferenceConfig={"maxTokens": 1})  # its hold (budget_mode reserve) fits the budget
    first = s.gw.next_stats()[0]
    assert first["cost_usd"] > 0.0001  # the spend reaches the budget through the stats path
    with pytest.raises(ClientError) as e:
        converse(client)
    status, code, message = error_of(e)
    assert (status, code) == (400, "ServiceQuotaExceededException")  # as Bedrock answers it, not retried
    assert "budget" in message and "0.0001" in message
    assert len(bedrock.received) == 1
    line = s.gw.next_stats()[0]
    assert (line["status"], line["error_type"], line["key_id"]) == (400, "budget_exceeded", "thrifty")


# --- the gateway's own AWS credentials


def test_owner_aws_signs_with_the_teams_account(s, bedrock):
    akid = "AKIALMGATETEAMB00001"
    s.gw.write_allowlist([*s.rows, ("team-b-app", akid, "team-b", {"client_secret": ENV_REF})])
    assert call(sigv4_client(s.gw.url, akid, ENV_SECRET), "converse").text == TEXT
    assert call(sigv4_client(s.gw.url, ENV_AKID, ENV_SECRET), "converse").text == TEXT
    credentials = [r.header("authorization").split("/", 1)[0] for r in bedrock.received]
    assert credentials == [f"AWS4-HMAC-SHA256 Credential={TEAM_AKID}", f"AWS4-HMAC-SHA256 Credential={UPSTREAM_AKID}"]
    lines = s.gw.next_stats(2)
    assert [(x["key_id"], x["owner"], x["status"]) for x in lines] == [
        ("team-b-app", "team-b", 200),
        ("aws-env", "team-a", 200),
    ]


def test_unresolvable_signing_secret_is_503_and_nothing_forwarded(s, bedrock):
    akid = "AKIALMGATEBROKE00001"
    s.gw.write_allowlist([*s.rows, ("broke-app", akid, "broke", {"client_secret": ENV_REF})])
    with pytest.raises(ClientError) as e:
        converse(sigv4_client(s.gw.url, akid, ENV_SECRET))
    status, code, message = error_of(e)
    assert (status, code) == (503, "ServiceUnavailableException")
    assert "TEST_BEDROCK_UNSET" not in message
    assert bedrock.received == []
    line = s.gw.next_stats()[0]
    assert (line["status"], line["key_id"], line["error_type"]) == (503, "broke-app", "unavailable")


def test_a_wrong_upstream_secret_is_refused_by_the_fake_bedrock(bedrock, fake, tmp_path):
    """The gateway signs with a secret AWS does not know: the client's request passes the gateway, the fake
    refuses the gateway's signature, and boto3 raises Bedrock's own error."""
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(FILE_SECRET)
    env = {**ENV, "TEST_BEDROCK_UPSTREAM_SECRET": "upstream/not+the0secret000000000000000000"}
    gw = Gateway(tmp_path / "gw", fake.base_url, {"providers": provider_settings(bedrock.base_url)}, env=env)
    gw.write_allowlist(base_rows(secret_file))
    gw.start()
    try:
        bedrock.clear()
        for op in ("converse", "converse_stream"):
            with pytest.raises(ClientError) as e:
                call(sigv4_client(gw.url, ENV_AKID, ENV_SECRET), op)
            assert error_of(e) == (403, "InvalidSignatureException", BAD_SIGNATURE)
        assert len(bedrock.received) == 2, "the gateway forwarded both: the fake refused them"
        assert all(f"Credential={UPSTREAM_AKID}/" in r.header("authorization") for r in bedrock.received)
        lines = gw.next_stats(2)
        assert [(x["status"], x["error_type"], x["key_id"]) for x in lines] == [(403, "upstream_error", "aws-env")] * 2
    finally:
        gw.stop()


def test_no_secret_or_whole_key_reaches_the_stats_or_the_logs(s, bedrock, monkeypatch):
    call(sigv4_client(s.gw.url, ENV_AKID, ENV_SECRET), "converse_stream")
    with pytest.raises(ClientError):
        converse(sigv4_client(s.gw.url, FILE_AKID, "issued/wrong+secret00000000000000000000000"))
    call(bearer_client(s, monkeypatch, API_KEY), "invoke_model")
    s.gw.next_stats(3)
    stats = s.gw.stats_path.read_text()
    logs = s.gw.sidecar_log() + s.gw.nginx_log()
    for secret in SECRETS:
        assert secret not in stats + logs
    for akid in (ENV_AKID, FILE_AKID):  # keys appear masked on the stats lines
        assert akid not in stats and masked(akid) in stats


def test_dlp_redacts_converse_text_and_the_gateway_signs_the_redacted_bytes(s, bedrock):
    akid = "AKIALMGATEDLPREDACT1"
    s.gw.write_allowlist([*s.rows, ("redacting", akid, "team-a", {"client_secret": ENV_REF, "dlp": "redact"})])
    wait_for(lambda: "DLP scanner ready" in s.gw.sidecar_log(), timeout=60, what="the DLP scanner to start")
    client = sigv4_client(s.gw.url, akid, ENV_SECRET)
    client.converse(
        modelId=MODEL,
        system=[{"text": "Reply to jane.doe@example.com"}],
        messages=[{"role": "user", "content": [{"text": "my card is 4111 1111 1111 1111"}]}],
    )
    # the fake accepted the gateway's signature: it covers the redacted body, not the client's
    sent = json.loads(bedrock.received[-1].body)
    assert sent["system"] == [{"text": "Reply to <EMAIL_ADDRESS>"}]
    assert sent["messages"][0]["content"] == [{"text": "my card is <CREDIT_CARD>"}]
    line = s.gw.next_stats()[0]
    assert line["status"] == 200 and line["dlp"]["findings"] == {"CREDIT_CARD": 1, "EMAIL_ADDRESS": 1}


def test_dlp_redacts_converse_tool_calls_tool_results_and_text_documents(s, bedrock):
    akid = "AKIALMGATEDLPREDACT2"
    s.gw.write_allowlist([*s.rows, ("redacting", akid, "team-a", {"client_secret": ENV_REF, "dlp": "redact"})])
    wait_for(lambda: "DLP scanner ready" in s.gw.sidecar_log(), timeout=60, what="the DLP scanner to start")
    sigv4_client(s.gw.url, akid, ENV_SECRET).converse(
        modelId=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"document": {"format": "txt", "name": "notes", "source": {"text": "card 4111 1111 1111 1111"}}},
                    {"text": "who is the customer?"},
                ],
            },
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "crm", "input": {"id": 7}}}]},
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "t1", "content": [{"json": {"mail": "jane.doe@example.com"}}]}}
                ],
            },
        ],
    )
    sent = json.loads(bedrock.received[-1].body)
    assert sent["messages"][0]["content"][0]["document"]["source"] == {"text": "card <CREDIT_CARD>"}
    assert sent["messages"][2]["content"][0]["toolResult"]["content"] == [{"json": {"mail": "<EMAIL_ADDRESS>"}}]
    line = s.gw.next_stats()[0]
    assert line["status"] == 200 and line["dlp"]["findings"] == {"CREDIT_CARD": 1, "EMAIL_ADDRESS": 1}
