"""Policies in the auth path, end to end: model rules, rpm, tpm, max_parallel, on memory and on a shared Redis."""

from __future__ import annotations

import http.client
import threading
import time

import anthropic
import httpx
import openai
import orjson
import pytest
from google.genai import errors as genai_errors

from tests.e2e.conftest import ROWS
from tests.e2e.harness import Gateway, RepeatKey, wait_for
from tests.e2e.test_gateway import claude, gemini, oai
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)

HI = [{"role": "user", "content": "hi"}]


def chat(client: openai.OpenAI, model: str = "gpt-4o-mini", **kw):
    return client.chat.completions.create(model=model, messages=HI, **kw)


def test_model_rules_refuse_with_each_sdks_permission_error(gw, fake):
    key = "sk-test-narrow-0123456789"
    gw.write_allowlist([*ROWS, ("narrow", key, "eta", {"models": "gpt-4o-mini*;claude-haiku-*;gemini-2.0-*"})])
    chat(oai(gw, key=key))
    with pytest.raises(openai.PermissionDeniedError) as e:
        chat(oai(gw, key=key), model="gpt-4o")
    assert "'gpt-4o' is not allowed" in str(e.value) and "gpt-4o-mini*" in str(e.value)
    with pytest.raises(anthropic.PermissionDeniedError) as e2:
        claude(gw, key=key).messages.create(model="claude-sonnet-4-6", max_tokens=8, messages=HI)
    assert "claude-sonnet-4-6" in str(e2.value) and "claude-haiku-*" in str(e2.value)
    client = gemini(gw, key=key)
    client.models.generate_content(model="gemini-2.0-flash", contents="hi")  # the model is in the path
    with pytest.raises(genai_errors.ClientError) as e3:
        client.models.generate_content(model="gemini-2.5-pro", contents="hi")
    assert e3.value.code == 403 and "gemini-2.5-pro" in str(e3.value)
    oai(gw, key=key).models.list()  # listing names no model: allowed
    assert [r.raw_path.rsplit("/", 1)[-1] for r in fake.received] == [
        "completions",
        "gemini-2.0-flash:generateContent",
        "models",
    ]
    lines = gw.next_stats(6)
    refused = [x for x in lines if x["status"] == 403]
    assert len(refused) == 3 and all(x["error_type"] == "model_not_allowed" for x in refused)


def test_a_repeated_model_key_cannot_slip_past_the_model_rules(gw, fake):
    key = "sk-test-narrow-dup-0123456789"
    gw.write_allowlist([*ROWS, ("narrow", key, "eta", {"models": "gpt-4o-mini*"})])
    # the rules would judge the last copy; a first-wins upstream would run gpt-5-pro
    client = oai(gw, key=key, http_client=httpx.Client(transport=RepeatKey("model", "gpt-5-pro")))
    with pytest.raises(openai.BadRequestError) as e:
        chat(client, model="gpt-4o-mini")
    assert '"model"' in str(e.value)
    assert fake.received == []
    assert gw.next_stats()[0]["error_type"] == "invalid_request"


def test_rpm_limit_is_429_with_retry_after_and_openai_ratelimit_headers(gw, fake):
    key = "sk-test-rpm-0123456789"
    gw.write_allowlist([*ROWS, ("rpm3", key, "eta", {"rpm": "3"})])
    client = oai(gw, key=key)
    for _ in range(3):
        chat(client)
    with pytest.raises(openai.RateLimitError) as e:
        chat(client)
    headers = e.value.response.headers
    assert 1 <= int(headers["retry-after"]) <= 60
    assert headers["x-ratelimit-limit-requests"] == "3"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"].endswith("s")
    assert "rpm" in str(e.value) or "requests per minute" in str(e.value)
    with pytest.raises(anthropic.RateLimitError):  # the same key through another provider shares the limit
        claude(gw, key=key).messages.create(model="claude-haiku-4-5", max_tokens=8, messages=HI)
    assert len(fake.received) == 3
    lines = gw.next_stats(5)  # refusals are written at once, answered requests' lines a moment later
    assert sorted(str(x["error_type"]) for x in lines) == ["None"] * 3 + ["rate_limited_rpm"] * 2


def test_tpm_counts_real_usage_of_finished_requests(gw, fake):
    key = "sk-test-tpm-0123456789"
    gw.write_allowlist([*ROWS, ("tpm", key, "eta", {"tpm": "40"})])
    client = oai(gw, key=key)
    first = chat(client)
    gw.next_stats()  # usage reaches the limiter through the stats path
    assert first.usage.total_tokens < 40
    second = chat(client)
    gw.next_stats()
    assert first.usage.total_tokens + second.usage.total_tokens >= 40
    with pytest.raises(openai.RateLimitError) as e:
        chat(client)
    assert e.value.response.headers["x-ratelimit-limit-tokens"] == "40"
    assert int(e.value.response.headers["retry-after"]) >= 1
    assert len(fake.received) == 2


def _stream_in_thread(gw, key: str, model: str) -> threading.Thread:
    def run() -> None:
        for _ in chat(oai(gw, key=key), model=model, stream=True):
            pass

    t = threading.Thread(target=run)
    t.start()
    return t


