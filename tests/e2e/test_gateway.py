"""The gateway end to end: real nginx + njs + sidecar, official SDKs, the fake provider."""

from __future__ import annotations

import gzip
import http.client
import time

import anthropic
import openai
import orjson
import pytest
from google import genai
from google.genai import errors as genai_errors

from tests.e2e.conftest import KEYS
from tests.e2e.harness import wait_for


def oai(gw, key=KEYS["openai"], prefix="/openai/v1", **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + prefix, api_key=key, max_retries=0, **kw)


def claude(gw, key=KEYS["anthropic"]) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=key, max_retries=0)


def gemini(gw, key=KEYS["gemini"]) -> genai.Client:
    return genai.Client(api_key=key, http_options={"base_url": gw.url + "/gemini"})


def raw_request(gw, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


# --- pass-through


def test_openai_chat_json_answer_intact_and_body_forwarded(gw, fake):
    msgs = [{"role": "user", "content": "Say hello"}]
    resp = oai(gw).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=msgs)
    completion = resp.parse()
    assert completion.choices[0].message.content
    assert len(fake.received) == 1
    got = fake.received[0]
    assert got.raw_path == "/v1/chat/completions"
    assert orjson.loads(got.body) == {"model": "gpt-4o-mini", "messages": msgs}
    assert got.header("Authorization") == f"Bearer {KEYS['openai']}", "pass-through: the key goes upstream"
    # provider headers come back, plus our request id, which the upstream saw too
    assert resp.headers.get("x-request-id")
    rid = resp.headers["x-lmgate-request-id"]
    assert got.header("X-Lmgate-Request-Id") == rid
    line = gw.stats_for(rid)
    assert line["provider"] == "openai" and line["endpoint"] == "/v1/chat/completions"
    assert line["key_id"] == "team-openai" and line["owner"] == "alpha"
    assert line["status"] == 200 and line["stream"] is False and line["error_type"] is None
    assert line["input_tokens"] == completion.usage.prompt_tokens
    assert line["output_tokens"] == completion.usage.completion_tokens
    assert line["model"] == completion.model
    assert line["masked_key"] == "…" + KEYS["openai"][-6:]
    for field in ("ts", "latency_ms", "ttfb_ms", "usage_source", "cost_usd", "cache_read_tokens"):
        assert field in line
    assert line["latency_ms"] >= line["ttfb_ms"] >= 0  # nginx times in whole ms: loopback may take 0


def test_raw_bytes_path_query_and_headers_reach_the_upstream_unchanged(gw, fake):
    body = b'{"model":"gpt-4o-mini",  "messages":[{"role":"user","content":"caf\xc3\xa9 \\u00e9"}] }\n'
    headers = {
        "Authorization": f"Bearer {KEYS['openai']}",
        "Content-Type": "application/json",
        "X-Custom-Header": "Keep Me",
        "OpenAI-Beta": "assistants=v2",
    }
    path = "/openai/v1/chat/completions?x=%2F%20a&y=1"
    resp, _ = raw_request(gw, "POST", path, body, headers)
    assert resp.status == 200
    got = fake.received[-1]
    assert got.body == body
    assert got.raw_path == "/v1/chat/completions?x=%2F%20a&y=1"
    seen = {k.lower(): v for k, v in got.headers}
    for k, v in headers.items():
        assert seen[k.lower()] == v


def test_openai_stream_arrives_in_pieces_with_usage(gw, fake):
    fake.chunk_delay = 0.1
    stream = oai(gw).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    arrivals, text, usage = [], [], None
    for chunk in stream:
        arrivals.append(time.monotonic())
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage
    assert text and usage is not None
    assert len(arrivals) >= 4
    spread = arrivals[-1] - arrivals[0]
    assert spread >= 0.1 * (len(arrivals) - 2), f"chunks were buffered: all within {spread:.3f}s"
    line = gw.next_stats()[0]
    assert line["stream"] is True and line["status"] == 200
    assert line["input_tokens"] == usage.prompt_tokens and line["output_tokens"] == usage.completion_tokens, str(line)


