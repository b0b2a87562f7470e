"""Budgets under concurrency, end to end: 40 requests started together against a $0.05 budget.

Each request alone fits the budget easily, and no request has finished when the
others are judged (the provider takes a second to answer). With ``budget_mode:
reserve`` each holds the most it can cost until its stats line settles it, so the
spend the stats JSONL records never passes the budget; with ``settle`` (only
finished spend counts) every one is let through and the budget is overshot.
"""

from __future__ import annotations

import http.client
from concurrent.futures import ThreadPoolExecutor

import openai
import orjson
import pytest

from tests.e2e.conftest import ROWS
from tests.e2e.harness import Gateway, wait_for
from tests.e2e.test_gateway import oai
from tests.redis_server import redis_server, redis_url  # noqa: F401  (fixtures)

BUDGET = 0.05
REQUESTS = 40
MODEL = "gpt-4o"  # $2.50 per million input tokens, $10 per million output tokens
MAX_TOKENS = 100
# Digits: the offline tokenizer counts about one token per 3 (o200k groups digits by 3), more than the fake
# provider's one per 4 bytes of body, so the hold covers the real cost (as it does with a real provider's count
# of a text prompt). About 1,700 tokens: ~$0.004 of input, ~$0.005 held with the 100 output tokens.
PROMPT = "0123456789" * 500


def _run(tmp_path, fake, store: str, mode: str) -> tuple[list[dict], list[openai.RateLimitError]]:
    key_id, key = f"{mode}-{store}", f"sk-test-{mode}-{store}-0123456789"
    gw = Gateway(
        tmp_path / mode,
        fake.base_url,
        {"policies": {"store": store, "budget_mode": mode}, "sidecar": {"auth_timeout": 10.0}},
    )
    with gw:
        gw.start([(key_id, key, "eta", {"budget_usd": str(BUDGET), "budget_period": "day"})])
        client = oai(gw, key=key)

        def one(_: int) -> openai.RateLimitError | None:
            try:
                client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=MAX_TOKENS
                )
            except openai.RateLimitError as e:
                return e
            return None

        fake.clear()
        fake.answer_delay = 1.0  # all 40 are judged before any answer comes back
        try:
            with ThreadPoolExecutor(REQUESTS) as pool:
                outcomes = list(pool.map(one, range(REQUESTS)))
        finally:
            fake.clear()
        lines = gw.next_stats(REQUESTS, timeout=20)
    return lines, [e for e in outcomes if e is not None]


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_reserve_holds_the_budget_where_settle_overshoots(tmp_path, fake, store, request):
    url = "memory" if store == "memory" else request.getfixturevalue("redis_url")
    results = {mode: _run(tmp_path, fake, url, mode) for mode in ("reserve", "settle")}
    spent = {mode: sum(x["cost_usd"] or 0 for x in lines) for mode, (lines, _) in results.items()}
    served = {mode: sum(x["status"] == 200 for x in lines) for mode, (lines, _) in results.items()}
    one_cost = max(x["cost_usd"] or 0 for x in results["settle"][0])
    print(
        f"\n{store}: budget ${BUDGET}, {REQUESTS} concurrent requests of ${one_cost:.6f} each: "
        f"reserve served {served['reserve']} and recorded ${spent['reserve']:.6f}; "
        f"settle served {served['settle']} and recorded ${spent['settle']:.6f}, "
        f"over the budget by ${spent['settle'] - BUDGET:.6f} ({spent['settle'] / BUDGET:.0%} of it)"
    )
    assert 0 < one_cost < BUDGET / 10  # each request alone fits many times over

    lines, refusals = results["reserve"]
    assert spent["reserve"] <= BUDGET
    assert served["reserve"] > 1  # requests that fit together all run
    assert len(refusals) == REQUESTS - served["reserve"]
    assert {x["error_type"] for x in lines if x["status"] != 200} == {"budget_exceeded"}
    refusal = refusals[0].body
    assert refusal["code"] == "insufficient_quota"
    assert "requests in flight hold" in refusal["message"] and "retry when they finish" in refusal["message"]
    assert refusals[0].response.headers["retry-after"] == "2"

    assert served["settle"] == REQUESTS  # each saw no spend when judged
    assert spent["settle"] > BUDGET


def test_a_hold_is_freed_when_its_request_ends_without_usage(gw, fake):
    """One hold at a time fits: the next request passes only once the last one's line freed its hold."""
    key = "sk-test-holder-0123456789"
    gw.write_allowlist([*ROWS, ("holder", key, "eta", {"budget_usd": "0.015", "budget_period": "day"})])
    client = oai(gw, key=key)
    big = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1000}  # holds ~$0.01
    fake.chunk_delay = 0.5

    # a client that hangs up mid-stream
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.request(
        "POST", "/openai/v1/chat/completions", orjson.dumps({**big, "stream": True}), {"Authorization": f"Bearer {key}"}
    )
    conn.getresponse().read1(64)  # in flight, holding its $0.01
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(**big)
    assert "requests in flight hold $0.01" in e.value.body["message"]
    conn.sock.close()
    conn.close()
    _wait_line(gw, "client_disconnect")

    # a provider that cuts the stream off
    fake.hangup_before = 2
    with pytest.raises(openai.APIConnectionError):
        list(client.chat.completions.create(**big, stream=True))
    _wait_line(gw, "upstream_closed")

    fake.hangup_before = None
    assert client.chat.completions.create(**big).choices  # nothing is held any more: it fits again
    spent = sum(x["cost_usd"] or 0 for x in gw.stats_lines() if x["key_id"] == "holder")
    assert 0 < spent < 0.015


def _wait_line(gw, error_type: str) -> dict:
    return wait_for(
        lambda: next((x for x in gw.stats_lines() if x["key_id"] == "holder" and x["error_type"] == error_type), None),
        timeout=10,
        what=f"the {error_type} line",
    )


def test_a_hold_bounded_by_the_body_that_would_refuse_is_counted_before_the_refusal(gw, fake):
    """/auth first holds the body's bytes as the prompt's tokens (free to compute); a request that bound
    would refuse has its prompt counted and is judged again, so only what cannot fit is refused."""
    key = "sk-test-counted-0123456789"
    gw.write_allowlist([*ROWS, ("counted", key, "eta", {"budget_usd": "0.03", "budget_period": "day"})])
    client = oai(gw, key=key)

    def ask(prompt: str):
        return client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": prompt}], max_tokens=10
        )

    fits = "hello world " * 2000  # 24,000 bytes: a $0.06 bound; ~4,000 tokens: ~$0.01 counted
    assert ask(fits).choices
    with pytest.raises(openai.RateLimitError) as e:
        ask("hello world " * 12000)  # ~24,000 tokens: ~$0.06 counted, over the budget however it is held
    assert e.value.body["code"] == "insufficient_quota"

    def both() -> list[dict] | None:
        lines = [x for x in gw.stats_lines() if x["key_id"] == "counted"]
        return lines if len(lines) >= 2 else None

    lines = wait_for(both, timeout=10, what="both stats lines")
    assert sorted(x["status"] for x in lines) == [200, 429]
    assert 0 < sum(x["cost_usd"] or 0 for x in lines) < 0.03