def test_max_parallel_holds_until_the_stream_ends_and_a_disconnect_frees_it(gw, fake):
    key = "sk-test-parallel-0123456789"
    gw.write_allowlist([*ROWS, ("solo", key, "eta", {"max_parallel": "1"})])
    fake.chunk_delay = 0.1
    t = _stream_in_thread(gw, key, "stream-10")
    time.sleep(0.4)  # the stream is in flight
    with pytest.raises(openai.RateLimitError) as e:
        chat(oai(gw, key=key))
    assert e.value.response.headers["retry-after"] == "1"
    t.join(10)
    # the lines are found by what they say, not by their count: an earlier test's line may still be arriving
    _wait_line(gw, lambda x: x["key_id"] == "solo" and x["stream"] and x["status"] == 200)  # the slot is back
    chat(oai(gw, key=key))
    _wait_line(gw, lambda x: x["key_id"] == "solo" and not x["stream"] and x["status"] == 200)

    # a client that hangs up mid-stream gives its slot back too
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    body = orjson.dumps({"model": "stream-20", "messages": HI, "stream": True})
    conn.request("POST", "/openai/v1/chat/completions", body, {"Authorization": f"Bearer {key}"})
    conn.getresponse().read1(64)
    conn.sock.close()
    conn.close()  # also closes the response's file object, which holds the socket open
    _wait_line(gw, lambda x: x["key_id"] == "solo" and x["error_type"] == "client_disconnect", timeout=10)
    chat(oai(gw, key=key))


def _wait_line(gw, predicate, timeout: float = 5.0) -> dict:
    return wait_for(
        lambda: next((x for x in gw.stats_lines() if predicate(x)), None), timeout=timeout, what="a stats line"
    )


def test_max_parallel_1_never_refuses_requests_sent_one_after_another(gw, fake):
    """The SDK reuses its connection and sends the next request the moment it has an answer."""
    key = "sk-test-serial-0123456789"
    gw.write_allowlist([*ROWS, ("serial", key, "eta", {"max_parallel": "1"})])
    client = oai(gw, key=key)  # no retries: a 429 fails the test
    gw.mark_stats()
    for i in range(30):
        if i % 2:
            chat(client)
        else:
            assert "".join(c.choices[0].delta.content or "" for c in chat(client, stream=True) if c.choices)
    lines = gw.next_stats(30)
    assert [x["status"] for x in lines] == [200] * 30


@pytest.fixture
def redis_pair(tmp_path, fake, redis_url):  # noqa: F811
    """Two gateways (two nginx, two sidecars) sharing one Redis, as behind a load balancer."""
    gws = []
    for name in ("a", "b"):
        g = Gateway(tmp_path / name, fake.base_url, {"policies": {"store": redis_url}})
        gws.append(g)
    try:
        yield gws
    finally:
        for g in gws:
            g.stop()


def test_two_instances_on_one_redis_share_one_rpm_limit(redis_pair, fake):
    key = "sk-test-shared-0123456789"
    for g in redis_pair:
        g.write_allowlist([("shared", key, "eta", {"rpm": "5"})], wait=False)
        g.start()
    fake.clear()
    outcomes = []
    for i in range(10):
        g = redis_pair[i % 2]
        try:
            chat(oai(g, key=key))
            outcomes.append(200)
        except openai.RateLimitError:
            outcomes.append(429)
    assert outcomes.count(200) == 5, outcomes  # 5 in total, not 5 per instance
    assert len(fake.received) == 5


def test_budget_refuses_with_insufficient_quota_and_survives_a_restart(gw, fake):
    key = "sk-test-budget-0123456789"
    gw.write_allowlist([*ROWS, ("thrifty", key, "eta", {"budget_usd": "0.00001", "budget_period": "day"})])
    client = oai(gw, key=key)
    while True:  # each call costs about 5e-6 USD at gpt-4o-mini prices
        try:
            chat(client, max_tokens=5)  # a hold (budget_mode reserve) of ~3e-6 USD: it fits the tiny budget
        except openai.RateLimitError as e:
            refusal = e
            break
        gw.next_stats()  # the cost reaches the budget through the stats path
        assert len(fake.received) < 5, "the budget never ran out"
    body = refusal.body
    assert body["code"] == "insufficient_quota" and body["type"] == "insufficient_quota"
    assert "budget" in body["message"] and "0.00001" in body["message"] and "resets" in body["message"]
    assert int(refusal.response.headers["retry-after"]) > 0
    allowed = len(fake.received)

    gw.stop_sidecar()  # spend survives a restart: it is seeded from the rollups
    gw.start_sidecar()
    with pytest.raises(openai.RateLimitError):
        chat(client, max_tokens=5)
    assert len(fake.received) == allowed


def test_two_instances_on_one_redis_share_one_budget(redis_pair, fake):
    key = "sk-test-shared-budget-0123456789"
    for g in redis_pair:
        g.write_allowlist([("team", key, "eta", {"budget_usd": "0.00001", "budget_period": "month"})], wait=False)
        g.start()
    fake.clear()
    served = 0
    for i in range(10):
        g = redis_pair[i % 2]
        try:
            chat(oai(g, key=key), max_tokens=5)  # a hold of ~3e-6 USD (budget_mode reserve) fits
            served += 1
            g.next_stats()
        except openai.RateLimitError:
            pass
    # 2 requests of ~5.4e-6 USD reach 1e-5: the budget is shared, not one per instance
    assert served == 2 and len(fake.received) == 2