def test_anthropic_json_and_stream(gw, fake):
    client = claude(gw)
    msg = client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert msg.content[0].text
    got = fake.received[-1]  # the SDK picks the header; the gateway forwards it as sent
    assert KEYS["anthropic"] in (got.header("x-api-key"), got.header("authorization", "").removeprefix("Bearer "))
    line = gw.next_stats()[0]
    assert (line["provider"], line["endpoint"], line["status"]) == ("anthropic", "/v1/messages", 200)
    assert line["output_tokens"] == msg.usage.output_tokens
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        arrivals = [time.monotonic() for _ in stream.text_stream]
        final = stream.get_final_message()
    assert len(arrivals) >= 2 and arrivals[-1] - arrivals[0] > 0.05
    line = gw.next_stats()[0]
    assert line["stream"] is True
    assert line["output_tokens"] == final.usage.output_tokens
    assert line["input_tokens"] is not None


def test_gemini_json_and_stream(gw, fake):
    client = gemini(gw)
    r = client.models.generate_content(model="gemini-2.0-flash", contents="hello")
    assert r.text
    got = fake.received[-1]
    assert got.raw_path.endswith("/models/gemini-2.0-flash:generateContent")
    line = gw.next_stats()[0]
    assert line["provider"] == "gemini" and line["model"]
    assert line["input_tokens"] == r.usage_metadata.prompt_token_count
    chunks = list(client.models.generate_content_stream(model="gemini-2.0-flash", contents="hello"))
    assert len(chunks) >= 2
    assert "alt=sse" in fake.received[-1].raw_path
    line = gw.next_stats()[0]
    assert line["stream"] is True and line["input_tokens"] == chunks[-1].usage_metadata.prompt_token_count


def test_azure_vertex_and_openai_compatible_prefixes(gw, fake):
    azure = openai.AzureOpenAI(
        azure_endpoint=gw.url + "/azure", api_key=KEYS["azure"], api_version="2024-10-21", max_retries=0
    )
    azure.chat.completions.create(model="my-deployment", messages=[{"role": "user", "content": "hi"}])
    got = fake.received[-1]
    assert got.raw_path == "/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21"
    assert got.header("api-key") == KEYS["azure"]
    line = gw.next_stats()[0]
    assert (line["provider"], line["model"], line["key_id"]) == ("azure", "gpt-4o-mini-2024-07-18", "team-azure")

    groq = oai(gw, prefix="/groq/v1")
    groq.chat.completions.create(model="llama-3.3-70b", messages=[{"role": "user", "content": "hi"}])
    assert fake.received[-1].raw_path == "/v1/chat/completions"
    assert gw.next_stats()[0]["provider"] == "groq"

    vertex_path = "/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent"
    body = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    resp, data = raw_request(
        gw,
        "POST",
        "/vertex" + vertex_path,
        body,
        {"x-goog-api-key": KEYS["gemini"], "Content-Type": "application/json"},
    )
    assert resp.status == 200, data
    assert fake.received[-1].raw_path == vertex_path
    line = gw.next_stats()[0]
    assert line["provider"] == "vertex" and line["model"] and line["input_tokens"] is not None


# --- refusals


