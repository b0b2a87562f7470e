"""SigV4 both ways, proven with what boto3 really sends and what the fake Bedrock (botocore) accepts."""

from __future__ import annotations

import http.client
import json
import time
from calendar import timegm
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials, ReadOnlyCredentials

from lmgate.providers import rewritable_headers
from lmgate.sigv4 import SignatureError, parse_authorization, sign_upstream, upstream_host, verify_client_signature
from tests.fakes.bedrock import FakeBedrock, intercept

AKID, SECRET = "AKIAGATEWAYISSUED001", "gateway/issued+secret/0000000000000000000"
GW = "http://gw.example:8080/bedrock"
PREFIX = "/bedrock"
MODEL_IDS = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
    "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
    "arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
]
SESSION = boto3.Session()  # one session: its loader caches the service model across clients
CONVERSE = {"messages": [{"role": "user", "content": [{"text": "hello"}]}]}
NATIVE = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


def client(endpoint: str = GW, akid: str = AKID, secret: str = SECRET, token: str | None = None, region="us-east-1"):
    return SESSION.client(
        "bedrock-runtime",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"total_max_attempts": 1}),
    )


def call(c, op: str, model_id: str) -> None:
    if op == "converse":
        c.converse(modelId=model_id, **CONVERSE)
    elif op == "converse_stream":
        c.converse_stream(modelId=model_id, **CONVERSE)
    elif op == "invoke_model":
        c.invoke_model(modelId=model_id, body=json.dumps(NATIVE))
    else:
        c.invoke_model_with_response_stream(modelId=model_id, body=json.dumps(NATIVE), contentType="application/json")


def as_received(req: AWSPreparedRequest) -> tuple[str, dict[str, str], bytes]:
    """The raw URI, headers (the Host the HTTP client adds included) and body the gateway receives."""
    parts = urlsplit(req.url)
    raw_uri = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in req.headers.items()}
    headers["Host"] = parts.netloc
    return raw_uri, headers, req.body or b""


def signed_at(headers: dict[str, str]) -> float:
    return timegm(time.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))


def lookup(akid: str) -> str | None:
    return {AKID: SECRET}.get(akid)


def captured(op: str = "converse", model_id: str = MODEL_IDS[0], **kw) -> tuple[str, dict[str, str], bytes]:
    c = client(**kw)
    sent = intercept(c)
    call(c, op, model_id)
    return as_received(sent[-1])


# --- the client's signature


@pytest.mark.parametrize("model_id", MODEL_IDS)
@pytest.mark.parametrize("op", ["converse", "converse_stream", "invoke_model", "invoke_model_with_response_stream"])
def test_boto3_signatures_verify(op, model_id):
    raw_uri, headers, body = captured(op, model_id)
    assert raw_uri.startswith(PREFIX + "/model/")
    if ":" in model_id:
        assert "%3A" in raw_uri  # the encoded id, which SigV4 encodes once more
    assert verify_client_signature("POST", raw_uri, headers, body, lookup, signed_at(headers)) == AKID


def test_session_token_and_other_region_verify():
    raw_uri, headers, body = captured(token="client-session-token", region="eu-central-1")
    assert "x-amz-security-token" in parse_authorization(headers["Authorization"]).signed_headers
    assert verify_client_signature("POST", raw_uri, headers, body, lookup, signed_at(headers)) == AKID


def test_https_endpoint_verifies():
    raw_uri, headers, body = captured(endpoint="https://gw.example/bedrock")
    assert headers["Host"] == "gw.example"
    assert verify_client_signature("POST", raw_uri, headers, body, lookup, signed_at(headers)) == AKID


def test_host_seen_by_the_client_can_be_given_apart():
    raw_uri, headers, body = captured()
    proxied = {**headers, "Host": "127.0.0.1:8081"}  # what a proxy in front of the sidecar makes of it
    with pytest.raises(SignatureError):
        verify_client_signature("POST", raw_uri, proxied, body, lookup, signed_at(headers))
    assert verify_client_signature("POST", raw_uri, proxied, body, lookup, signed_at(headers), host=headers["Host"])


