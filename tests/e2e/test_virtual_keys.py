"""Virtual keys end to end: the client holds a gateway key, the gateway sends the provider key it holds.

An allow-list row with ``upstream_key`` = ``env:NAME`` (the sidecar's environment) or
``file:PATH`` (re-read when the file changes) names the real provider key. The fake
upstream records what arrives; the client, the stats and the logs must never see the
real key, and the provider must never see the gateway key.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import anthropic
import openai
import orjson
import pytest
from google.genai import errors as genai_errors

from tests.e2e.harness import Gateway, allowlist_csv
from tests.e2e.test_gateway import claude, gemini, oai, raw_request

# the provider keys only the gateway holds
REAL_OPENAI = "sk-real-openai-upstream-0123456789abcdef"
REAL_ANTHROPIC = "sk-ant-real-upstream-0123456789abcdef"
REAL_GEMINI = "AIza-real-gemini-upstream-0123456789"
# the gateway keys its clients hold
GW_OPENAI = "lmgate-vk-0123456789abcdef-openai"
GW_ANTHROPIC = "lmgate-vk-0123456789abcdef-anthro"
GW_GEMINI = "lmgate-vk-0123456789abcdef-gemini"
GW_UNSET = "lmgate-vk-0123456789abcdef-unset0"
ENV = {"TEST_VK_OPENAI_KEY": REAL_OPENAI, "TEST_VK_GEMINI_KEY": REAL_GEMINI}
SECRET_CHECK_WAIT = 1.2  # the sidecar looks at a secret file at most once a second
HI = [{"role": "user", "content": "hi"}]


@dataclass
class Setup:
    gw: Gateway
    rows: list[tuple]


@pytest.fixture(scope="module")
def setup(fake, tmp_path_factory):
    secrets = tmp_path_factory.mktemp("vk-secrets")
    (secrets / "anthropic").write_text(REAL_ANTHROPIC + "\n")  # as `echo` writes it
    rows = [
        ("vk-openai", GW_OPENAI, "vteam", {"upstream_key": "env:TEST_VK_OPENAI_KEY"}),
        ("vk-anthropic", GW_ANTHROPIC, "vteam", {"upstream_key": f"file:{secrets / 'anthropic'}"}),
        ("vk-gemini", GW_GEMINI, "vteam", {"upstream_key": "env:TEST_VK_GEMINI_KEY"}),
        ("vk-unset", GW_UNSET, "vteam", {"upstream_key": "env:TEST_VK_UNSET"}),
    ]
    gw = Gateway(tmp_path_factory.mktemp("vk-gw"), fake.base_url, env=ENV)
    gw.write_allowlist(rows)
    gw.start()
    yield Setup(gw, rows)
    gw.stop()


@pytest.fixture
def v(setup, fake):
    fake.clear()
    setup.gw.mark_stats()
    yield setup
    if setup.gw.allowlist.read_text() != allowlist_csv(setup.rows):
        setup.gw.write_allowlist(setup.rows)


def masked(key: str) -> str:
    return "…" + key[-6:]


def everything_sent(received) -> str:
    """Path, headers and body of a request the fake received, as one text to search."""
    head = "\n".join(f"{k}: {v}" for k, v in received.headers)
    return f"{received.raw_path}\n{head}\n{received.body.decode(errors='replace')}"


def answer_text(resp, data: bytes) -> str:
    """Headers and body of an answer the client received, as one text to search."""
    return "\n".join(f"{k}: {v}" for k, v in resp.getheaders()) + "\n" + data.decode(errors="replace")


# --- the real key goes upstream, the gateway key does not


def test_openai_virtual_key_goes_upstream_in_authorization_json_and_stream(v, fake):
    resp = oai(v.gw, key=GW_OPENAI).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI)
    completion = resp.parse()
    assert completion.choices[0].message.content
    got = fake.received[-1]
    assert got.header("Authorization") == f"Bearer {REAL_OPENAI}"
    assert GW_OPENAI not in everything_sent(got)
    visible = "\n".join(f"{k}: {x}" for k, x in resp.headers.items()) + resp.http_response.text
    assert REAL_OPENAI not in visible
    line = v.gw.stats_for(resp.headers["x-lmgate-request-id"])
    assert (line["key_id"], line["owner"], line["status"]) == ("vk-openai", "vteam", 200)
    assert line["masked_key"] == masked(GW_OPENAI)  # the client's key, never the provider's
    assert line["input_tokens"] == completion.usage.prompt_tokens

    body = orjson.dumps({"model": "gpt-4o-mini", "messages": HI, "stream": True})
    headers = {"Authorization": f"Bearer {GW_OPENAI}", "Content-Type": "application/json"}
    resp, data = raw_request(v.gw, "POST", "/openai/v1/chat/completions", body, headers)
    assert resp.status == 200 and data.rstrip().endswith(b"data: [DONE]")
    got = fake.received[-1]
    assert got.header("Authorization") == f"Bearer {REAL_OPENAI}" and got.body == body
    assert GW_OPENAI not in everything_sent(got)
    assert REAL_OPENAI not in answer_text(resp, data)
    assert len(fake.received) == 2
    line = v.gw.stats_for(resp.getheader("X-Lmgate-Request-Id"))
    assert (line["key_id"], line["stream"], line["masked_key"]) == ("vk-openai", True, masked(GW_OPENAI))


def test_anthropic_virtual_key_goes_in_x_api_key_whichever_header_the_client_used(v, fake):
    msg = claude(v.gw, key=GW_ANTHROPIC).messages.create(model="claude-haiku-4-5", max_tokens=8, messages=HI)
    assert msg.content[0].text
    bearer = anthropic.Anthropic(base_url=v.gw.url + "/anthropic", auth_token=GW_ANTHROPIC, max_retries=0)
    with bearer.messages.stream(model="claude-haiku-4-5", max_tokens=8, messages=HI) as stream:
        assert "".join(stream.text_stream)
    assert len(fake.received) == 2
    for got in fake.received:  # from the file: secret; the client's header is gone, not sent next to it
        assert got.header("x-api-key") == REAL_ANTHROPIC
        assert got.header("authorization") is None
        assert GW_ANTHROPIC not in everything_sent(got)
    lines = v.gw.next_stats(2)
    assert [(x["key_id"], x["status"], x["masked_key"]) for x in lines] == [
        ("vk-anthropic", 200, masked(GW_ANTHROPIC))
    ] * 2

    body = orjson.dumps({"model": "claude-haiku-4-5", "max_tokens": 8, "messages": HI, "stream": True})
    headers = {"x-api-key": GW_ANTHROPIC, "anthropic-version": "2023-06-01", "Content-Type": "application/json"}
    resp, data = raw_request(v.gw, "POST", "/anthropic/v1/messages", body, headers)
    assert resp.status == 200 and b"message_stop" in data
    assert REAL_ANTHROPIC not in answer_text(resp, data)
    assert v.gw.stats_for(resp.getheader("X-Lmgate-Request-Id"))["key_id"] == "vk-anthropic"


def test_gemini_virtual_key_replaces_a_header_key_and_a_query_key(v, fake):
    client = gemini(v.gw, key=GW_GEMINI)  # held: a collected client closes its connection
    r = client.models.generate_content(model="gemini-2.0-flash", contents="hi")
    assert r.text
    got = fake.received[-1]
    assert got.header("x-goog-api-key") == REAL_GEMINI
    assert GW_GEMINI not in everything_sent(got)

    # ?key= is taken out of the URI, the rest of the query stays as sent
    body = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    path = f"/gemini/v1beta/models/gemini-2.0-flash:streamGenerateContent?key={GW_GEMINI}&alt=sse"
    resp, data = raw_request(v.gw, "POST", path, body, {"Content-Type": "application/json"})
    assert resp.status == 200 and data.startswith(b"data: ")
    got = fake.received[-1]
    assert got.raw_path == "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    assert got.header("x-goog-api-key") == REAL_GEMINI
    assert GW_GEMINI not in everything_sent(got)
    assert REAL_GEMINI not in answer_text(resp, data)
    lines = v.gw.next_stats(2)
    assert [(x["key_id"], x["stream"], x["masked_key"]) for x in lines] == [
        ("vk-gemini", False, masked(GW_GEMINI)),
        ("vk-gemini", True, masked(GW_GEMINI)),
    ]
    assert lines[1]["request_id"] == resp.getheader("X-Lmgate-Request-Id")
    assert lines[1]["input_tokens"] is not None


def test_a_second_credential_next_to_a_gateway_key_is_refused_not_forwarded(v, fake):
    # the rewrite replaces the key headers and ?key= it knows; anything else would travel on next to the real key
    own = "ya29.the-clients-own-oauth-token"
    body = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    path = "/gemini/v1beta/models/gemini-2.0-flash:generateContent?access_token=" + own
    resp, data = raw_request(
        v.gw, "POST", path, body, {"x-goog-api-key": GW_GEMINI, "Content-Type": "application/json"}
    )
    assert resp.status == 401 and "?access_token= query parameter" in data.decode()
    bearer = {"x-api-key": GW_ANTHROPIC, "Authorization": "Bearer sk-ant-the-clients-own-key-0123"}
    body = orjson.dumps({"model": "claude-haiku-4-5", "max_tokens": 8, "messages": HI})
    resp, data = raw_request(
        v.gw, "POST", "/anthropic/v1/messages", body, {**bearer, "Content-Type": "application/json"}
    )
    assert resp.status == 401 and orjson.loads(data)["error"]["type"] == "authentication_error"
    assert fake.received == []
    assert [x["status"] for x in v.gw.next_stats(2)] == [401, 401]


# --- the real key is the gateway's alone


def test_a_client_sending_the_real_provider_key_itself_is_refused(v, fake):
    with pytest.raises(openai.AuthenticationError) as e:
        oai(v.gw, key=REAL_OPENAI).chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert "not on this gateway's allow-list" in str(e.value) and REAL_OPENAI not in str(e.value)
    with pytest.raises(anthropic.AuthenticationError):
        claude(v.gw, key=REAL_ANTHROPIC).messages.create(model="claude-haiku-4-5", max_tokens=8, messages=HI)
    stranger = gemini(v.gw, key=REAL_GEMINI)
    with pytest.raises(genai_errors.ClientError) as e3:
        stranger.models.generate_content(model="gemini-2.0-flash", contents="hi")
    assert e3.value.code == 401
    assert fake.received == []
    lines = v.gw.next_stats(3)
    assert [(x["status"], x["error_type"], x["key_id"]) for x in lines] == [(401, "unauthorized", None)] * 3


def test_rotating_a_file_secret_takes_effect_without_a_restart(v, fake, tmp_path):
    old, new, newer = "sk-real-rotated-key-000001", "sk-real-rotated-key-000002", "sk-real-rotated-key-000003"
    secret = tmp_path / "openai-key"
    secret.write_text(old + "\n")
    key = "lmgate-vk-rotating-0123456789abcdef"
    v.gw.write_allowlist([*v.rows, ("vk-rotating", key, "vteam", {"upstream_key": f"file:{secret}"})])
    processes = (v.gw.nginx.pid, v.gw.sidecar.pid)
    client = oai(v.gw, key=key)
    client.chat.completions.create(model="gpt-4o-mini", messages=HI)

    secret.write_text(new + "\n")  # rewritten in place, same length
    time.sleep(SECRET_CHECK_WAIT)
    client.chat.completions.create(model="gpt-4o-mini", messages=HI)

    swap = tmp_path / "openai-key.new"
    swap.write_text(newer)
    os.replace(swap, secret)  # swapped atomically, as mounted secrets are
    time.sleep(SECRET_CHECK_WAIT)
    client.chat.completions.create(model="gpt-4o-mini", messages=HI)

    assert [r.header("Authorization") for r in fake.received] == [f"Bearer {k}" for k in (old, new, newer)]
    assert (v.gw.nginx.pid, v.gw.sidecar.pid) == processes
    assert v.gw.nginx.poll() is None and v.gw.sidecar.poll() is None
    assert [x["key_id"] for x in v.gw.next_stats(3)] == ["vk-rotating"] * 3


# --- a reference that cannot be resolved: 503, nothing forwarded, nothing revealed


def test_a_missing_env_secret_is_503_in_the_providers_shape(v, fake):
    with pytest.raises(openai.InternalServerError) as e:
        oai(v.gw, key=GW_UNSET).chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert e.value.status_code == 503
    message = e.value.body["message"]
    assert message.startswith("lmgate:") and "TEST_VK_UNSET" not in message
    assert fake.received == []
    line = v.gw.next_stats()[0]
    assert (line["status"], line["error_type"], line["key_id"]) == (503, "unavailable", "vk-unset")
    assert "env:TEST_VK_UNSET" in v.gw.sidecar_log()  # the operator learns which reference


def test_a_deleted_file_secret_is_503_without_the_old_value_and_recovers(v, fake, tmp_path):
    real = "sk-ant-real-deleted-later-0123456789"
    secret = tmp_path / "anthropic-key"
    secret.write_text(real)
    key = "lmgate-vk-deleted-0123456789abcdef"
    v.gw.write_allowlist([*v.rows, ("vk-deleted", key, "vteam", {"upstream_key": f"file:{secret}"})])
    client = claude(v.gw, key=key)
    client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=HI)
    assert fake.received[-1].header("x-api-key") == real

    secret.unlink()
    time.sleep(SECRET_CHECK_WAIT)
    with pytest.raises(anthropic.InternalServerError) as e:
        client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=HI)
    assert e.value.status_code == 503
    doc = e.value.response.json()
    assert doc["type"] == "error" and doc["error"]["type"] and doc["error"]["message"].startswith("lmgate:")
    seen = e.value.response.text + "\n".join(f"{k}: {x}" for k, x in e.value.response.headers.items())
    assert real not in seen and str(secret) not in seen
    assert len(fake.received) == 1
    assert f"file:{secret}" in v.gw.sidecar_log() and real not in v.gw.sidecar_log()

    secret.write_text(real)  # back in place: served again, still without a restart
    time.sleep(SECRET_CHECK_WAIT)
    client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=HI)
    assert len(fake.received) == 2 and fake.received[-1].header("x-api-key") == real
    lines = v.gw.next_stats(3)
    assert [(x["status"], x["key_id"]) for x in lines] == [
        (200, "vk-deleted"),
        (503, "vk-deleted"),
        (200, "vk-deleted"),
    ]


def test_real_and_gateway_keys_never_appear_whole_in_stats_or_logs(v, fake):
    oai(v.gw, key=GW_OPENAI).chat.completions.create(model="gpt-4o-mini", messages=HI)
    with claude(v.gw, key=GW_ANTHROPIC).messages.stream(model="claude-haiku-4-5", max_tokens=8, messages=HI) as s:
        s.get_final_message()
    client = gemini(v.gw, key=GW_GEMINI)
    client.models.generate_content(model="gemini-2.0-flash", contents="hi")
    with pytest.raises(openai.AuthenticationError):
        oai(v.gw, key=REAL_OPENAI).models.list()
    v.gw.next_stats(4)
    text = v.gw.stats_path.read_text() + v.gw.sidecar_log() + v.gw.nginx_log()
    for key in (REAL_OPENAI, REAL_ANTHROPIC, REAL_GEMINI, GW_OPENAI, GW_ANTHROPIC, GW_GEMINI):
        assert key not in text