def test_unknown_key_is_401_in_each_sdks_own_error_class_and_never_forwarded(gw, fake):
    with pytest.raises(openai.AuthenticationError) as e:
        oai(gw, key="sk-test-not-on-the-list-123456").models.list()
    assert "not on this gateway's allow-list" in str(e.value)
    with pytest.raises(anthropic.AuthenticationError) as e2:
        claude(gw, key="sk-ant-test-unknown-123456").messages.create(
            model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    assert "allow-list" in str(e2.value)
    stranger = gemini(gw, key="AIza-test-unknown-123456")  # held: a collected client closes its connection
    with pytest.raises(genai_errors.ClientError) as e3:
        stranger.models.generate_content(model="gemini-2.0-flash", contents="x")
    assert e3.value.code == 401 and "allow-list" in str(e3.value)
    assert fake.received == []
    lines = gw.next_stats(3)
    assert [x["status"] for x in lines] == [401, 401, 401]
    assert all(x["error_type"] == "unauthorized" and x["key_id"] is None for x in lines)


def test_missing_key_is_401_naming_where_to_send_it(gw, fake):
    resp, data = raw_request(gw, "POST", "/anthropic/v1/messages", b"{}", {"Content-Type": "application/json"})
    assert resp.status == 401
    doc = orjson.loads(data)
    assert doc["type"] == "error" and doc["error"]["type"] == "authentication_error"
    assert "x-api-key" in doc["error"]["message"]
    assert fake.received == []


def test_sidecar_down_fails_closed_with_503_and_nothing_forwarded(gw, fake):
    gw.stop_sidecar()
    with pytest.raises(openai.InternalServerError) as e:
        oai(gw).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 503
    assert "not answering" in str(e.value)
    resp, _ = raw_request(gw, "GET", "/lmgate/healthz")
    assert resp.status == 503
    assert fake.received == []
    gw.start_sidecar()
    oai(gw).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert len(fake.received) == 1


def test_allowlist_hot_reload_both_ways(gw, fake):
    new_key = "sk-test-newcomer-0123456789"
    client = oai(gw, key=new_key)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    gw.write_allowlist([("newcomer", new_key, "zeta")])
    wait_for(lambda: _status(gw, new_key) == 200, timeout=5, what="the added key to work")
    # the old key was dropped by the same edit
    with pytest.raises(openai.AuthenticationError):
        oai(gw).models.list()
    # a broken edit keeps the last good list
    gw.allowlist.write_text("id,api_key,owner,added\nbroken-row\n")
    time.sleep(0.6)
    assert _status(gw, new_key) == 200
    assert "expected 4 fields" in gw.sidecar_log()
    gw.write_allowlist([])
    wait_for(lambda: _status(gw, new_key) == 401, timeout=5, what="the removed key to be refused")


def _status(gw, key: str) -> int:
    resp, _ = raw_request(gw, "GET", "/openai/v1/models", headers={"Authorization": f"Bearer {key}"})
    return resp.status


def test_unknown_prefix_is_a_json_404_and_healthz_is_ok(gw):
    resp, data = raw_request(gw, "GET", "/nope/v1/models")
    assert resp.status == 404
    assert "/openai/" in orjson.loads(data)["error"]["message"]
    resp, data = raw_request(gw, "GET", "/lmgate/healthz")
    assert (resp.status, data) == (200, b"ok")


# --- bodies


def test_large_body_passes_and_too_large_is_413_in_provider_shape(gw, fake):
    big = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"' + b"a" * (20 * 1024**2) + b'"}]}'
    hdrs = {"Authorization": f"Bearer {KEYS['openai']}", "Content-Type": "application/json"}
    resp, _ = raw_request(gw, "POST", "/openai/v1/chat/completions", big, hdrs)
    assert resp.status == 200
    assert fake.received[-1].body == big
    fake.clear()
    huge = b"x" * (32 * 1024**2 + 1)
    resp, data = raw_request(gw, "POST", "/openai/v1/chat/completions", huge, hdrs)
    assert resp.status == 413
    assert orjson.loads(data)["error"]["message"].startswith("lmgate: request body larger than")
    assert fake.received == []
    line = gw.stats_for(resp.getheader("X-Lmgate-Request-Id"))
    assert (line["status"], line["error_type"], line["provider"]) == (413, "too_large", "openai")


