"""Only the checked key reaches a provider: a request carrying a second credential is refused, whole.

nginx forwards every header and the query as the client sent them, and the gateway
checks one key. A second credential (another key header, a repeated header, a
``?key=`` next to a header, Google's ``?access_token=``) would ride along unchecked,
so the request is refused with 401 in the provider's shape and nothing is forwarded.
The fake upstream records what arrives: the tests look at which credentials reached it.
"""

from __future__ import annotations

import http.client
from urllib.parse import parse_qsl

import anthropic
import openai
import orjson
import pytest

from tests.e2e.conftest import KEYS
from tests.e2e.test_gateway import claude, gemini, oai

UNLISTED = "sk-test-unlisted-second-key-0123456789"
HI = [{"role": "user", "content": "hi"}]
GEMINI_BODY = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
ANTHROPIC_BODY = orjson.dumps({"model": "claude-haiku-4-5", "max_tokens": 8, "messages": HI})
CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key", "ocp-apim-subscription-key")
CREDENTIAL_PARAMS = ("key", "access_token", "oauth_token", "subscription-key")


def send(gw, path: str, headers: list[tuple[str, str]], body: bytes = b"") -> tuple[int, bytes, str]:
    """A raw request whose headers may repeat (SDKs cannot send these): status, body, request id."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
    conn.putrequest("POST", path, skip_accept_encoding=True)
    for name, value in [*headers, ("Content-Type", "application/json"), ("Content-Length", str(len(body)))]:
        conn.putheader(name, value)
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data, resp.getheader("X-Lmgate-Request-Id") or ""


def credentials_upstream(received) -> list[tuple[str, str]]:
    """Every credential a request that reached the fake upstream carried: (place, value)."""
    found = [(k.lower(), v) for k, v in received.headers if k.lower() in CREDENTIAL_HEADERS]
    query = received.raw_path.partition("?")[2]
    return found + [("?" + k, v) for k, v in parse_qsl(query) if k in CREDENTIAL_PARAMS]


def assert_refused_naming(gw, fake, status: int, data: bytes, rid: str, *places: str) -> dict:
    assert status == 401, data
    assert fake.received == [], "nothing of a refused request reaches the provider"
    text = data.decode()
    for place in places:
        assert place in text, text
    assert "more than one credential" in text
    for key in (*KEYS.values(), UNLISTED):
        assert key not in text, "the refusal names places, never values"
    line = gw.stats_for(rid)
    assert (line["status"], line["error_type"]) == (401, "unauthorized")
    return orjson.loads(data)


# --- the cases of issue 13, each refused


def test_anthropic_x_api_key_with_a_second_bearer_is_refused_through_the_sdk(gw, fake):
    # the SDK sends the api_key as a bearer token; default_headers adds the listed x-api-key next to it
    client = anthropic.Anthropic(
        base_url=gw.url + "/anthropic",
        api_key=UNLISTED,
        default_headers={"x-api-key": KEYS["anthropic"]},
        max_retries=0,
    )
    with pytest.raises(anthropic.AuthenticationError) as e:
        client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=HI)
    assert "more than one credential" in str(e.value) and "x-api-key header" in str(e.value)
    assert UNLISTED not in str(e.value) and KEYS["anthropic"] not in str(e.value)
    assert fake.received == []
    line = gw.next_stats()[0]
    assert (line["status"], line["error_type"], line["key_id"]) == (401, "unauthorized", None)


def test_azure_api_key_with_a_second_authorization_is_refused_through_the_sdk(gw, fake):
    client = openai.AzureOpenAI(
        azure_endpoint=gw.url + "/azure",
        api_key=KEYS["azure"],
        api_version="2024-10-21",
        default_headers={"Authorization": f"Bearer {UNLISTED}"},
        max_retries=0,
    )
    with pytest.raises(openai.AuthenticationError) as e:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert "api-key header" in str(e.value) and "authorization header" in str(e.value)
    assert fake.received == []


@pytest.mark.parametrize(
    ("path", "headers", "places"),
    [
        pytest.param(
            "/gemini/v1beta/models/gemini-2.0-flash:generateContent?key=" + UNLISTED,
            [("x-goog-api-key", KEYS["gemini"])],
            ["x-goog-api-key header", "?key= query parameter"],
            id="gemini-header-and-query-key",
        ),
        pytest.param(
            f"/gemini/v1beta/models/gemini-2.0-flash:generateContent?key={KEYS['gemini']}&key={UNLISTED}",
            [],
            ["?key= query parameter (2 copies)"],
            id="gemini-two-query-keys",
        ),
        pytest.param(
            # parse_qsl and Google decode a parameter's name: %6Bey is key
            "/gemini/v1beta/models/gemini-2.0-flash:generateContent?alt=sse&%6Bey=" + UNLISTED,
            [("x-goog-api-key", KEYS["gemini"])],
            ["x-goog-api-key header", "?key= query parameter"],
            id="gemini-percent-encoded-key-name",
        ),
        pytest.param(
            "/gemini/v1beta/models/gemini-2.0-flash:generateContent?access_token=ya29.unlisted-oauth-token",
            [("x-goog-api-key", KEYS["gemini"])],
            ["x-goog-api-key header", "?access_token= query parameter"],
            id="gemini-key-and-oauth-access-token",
        ),
        pytest.param(
            "/azure/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
            [("api-key", KEYS["azure"]), ("Ocp-Apim-Subscription-Key", UNLISTED)],
            ["api-key header", "ocp-apim-subscription-key header"],
            id="azure-api-key-and-subscription-key",
        ),
        pytest.param(
            "/groq/v1/chat/completions",  # an OpenAI-compatible upstream may read any of the usual places
            [("Authorization", f"Bearer {KEYS['openai']}"), ("x-goog-api-key", UNLISTED)],
            ["authorization header", "x-goog-api-key header"],
            id="compatible-bearer-and-google-key",
        ),
    ],
)
def test_a_second_credential_in_the_query_or_another_header_is_refused(gw, fake, path, headers, places):
    status, data, rid = send(gw, path, headers, GEMINI_BODY)
    assert_refused_naming(gw, fake, status, data, rid, *places)


def test_two_x_api_key_headers_are_refused_even_when_equal(gw, fake):
    listed = ("x-api-key", KEYS["anthropic"])
    status, data, rid = send(gw, "/anthropic/v1/messages", [listed, ("x-api-key", UNLISTED)], ANTHROPIC_BODY)
    doc = assert_refused_naming(gw, fake, status, data, rid, "x-api-key header (2 copies)")
    assert doc["type"] == "error" and doc["error"]["type"] == "authentication_error"
    status, data, rid = send(gw, "/anthropic/v1/messages", [listed, listed], ANTHROPIC_BODY)
    assert_refused_naming(gw, fake, status, data, rid, "x-api-key header (2 copies)")


def test_a_basic_authorization_next_to_a_key_is_a_second_credential(gw, fake):
    # not a key the allow-list could match, but an upstream (or a proxy before it) may accept it
    headers = [("x-api-key", KEYS["anthropic"]), ("Authorization", "Basic dXNlcjpwYXNz")]
    status, data, rid = send(gw, "/anthropic/v1/messages", headers, ANTHROPIC_BODY)
    assert_refused_naming(gw, fake, status, data, rid, "x-api-key header", "authorization header")


# --- what the official SDKs send is one credential, and that one alone reaches the provider


def test_each_sdk_sends_one_credential_and_only_the_checked_one_arrives(gw, fake):
    oai(gw).chat.completions.create(model="gpt-4o-mini", messages=HI)
    claude(gw).messages.create(model="claude-haiku-4-5", max_tokens=8, messages=HI)
    bearer = anthropic.Anthropic(base_url=gw.url + "/anthropic", auth_token=KEYS["anthropic"], max_retries=0)
    bearer.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=HI)
    client = gemini(gw)  # held: a collected client closes its connection
    client.models.generate_content(model="gemini-2.0-flash", contents="hi")
    list(client.models.generate_content_stream(model="gemini-2.0-flash", contents="hi"))
    azure = openai.AzureOpenAI(azure_endpoint=gw.url + "/azure", api_key=KEYS["azure"], api_version="2024-10-21")
    azure.chat.completions.create(model="gpt-4o-mini", messages=HI)
    key_of = [KEYS[p] for p in ("openai", "anthropic", "anthropic", "gemini", "gemini", "azure")]
    assert len(fake.received) == len(key_of)
    for got, key in zip(fake.received, key_of, strict=True):
        creds = credentials_upstream(got)
        assert len(creds) == 1 and creds[0][1].removeprefix("Bearer ") == key, (got.raw_path, creds)
    lines = gw.next_stats(len(key_of))
    assert all(x["status"] == 200 for x in lines)


def test_an_empty_second_header_carries_no_credential(gw, fake):
    headers = [("x-api-key", KEYS["anthropic"]), ("Authorization", "")]
    status, data, _ = send(gw, "/anthropic/v1/messages", headers, ANTHROPIC_BODY)
    assert status == 200, data
    assert [v for _, v in credentials_upstream(fake.received[-1]) if v] == [KEYS["anthropic"]]