def test_wrong_secret_is_refused_without_revealing_secrets():
    raw_uri, headers, body = captured(secret="not-the-issued-secret")
    with pytest.raises(SignatureError) as e:
        verify_client_signature("POST", raw_uri, headers, body, lookup, signed_at(headers))
    assert e.value.code == "InvalidSignatureException"
    assert SECRET not in e.value.message and "not-the-issued-secret" not in e.value.message
    assert AKID not in e.value.message  # masked


def test_unknown_access_key_is_unrecognized():
    raw_uri, headers, body = captured(akid="AKIANOTONTHELIST0001")
    with pytest.raises(SignatureError) as e:
        verify_client_signature("POST", raw_uri, headers, body, lookup, signed_at(headers))
    assert e.value.code == "UnrecognizedClientException"


@pytest.mark.parametrize(("offset", "ok"), [(-14 * 60, True), (14 * 60, True), (16 * 60, False), (-16 * 60, False)])
def test_x_amz_date_must_be_within_15_minutes(offset, ok):
    raw_uri, headers, body = captured()
    now = signed_at(headers) + offset
    if ok:
        assert verify_client_signature("POST", raw_uri, headers, body, lookup, now) == AKID
    else:
        with pytest.raises(SignatureError, match="15 minutes"):
            verify_client_signature("POST", raw_uri, headers, body, lookup, now)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda u, h, b: (u, h, b + b" "),  # body
        lambda u, h, b: (u.replace("haiku", "opus"), h, b),  # model in the path
        lambda u, h, b: (u.removeprefix(PREFIX), h, b),  # the client signed the prefix too
        lambda u, h, b: (u.replace("%3A", ":"), h, b),  # a decoded path is another path
        lambda u, h, b: (u, {**h, "Content-Type": "text/plain"}, b),  # a signed header
        lambda u, h, b: (u, {k: v for k, v in h.items() if k != "Content-Type"}, b),  # a signed header dropped
        lambda u, h, b: (u, {**h, "Host": "evil.example:8080"}, b),
    ],
)
def test_any_change_breaks_the_signature(tamper):
    raw_uri, headers, body = captured()
    raw_uri, headers, body = tamper(raw_uri, headers, body)
    with pytest.raises(SignatureError):
        verify_client_signature("POST", raw_uri, headers, body, lookup, time.time())


def test_unsigned_headers_may_change():
    raw_uri, headers, body = captured()
    headers = {**headers, "User-Agent": "something else", "X-Forwarded-For": "10.0.0.1"}
    assert verify_client_signature("POST", raw_uri, headers, body, lookup, signed_at(headers)) == AKID


@pytest.mark.parametrize(
    "auth",
    [None, "Bearer abc", "AWS4-HMAC-SHA256 Credential=AKIA/x", "AWS4-HMAC-SHA256 Credential=A/1/r/s/aws4_request"],
)
def test_malformed_authorization_is_incomplete(auth):
    raw_uri, headers, body = captured()
    headers = {k: v for k, v in headers.items() if k != "Authorization"}
    if auth:
        headers["Authorization"] = auth
    with pytest.raises(SignatureError) as e:
        verify_client_signature("POST", raw_uri, headers, body, lookup, time.time())
    assert e.value.code == "IncompleteSignatureException"


def test_other_service_scope_is_refused():
    request = AWSRequest("POST", "http://gw.example:8080/bedrock/model/m/converse", data=b"{}")
    SigV4Auth(Credentials(AKID, SECRET), "s3", "us-east-1").add_auth(request)
    headers = {**dict(request.headers), "Host": "gw.example:8080"}
    with pytest.raises(SignatureError, match="service"):
        verify_client_signature("POST", "/bedrock/model/m/converse", headers, b"{}", lookup, time.time())