def test_gzip_response_reaches_client_as_sent_and_stats_read_usage(gw, fake):
    fake.gzip = True
    try:
        hdrs = {
            "Authorization": f"Bearer {KEYS['openai']}",
            "Content-Type": "application/json",
            "Accept-Encoding": "gzip",
        }
        body = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "zip"}]})
        resp, data = raw_request(gw, "POST", "/openai/v1/chat/completions", body, hdrs)
    finally:
        fake.gzip = False
    assert resp.status == 200 and resp.getheader("Content-Encoding") == "gzip"
    doc = orjson.loads(gzip.decompress(data))
    line = gw.stats_for(resp.getheader("X-Lmgate-Request-Id"))
    assert line["input_tokens"] == doc["usage"]["prompt_tokens"]
    assert line["output_tokens"] == doc["usage"]["completion_tokens"]
    assert line["error_type"] is None


# --- stats


def test_client_disconnect_mid_stream_still_writes_a_line(gw, fake):
    fake.chunk_delay = 0.2
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    body = orjson.dumps({"model": "stream-20", "messages": [{"role": "user", "content": "long"}], "stream": True})
    conn.request(
        "POST",
        "/openai/v1/chat/completions",
        body,
        {"Authorization": f"Bearer {KEYS['openai']}", "Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    rid = resp.getheader("X-Lmgate-Request-Id")
    resp.read1(64)
    conn.sock.close()
    conn.close()
    line = gw.stats_for(rid, timeout=10)
    assert line["error_type"] == "client_disconnect"
    assert line["stream"] is True


def test_upstream_unreachable_is_502_in_provider_shape_with_a_line(tmp_path, fake):
    from tests.e2e.conftest import ROWS
    from tests.e2e.harness import Gateway, free_port

    gw = Gateway(tmp_path, f"http://127.0.0.1:{free_port()}")
    gw.write_allowlist(ROWS)
    gw.start()
    try:
        with pytest.raises(anthropic.InternalServerError) as e:
            claude(gw).messages.create(model="claude-x", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        assert e.value.status_code == 502 and "could not reach" in str(e.value)
        line = gw.next_stats()[0]
        assert line["status"] == 502 and line["error_type"] == "upstream_unreachable"
    finally:
        gw.stop()


def test_a_thousand_fast_requests_give_a_thousand_lines(gw, fake):
    import asyncio

    import aiohttp

    before = len(gw.stats_lines())
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    hdrs = {"Authorization": f"Bearer {KEYS['openai']}", "Content-Type": "application/json"}

    async def fire() -> list[int]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as s:

            async def one() -> int:
                async with s.post(gw.url + "/openai/v1/chat/completions", data=body, headers=hdrs) as r:
                    await r.read()
                    return r.status

            return await asyncio.gather(*(one() for _ in range(1000)))

    statuses = asyncio.run(fire())
    assert statuses.count(200) == 1000
    wait_for(lambda: len(gw.stats_lines()) >= before + 1000, timeout=15, what="1000 stats lines")
    time.sleep(0.5)  # nothing more may arrive either
    assert len(gw.stats_lines()) == before + 1000


def test_full_keys_never_appear_in_stats_or_logs(gw, fake):
    oai(gw).models.list()
    with pytest.raises(openai.AuthenticationError):
        oai(gw, key="sk-test-leaky-candidate-0123456789").models.list()
    gw.next_stats()
    text = gw.stats_path.read_text() + gw.sidecar_log() + gw.nginx_log()
    for key in [*KEYS.values(), "sk-test-leaky-candidate-0123456789"]:
        assert key not in text


def test_stats_lines_arrive_when_nginx_runs_with_a_prefix_that_has_no_html_dir(tmp_path, fake):
    """nginx writes a log whose path has variables only where the server root exists: lmgate gives it one."""
    from tests.e2e.conftest import ROWS
    from tests.e2e.harness import Gateway

    gw = Gateway(tmp_path / "gw", fake.base_url)
    gw.nginx_prefix = tmp_path / "empty-prefix"
    gw.nginx_prefix.mkdir()
    gw.write_allowlist(ROWS)
    gw.start()
    try:
        for _ in range(3):
            oai(gw).models.list()
        lines = gw.next_stats(3)
        assert [line["status"] for line in lines] == [200, 200, 200]
        assert "testing" not in gw.nginx_log(), gw.nginx_log()  # nginx's complaint about the missing root
    finally:
        gw.stop()
