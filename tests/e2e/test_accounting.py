"""Usage and cost on the stats line, per provider and shape, through nginx + njs + sidecar with the SDKs.

Expected costs are computed here from the shipped LiteLLM-format price file, by
the entry named in each test, independently of lmgate's price lookup.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import openai
import orjson
import pytest

from lmgate.tokens import count_tokens
from tests.e2e.conftest import ADMIN_TOKEN, KEYS
from tests.e2e.harness import wait_for
from tests.e2e.test_gateway import claude, gemini, oai, raw_request

PRICES = json.loads((Path(__file__).resolve().parents[2] / "lmgate/data/model_prices.json").read_text())
HI = [{"role": "user", "content": "hi there"}]
LONG = [{"role": "user", "content": "Summarise the quarterly plan in three short bullet points, please."}]


def expected_cost(entry: str, inp: int, out: int, cache_read: int = 0, cache_write: int = 0) -> float:
    p = PRICES[entry]
    cost = (
        (inp - cache_read - cache_write) * p["input_cost_per_token"]
        + cache_read * p.get("cache_read_input_token_cost", p["input_cost_per_token"])
        + cache_write * p.get("cache_creation_input_token_cost", p["input_cost_per_token"])
        + out * p["output_cost_per_token"]
    )
    return round(cost, 10)


def tokens(line: dict) -> tuple:
    keys = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
    return tuple(line[k] for k in keys)


def test_openai_chat_json_with_cached_and_reasoning_tokens(gw, fake):
    fake.cache_read, fake.thoughts = 4, 3
    r = oai(gw).chat.completions.create(model="gpt-4o-mini", messages=HI)
    line = gw.next_stats()[0]
    u = r.usage
    assert tokens(line) == (u.prompt_tokens, u.completion_tokens, 4, 0, 3)
    assert line["usage_source"] == "provider" and line["model"] == "gpt-4o-mini-2024-07-18"
    assert line["cost_usd"] == pytest.approx(expected_cost("gpt-4o-mini", u.prompt_tokens, u.completion_tokens, 4))


def test_openai_stream_with_usage_chunk(gw, fake):
    fake.cache_read = 2
    usage = None
    for chunk in oai(gw).chat.completions.create(
        model="gpt-4o", messages=HI, stream=True, stream_options={"include_usage": True}
    ):
        usage = chunk.usage or usage
    line = gw.next_stats()[0]
    assert tokens(line) == (usage.prompt_tokens, usage.completion_tokens, 2, 0, 0)
    assert line["cost_usd"] == pytest.approx(expected_cost("gpt-4o", usage.prompt_tokens, usage.completion_tokens, 2))


def test_openai_stream_without_usage_is_estimated_with_the_offline_tokenizer(gw, fake):
    text = "".join(
        c.choices[0].delta.content or ""
        for c in oai(gw).chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
        if c.choices
    )
    line = gw.next_stats()[0]
    assert line["usage_source"] == "estimated"
    assert line["input_tokens"] == count_tokens("hi there")
    assert line["output_tokens"] == count_tokens(text) > 0
    assert line["cost_usd"] == pytest.approx(expected_cost("gpt-4o-mini", line["input_tokens"], line["output_tokens"]))


def test_openai_responses_api_json_and_stream(gw, fake):
    fake.cache_read, fake.thoughts = 1, 2
    r = oai(gw).responses.create(model="gpt-4o", input="hello")
    line = gw.next_stats()[0]
    assert tokens(line) == (r.usage.input_tokens, r.usage.output_tokens, 1, 0, 2)
    assert line["endpoint"] == "/v1/responses"
    final = None
    for event in oai(gw).responses.create(model="gpt-4o", input="hello", stream=True):
        if event.type == "response.completed":
            final = event.response
    line = gw.next_stats()[0]
    assert line["stream"] is True
    assert tokens(line) == (final.usage.input_tokens, final.usage.output_tokens, 1, 0, 2)
    assert line["cost_usd"] == pytest.approx(
        expected_cost("gpt-4o", final.usage.input_tokens, final.usage.output_tokens, 1)
    )


@pytest.mark.parametrize("prefix", ["/openai/v1", "/groq/v1"])
def test_openai_and_compatible_cache_writes_are_counted_and_priced_json_and_streams(gw, fake, prefix):
    fake.cache_read, fake.cache_write = 3, 8  # gpt-5.6 has its own cache-write rate in the price list
    client = oai(gw, prefix=prefix)
    r = client.chat.completions.create(model="gpt-5.6", messages=LONG)
    assert r.usage.prompt_tokens_details.cache_write_tokens == 8  # the SDK reads what the fake sent
    counts = [(r.usage.prompt_tokens, r.usage.completion_tokens)]
    usage = None
    for chunk in client.chat.completions.create(
        model="gpt-5.6", messages=LONG, stream=True, stream_options={"include_usage": True}
    ):
        usage = chunk.usage or usage
    counts.append((usage.prompt_tokens, usage.completion_tokens))
    r = client.responses.create(model="gpt-5.6", input=LONG[0]["content"])
    assert r.usage.input_tokens_details.cache_write_tokens == 8
    counts.append((r.usage.input_tokens, r.usage.output_tokens))
    final = None
    for event in client.responses.create(model="gpt-5.6", input=LONG[0]["content"], stream=True):
        final = event.response if event.type == "response.completed" else final
    counts.append((final.usage.input_tokens, final.usage.output_tokens))
    lines = gw.next_stats(4)
    assert [x["stream"] for x in lines] == [False, True, False, True]
    for line, (inp, out) in zip(lines, counts, strict=True):
        assert tokens(line) == (inp, out, 3, 8, 0)
        assert line["cost_usd"] == pytest.approx(expected_cost("gpt-5.6", inp, out, 3, 8))
        assert line["cost_usd"] != pytest.approx(expected_cost("gpt-5.6", inp, out, 3))  # writes have their rate


def test_azure_cache_writes_are_counted_and_priced_at_the_input_rate_without_a_write_rate(gw, fake):
    fake.cache_write = 6
    azure = openai.AzureOpenAI(
        azure_endpoint=gw.url + "/azure", api_key=KEYS["azure"], api_version="2024-10-21", max_retries=0
    )
    r = azure.chat.completions.create(model="my-deployment", messages=LONG)
    usage = None
    for chunk in azure.chat.completions.create(
        model="my-deployment", messages=LONG, stream=True, stream_options={"include_usage": True}
    ):
        usage = chunk.usage or usage
    for line, u in zip(gw.next_stats(2), (r.usage, usage), strict=True):
        assert tokens(line) == (u.prompt_tokens, u.completion_tokens, 0, 6, 0)
        expected = expected_cost("gpt-4o-mini", u.prompt_tokens, u.completion_tokens, 0, 6)  # the deployed model
        assert line["cost_usd"] == pytest.approx(expected)


def test_openai_embeddings(gw, fake):
    r = oai(gw).embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    line = gw.next_stats()[0]
    assert (line["input_tokens"], line["output_tokens"]) == (r.usage.prompt_tokens, 0)
    assert line["cost_usd"] == pytest.approx(expected_cost("text-embedding-3-small", r.usage.prompt_tokens, 0))


def test_upstream_error_gives_a_line_with_error_type_and_no_cost(gw, fake):
    with pytest.raises(openai.RateLimitError):
        oai(gw).chat.completions.create(model="fail-429", messages=HI)
    line = gw.next_stats()[0]
    assert (line["status"], line["error_type"], line["input_tokens"], line["cost_usd"]) == (
        429,
        "upstream_error",
        None,
        None,
    )


def test_anthropic_json_counts_cache_reads_and_writes_at_their_prices(gw, fake):
    fake.cache_read, fake.cache_write = 10, 20
    msg = claude(gw).messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=HI)
    line = gw.next_stats()[0]
    u = msg.usage
    total_in = u.input_tokens + 30  # Anthropic's input_tokens excludes the cached ones
    assert tokens(line) == (total_in, u.output_tokens, 10, 20, None)
    assert line["cost_usd"] == pytest.approx(expected_cost("claude-sonnet-4-6", total_in, u.output_tokens, 10, 20))


def test_anthropic_stream_counts_message_start_and_message_delta(gw, fake):
    fake.cache_read = 5
    client = claude(gw)
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=HI) as stream:
        final = stream.get_final_message()
    line = gw.next_stats()[0]
    total_in = final.usage.input_tokens + 5
    assert tokens(line) == (total_in, final.usage.output_tokens, 5, 0, None)
    assert line["cost_usd"] == pytest.approx(expected_cost("claude-haiku-4-5", total_in, final.usage.output_tokens, 5))


def test_gemini_json_and_sse_stream_count_thoughts_as_output(gw, fake):
    fake.thoughts, fake.cache_read = 7, 3
    client = gemini(gw)
    r = client.models.generate_content(model="gemini-2.5-flash", contents="hello")
    m = r.usage_metadata
    out = m.candidates_token_count + m.thoughts_token_count
    line = gw.next_stats()[0]
    assert tokens(line) == (m.prompt_token_count, out, 3, None, 7)
    assert line["cost_usd"] == pytest.approx(expected_cost("gemini/gemini-2.5-flash", m.prompt_token_count, out, 3))
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hello"))
    m = chunks[-1].usage_metadata
    line = gw.next_stats()[0]
    assert line["stream"] is True
    assert tokens(line) == (m.prompt_token_count, m.candidates_token_count + 7, 3, None, 7)


def test_unknown_model_keeps_tokens_and_leaves_cost_empty(gw, fake):
    oai(gw, prefix="/groq/v1").chat.completions.create(model="llama-9-unpriced", messages=HI)
    line = gw.next_stats()[0]
    assert line["input_tokens"] and line["cost_usd"] is None
    assert "no price for model 'llama-9-unpriced'" in gw.sidecar_log()


# --- rollups and the usage readers


def _usage_api(gw, token: str, **params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    resp, data = raw_request(gw, "GET", f"/lmgate/v1/usage?{query}", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200, data
    return orjson.loads(data)


def _sums_from_jsonl(gw) -> dict[tuple, list]:
    sums: dict[tuple, list] = {}
    for line in gw.stats_lines():
        row = sums.setdefault((line["key_id"], line["model"]), [0, 0, 0, 0.0])
        row[0] += 1
        row[1] += line["input_tokens"] or 0
        row[2] += line["output_tokens"] or 0
        row[3] += line["cost_usd"] or 0.0
    return sums


def _sums_from_rows(rows: list[dict]) -> dict[tuple, list]:
    return {
        (r["key_id"], r["model"]): [r["requests"], r["input_tokens"], r["output_tokens"], r["cost_usd"]] for r in rows
    }


def test_rollups_equal_the_jsonl_live_and_after_rebuild_and_the_api_scopes_by_key(gw, fake, tmp_path):
    oai(gw).chat.completions.create(model="gpt-4o-mini", messages=HI)
    claude(gw).messages.create(model="claude-haiku-4-5", max_tokens=8, messages=HI)
    gw.next_stats(2)

    def live_matches() -> bool:
        rows = _usage_api(gw, ADMIN_TOKEN, since="30d", group_by="key_id,model")["rows"]
        got, want = _sums_from_rows(rows), _sums_from_jsonl(gw)
        return got.keys() == want.keys() and all(
            got[k][:3] == want[k][:3] and got[k][3] == pytest.approx(want[k][3]) for k in want
        )

    wait_for(live_matches, timeout=5, what="live rollups to equal the JSONL sums")

    # a rebuild from the JSONL files arrives at the same totals
    env = {**gw.env, "LMGATE_ROLLUPS__PATH": str(tmp_path / "rebuilt.sqlite")}
    cli = [sys.executable, "-m", "lmgate"]
    subprocess.run([*cli, "rollups", "rebuild"], env=env, cwd=gw.root, check=True, capture_output=True)
    out = subprocess.run(
        [*cli, "usage", "--since", "30d", "--by", "key_id,model", "--format", "json"],
        env=env,
        cwd=gw.root,
        check=True,
        capture_output=True,
    ).stdout
    rebuilt = _sums_from_rows(orjson.loads(out))
    live = _sums_from_rows(_usage_api(gw, ADMIN_TOKEN, since="30d", group_by="key_id,model")["rows"])
    assert rebuilt.keys() == live.keys()
    for k in live:
        assert rebuilt[k][:3] == live[k][:3] and rebuilt[k][3] == pytest.approx(live[k][3])

    # a key sees only its own usage; the admin sees every key
    own = _usage_api(gw, KEYS["openai"], since="30d", group_by="key_id")
    assert own["scope"] == "key" and {r["key_id"] for r in own["rows"]} == {"team-openai"}
    assert {"team-openai", "team-anthropic"} <= {r["key_id"] for r in live_rows(gw)}
    resp, _ = raw_request(gw, "GET", "/lmgate/v1/usage", headers={"Authorization": "Bearer sk-test-not-listed-000"})
    assert resp.status == 401
    resp, data = raw_request(
        gw, "GET", "/lmgate/v1/usage?group_by=colour", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert resp.status == 400 and b"colour" in data


def live_rows(gw) -> list[dict]:
    return _usage_api(gw, ADMIN_TOKEN, since="30d", group_by="key_id")["rows"]


def test_azure_and_vertex_json_and_streams_are_priced(gw, fake):
    azure = openai.AzureOpenAI(
        azure_endpoint=gw.url + "/azure", api_key=KEYS["azure"], api_version="2024-10-21", max_retries=0
    )
    r = azure.chat.completions.create(model="my-deployment", messages=HI)
    line = gw.next_stats()[0]
    assert (line["provider"], line["model"]) == ("azure", "gpt-4o-mini-2024-07-18")
    assert tokens(line)[:2] == (r.usage.prompt_tokens, r.usage.completion_tokens)
    expected = expected_cost("gpt-4o-mini", r.usage.prompt_tokens, r.usage.completion_tokens)
    assert line["cost_usd"] == pytest.approx(expected)
    usage = None
    for chunk in azure.chat.completions.create(
        model="my-deployment", messages=HI, stream=True, stream_options={"include_usage": True}
    ):
        usage = chunk.usage or usage
    line = gw.next_stats()[0]
    assert line["stream"] is True and tokens(line)[:2] == (usage.prompt_tokens, usage.completion_tokens)

    path = "/vertex/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-flash"
    body = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hello"}]}]})
    hdrs = {"x-goog-api-key": KEYS["gemini"], "Content-Type": "application/json"}
    resp, data = raw_request(gw, "POST", path + ":generateContent", body, hdrs)
    assert resp.status == 200, data
    meta = orjson.loads(data)["usageMetadata"]
    line = gw.next_stats()[0]
    assert (line["provider"], line["model"]) == ("vertex", "gemini-2.5-flash")
    assert tokens(line)[:2] == (meta["promptTokenCount"], meta["candidatesTokenCount"])
    expected = expected_cost("gemini/gemini-2.5-flash", meta["promptTokenCount"], meta["candidatesTokenCount"])
    assert line["cost_usd"] == pytest.approx(expected)
    resp, data = raw_request(gw, "POST", path + ":streamGenerateContent?alt=sse", body, hdrs)
    assert resp.status == 200, data
    last = orjson.loads(data.strip().splitlines()[-1].removeprefix(b"data: "))["usageMetadata"]
    line = gw.next_stats()[0]
    assert line["stream"] is True
    assert tokens(line)[:2] == (last["promptTokenCount"], last["candidatesTokenCount"])


def test_what_nginx_finishes_while_the_sidecar_is_down_is_counted_when_it_is_back(gw, fake):
    """nginx writes each finished request to the stats spool itself; the sidecar reads it when it runs again."""
    fake.chunk_delay = 0.2
    stream = oai(gw).chat.completions.create(
        model="gpt-4o", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = [next(stream)]  # past /auth: the stream no longer needs the sidecar
    gw.stop_sidecar(signal.SIGKILL)
    chunks += list(stream)
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens > 0  # the stream ran to its end
    with pytest.raises(openai.InternalServerError) as refused:  # a new request fails closed meanwhile
        oai(gw).chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert refused.value.status_code == 503
    assert len(gw.stats_lines()) == gw._stats_seen  # nothing writes lines now
    gw.start_sidecar()
    lines = {line["status"]: line for line in gw.next_stats(2)}
    assert set(lines) == {200, 503}
    done = lines[200]
    assert (done["input_tokens"], done["output_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)
    assert done["key_id"] == "team-openai" and done["stream"] and done["error_type"] is None
    assert done["cost_usd"] == pytest.approx(expected_cost("gpt-4o", usage.prompt_tokens, usage.completion_tokens))
    assert lines[503]["error_type"] == "sidecar_unavailable" and lines[503]["provider"] == "openai"


def test_a_key_in_the_query_reaches_neither_the_spool_nor_the_stats_line(gw, fake):
    path = "/gemini/v1beta/models/gemini-2.0-flash:generateContent?key=" + KEYS["gemini"]
    body = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    resp, data = raw_request(gw, "POST", path, body, {"Content-Type": "application/json"})
    assert resp.status == 200, data
    line = gw.next_stats()[0]
    assert (line["provider"], line["key_id"]) == ("gemini", "team-gemini")
    spooled = b"".join(p.read_bytes() for p in gw.spool_dir.glob("*.spool"))
    assert line["request_id"].encode() in spooled  # the line came through the spool
    assert KEYS["gemini"].encode() not in spooled
    assert KEYS["gemini"].encode() not in gw.stats_path.read_bytes()