@pytest.mark.parametrize(("declared", "ok"), [("body", True), ("UNSIGNED-PAYLOAD", False), ("0" * 64, False)])
def test_signed_content_sha256_must_be_the_bodys(declared, ok):
    import hashlib

    body = b'{"messages": []}'
    value = hashlib.sha256(body).hexdigest() if declared == "body" else declared
    request = AWSRequest(
        "POST", "http://gw.example:8080/bedrock/model/m/converse", data=body, headers={"X-Amz-Content-SHA256": value}
    )
    SigV4Auth(Credentials(AKID, SECRET), "bedrock", "us-east-1").add_auth(request)
    headers = {**dict(request.headers), "Host": "gw.example:8080"}
    assert "x-amz-content-sha256" in parse_authorization(headers["Authorization"]).signed_headers
    if ok:
        assert verify_client_signature("POST", "/bedrock/model/m/converse", headers, body, lookup, time.time()) == AKID
    else:
        with pytest.raises(SignatureError, match="SHA-256"):
            verify_client_signature("POST", "/bedrock/model/m/converse", headers, body, lookup, time.time())


def test_repeated_headers_from_a_multidict_are_joined_as_signed():
    from multidict import CIMultiDict

    request = AWSRequest("POST", "http://gw.example/bedrock/model/m/converse", data=b"{}")
    request.headers["X-Custom"] = "a"
    request.headers["X-Custom"] = "b"  # HTTPHeaders keeps both, as a second header line
    SigV4Auth(Credentials(AKID, SECRET), "bedrock", "us-east-1").add_auth(request)
    received = CIMultiDict([*request.headers.items(), ("Host", "gw.example")])
    assert len(received.getall("x-custom")) == 2
    assert verify_client_signature("POST", "/bedrock/model/m/converse", received, b"{}", lookup, time.time()) == AKID


# --- the upstream's signature


def test_upstream_host():
    assert upstream_host("https://bedrock-runtime.us-east-1.amazonaws.com/model/x/converse") == (
        "bedrock-runtime.us-east-1.amazonaws.com"
    )
    assert upstream_host("https://Example.com:443/x") == "example.com"
    assert upstream_host("http://127.0.0.1:9000/x") == "127.0.0.1:9000"


def test_sign_upstream_headers():
    creds = Credentials("AKIAUPSTREAM", "upstream-secret")
    rewrite = sign_upstream(
        "POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse", b"{}", creds, "us-east-1"
    )
    assert set(rewrite.headers) == {"authorization", "x-amz-date"}
    assert set(rewrite.headers) <= set(rewritable_headers())
    auth = parse_authorization(rewrite.headers["authorization"])
    assert (auth.access_key_id, auth.region, auth.service) == ("AKIAUPSTREAM", "us-east-1", "bedrock")
    assert auth.signed_headers == ("host", "x-amz-date")  # nothing the client sends is signed
    assert rewrite.uri is None and rewrite.body is None
    session = sign_upstream("POST", "https://h/model/m/converse", b"{}", ReadOnlyCredentials("A", "s", "tok"), "r")
    assert session.headers["x-amz-security-token"] == "tok"
    assert parse_authorization(session.headers["authorization"]).signed_headers == (
        "host",
        "x-amz-date",
        "x-amz-security-token",
    )


@pytest.fixture(scope="module")
def fake():
    f = FakeBedrock()
    f.start()
    yield f
    f.stop()


@pytest.fixture(scope="module")
def fake_with_token():
    f = FakeBedrock(session_token="upstream-session-token")
    f.start()
    yield f
    f.stop()


