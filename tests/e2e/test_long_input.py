"""Long model names, paths and queries: the provider's business, forwarded; never a 503 from the gateway.

The /auth answer carries the handoff (model and endpoint) and rewrites (an upstream
URI) in headers nginx reads into one buffer; a client's long input must neither
overflow it nor a refusal's body, and the stats line says when it cut a name.
"""

from __future__ import annotations

import socket

import anthropic
import openai
import orjson
import pytest

from tests.e2e.conftest import KEYS, ROWS
from tests.e2e.harness import Gateway
from tests.e2e.test_gateway import claude, gemini, oai, raw_request

HI = [{"role": "user", "content": "hi"}]
NARROW = "sk-test-long-narrow-0123456789"
UNLISTED = "sk-test-long-unlisted-0123456789"
GW_GEMINI = "lmgate-vk-long-0123456789abcdef-gemini"
REAL_GEMINI = "AIza-real-long-gemini-upstream-0123456789"


@pytest.fixture(scope="module")
def setup(fake, tmp_path_factory):
    rows = [
        *ROWS,
        ("narrow", NARROW, "eta", {"models": "gpt-4o-mini*"}),
        ("vk-gemini", GW_GEMINI, "vteam", {"upstream_key": "env:TEST_LONG_GEMINI"}),
    ]
    with Gateway(tmp_path_factory.mktemp("long-gw"), fake.base_url, env={"TEST_LONG_GEMINI": REAL_GEMINI}) as gw:
        yield gw.start(rows)


@pytest.fixture
def lg(setup, fake):
    return setup.fresh(fake)


def test_long_model_names_reach_the_provider_through_each_sdk(lg, fake):
    model = "gpt-4o-mini-" + "x" * 6000
    done = oai(lg).chat.completions.create(model=model, messages=HI)
    assert done.model == model  # the fake echoes what it was asked for
    assert orjson.loads(fake.received[-1].body)["model"] == model
    long_claude = "claude-" + "y" * 8000
    msg = claude(lg).messages.create(model=long_claude, max_tokens=8, messages=HI)
    assert msg.model == long_claude
    long_gemini = "gemini-" + "z" * 5000  # in the path, so in the endpoint too
    assert gemini(lg).models.generate_content(model=long_gemini, contents="hi").text
    assert fake.received[-1].raw_path.endswith(f"/models/{long_gemini}:generateContent")
    lines = lg.next_stats(3)
    assert [x["status"] for x in lines] == [200, 200, 200]
    assert [x["model"] for x in lines] == [model, long_claude, long_gemini]  # as the provider answered
    assert all(x["error_type"] is None and x["input_tokens"] for x in lines)


def test_a_long_path_and_query_reach_the_provider_as_sent(lg, fake):
    path = "/v1/models/ft:gpt-4o-mini:" + "p" * 7000
    resp, data = raw_request(lg, "GET", "/openai" + path, headers={"Authorization": f"Bearer {KEYS['openai']}"})
    assert resp.status == 404 and b"fake: no route" in data  # the provider's answer, not the gateway's
    assert fake.received[-1].raw_path == path
    line = lg.next_stats()[0]
    assert line["status"] == 404 and line["error_type"] == "upstream_error"
    assert line["endpoint"].startswith("/v1/models/ft:gpt-4o-mini:ppp") and "chars cut" in line["endpoint"]

    # a virtual key's ?key= is taken out of a long query: the rewritten URI travels in the /auth answer
    body = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    query = f"key={GW_GEMINI}&alt=sse&pad={'q' * 7000}"
    resp, data = raw_request(
        lg, "POST", f"/gemini/v1beta/models/gemini-2.0-flash:streamGenerateContent?{query}", body, {}
    )
    assert resp.status == 200 and data.startswith(b"data: ")
    got = fake.received[-1]
    assert got.raw_path == f"/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&pad={'q' * 7000}"
    assert got.header("x-goog-api-key") == REAL_GEMINI
    assert lg.next_stats()[0]["key_id"] == "vk-gemini"


def test_refusals_of_long_model_names_are_refusals_with_the_name_cut(lg, fake):
    huge = "gpt-4o-" + "m" * 100_000  # a refusal naming it whole would not fit nginx's buffer
    with pytest.raises(openai.PermissionDeniedError) as denied:
        oai(lg, key=NARROW).chat.completions.create(model=huge, messages=HI)
    message = denied.value.body["message"]
    assert "gpt-4o-mmm" in message and "chars cut" in message and len(message) < 2000
    with pytest.raises(anthropic.AuthenticationError):
        claude(lg, key=UNLISTED).messages.create(model="claude-" + "n" * 10_000, max_tokens=8, messages=HI)
    assert fake.received == []
    lines = lg.next_stats(2)
    assert [(x["status"], x["error_type"]) for x in lines] == [(403, "model_not_allowed"), (401, "unauthorized")]
    assert lines[0]["model"].startswith(huge[:200]) and lines[0]["model"].endswith("(100007 chars cut)")
    assert len(lines[0]["model"]) < 1024


def _raw_gemini(gw, path: bytes, key: bytes) -> bytes:
    """A request as raw bytes (http.client sends ASCII only); the whole answer."""
    body = b'{"contents":[{"parts":[{"text":"hi"}]}]}'
    head = b"POST " + path + b" HTTP/1.1\r\nHost: gw\r\nx-goog-api-key: " + key + b"\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(head + body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer


def test_bytes_that_are_no_utf8_in_a_path_or_a_key_are_judged_not_a_503(lg, fake):
    """nginx takes any byte in a path or a header; the provider judges the path, the gateway the key."""
    key = KEYS["gemini"].encode()
    answer = _raw_gemini(lg, b"/gemini/v1beta/models/gemini-\xff\xfe:generateContent", key)
    # the fake upstream's HTTP parser refuses such a path itself: a 400 from upstream, not the gateway's 503
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    answer = _raw_gemini(lg, b"/gemini/v1beta/models/gemini-2.0-flash:generateContent", b"AIza-\xff\xfe\xfd\xfc")
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["status"] == "UNAUTHENTICATED"
    lines = sorted(lg.next_stats(2), key=lambda x: x["status"])  # a refusal's line comes at once
    assert [(x["status"], x["error_type"]) for x in lines] == [(400, "upstream_error"), (401, "unauthorized")]
    assert lines[0]["endpoint"] == "/v1beta/models/gemini-\ufffd\ufffd:generateContent"
    assert lines[1]["masked_key"] == "…\ufffd\ufffd"