def send(base_url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """POST with the path bytes exactly as given (no re-encoding), the Host http.client derives from base_url."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_upstream_signature_is_accepted_by_bedrock(fake, model_id):
    path = f"/model/{quote(model_id, safe='')}/converse"
    body = json.dumps(CONVERSE).encode()
    creds = Credentials(fake.access_key_id, fake.secret_access_key)
    rewrite = sign_upstream("POST", fake.base_url + path, body, creds, fake.region)
    headers = {"Content-Type": "application/json", "User-Agent": "unsigned/1.0", **rewrite.headers}
    status, _, answer = send(fake.base_url, path, body, headers)
    assert status == 200, answer
    assert json.loads(answer)["stopReason"] == "end_turn"
    assert fake.received[-1].raw_path == path


def test_upstream_session_credentials(fake_with_token):
    f = fake_with_token
    creds = ReadOnlyCredentials(f.access_key_id, f.secret_access_key, f.session_token)
    rewrite = sign_upstream("POST", f.base_url + "/model/m/converse", b"{}", creds, f.region)
    assert send(f.base_url, "/model/m/converse", b"{}", rewrite.headers)[0] == 200


@pytest.mark.parametrize(
    ("creds", "region", "code"),
    [
        (("AKIAFAKEBEDROCK00001", "wrong-secret"), "us-east-1", "InvalidSignatureException"),
        (("AKIAFAKEBEDROCK00001", None), "eu-west-1", "InvalidSignatureException"),
        (("AKIAOTHER", "x"), "us-east-1", "UnrecognizedClientException"),
    ],
)
def test_bedrock_refuses_bad_upstream_signatures(fake, creds, region, code):
    akid, secret = creds
    rewrite = sign_upstream(
        "POST", fake.base_url + "/model/m/converse", b"{}", Credentials(akid, secret or fake.secret_access_key), region
    )
    status, headers, _body = send(fake.base_url, "/model/m/converse", b"{}", rewrite.headers)
    assert status == 403
    assert headers["x-amzn-errortype"].startswith(code + ":")


def test_body_changed_after_signing_is_refused(fake):
    creds = Credentials(fake.access_key_id, fake.secret_access_key)
    rewrite = sign_upstream("POST", fake.base_url + "/model/m/converse", b"{}", creds, fake.region)
    status, _, body = send(fake.base_url, "/model/m/converse", b'{"x":1}', rewrite.headers)
    assert status == 403 and b"signature we calculated does not match" in body


# --- the whole gateway path: boto3 -> verify the client's signature -> re-sign -> Bedrock -> boto3


@pytest.mark.parametrize("model_id", MODEL_IDS)
@pytest.mark.parametrize("op", ["converse", "converse_stream", "invoke_model", "invoke_model_with_response_stream"])
def test_resigned_request_round_trip(fake, op, model_id):
    upstream = Credentials(fake.access_key_id, fake.secret_access_key)

    def gateway(req: AWSPreparedRequest) -> tuple[int, dict[str, str], bytes]:
        raw_uri, headers, body = as_received(req)
        verify_client_signature("POST", raw_uri, headers, body, lookup, time.time())
        path = raw_uri.removeprefix(PREFIX)
        rewrite = sign_upstream("POST", fake.base_url + path, body, upstream, fake.region)
        # nginx: the client's headers, the rewritable ones replaced, Host = the upstream's
        passed = {k: v for k, v in headers.items() if k.lower() not in (*rewritable_headers(), "host")}
        return send(fake.base_url, path, body, {**passed, **rewrite.headers})

    fake.chunk_delay = 0
    c = client()
    intercept(c, gateway)
    if op == "converse":
        assert c.converse(modelId=model_id, **CONVERSE)["stopReason"] == "end_turn"
    elif op == "converse_stream":
        events = list(c.converse_stream(modelId=model_id, **CONVERSE)["stream"])
        assert "metadata" in events[-1]
    elif op == "invoke_model":
        assert json.loads(c.invoke_model(modelId=model_id, body=json.dumps(NATIVE))["body"].read())["type"] == "message"
    else:
        events = list(c.invoke_model_with_response_stream(modelId=model_id, body=json.dumps(NATIVE))["body"])
        assert json.loads(events[-1]["chunk"]["bytes"])["type"] == "message_stop"
    assert fake.received[-1].header("Authorization").startswith("AWS4-HMAC-SHA256 Credential=" + fake.access_key_id)
    fake.clear()
