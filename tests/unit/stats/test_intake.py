"""The stats intake: posts answered at once, lines built a moment later, usage in the store before the line."""

from __future__ import annotations

import asyncio
import inspect
import time
from types import SimpleNamespace

import orjson
import pytest
from multidict import CIMultiDict

from lmgate.config import PolicyConfig
from lmgate.handlers.stats import stats
from lmgate.handoff import CTX_HEADER, Handoff
from lmgate.policies.engine import PolicyEngine
from lmgate.policies.limits import Limits
from lmgate.pricing import PriceBook
from lmgate.providers import get as get_provider
from lmgate.stats.intake import StatsIntake
from lmgate.stats.writer import StatsWriter
from lmgate.store.memory import MemoryStore
from tests.unit.policies.facts import T0, facts

ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }
)
ONE_SLOT = Limits(max_parallel=1)


def post(lease: str | None, request_id: str = "r1", body: bytes = ANSWER) -> tuple[CIMultiDict, bytes]:
    """What nginx's @lmgate_stats sends for one finished chat completion."""
    handoff = Handoff(key_id="k1", owner="alpha", model="gpt-4o-mini", endpoint="/v1/chat/completions", lease=lease)
    headers = CIMultiDict(
        {
            "X-Lmgate-Provider": "openai",
            "X-Lmgate-Request-Id": request_id,
            CTX_HEADER: handoff.encode(),
            "X-Lmgate-Content-Type": "application/json",
            "X-Lmgate-Facts": f"200|OK|0.005|{time.time():.3f}|0.001|0.004|{len(body)}||||",
        }
    )
    return headers, body


@pytest.fixture
def parts(tmp_path):
    writer = StatsWriter(tmp_path / "stats.jsonl")
    engine = PolicyEngine(PolicyConfig(), MemoryStore())
    intake = StatsIntake({"openai": get_provider("openai")}, PriceBook.load(), writer, engine, defer_s=0.01)
    return intake, writer, engine


def lines(writer: StatsWriter) -> list[dict]:
    return [orjson.loads(line) for line in writer._pending]


async def take_slot(engine: PolicyEngine) -> str:
    decision = await engine.decide(facts(time.time() - T0, limits=ONE_SLOT))
    assert decision.allowed and decision.lease_id
    return decision.lease_id


async def slot_free(engine: PolicyEngine) -> bool:
    decision = await engine.decide(facts(time.time() - T0, limits=ONE_SLOT))
    if decision.lease_id:
        await engine.release(decision.lease_id, "k1", "alpha")
    return decision.allowed


async def test_a_post_is_queued_and_its_line_follows_after_the_delay(parts):
    intake, writer, engine = parts
    lease = await take_slot(engine)
    intake.put(*post(lease), at=time.time())
    assert intake.queued == 1 and writer.pending == 0  # nothing built in the handler's call
    assert not await slot_free(engine)
    await asyncio.sleep(0.05)
    assert intake.queued == 0
    [line] = lines(writer)
    assert (line["request_id"], line["input_tokens"], line["output_tokens"]) == ("r1", 11, 7)
    assert line["cost_usd"] > 0
    assert await slot_free(engine)  # the lease came back with the usage


async def test_many_posts_make_one_batch(parts):
    intake, writer, _ = parts
    for i in range(50):
        intake.put(*post(None, request_id=f"r{i}"), at=time.time())
    assert intake.queued == 50
    await asyncio.sleep(0.05)
    assert [line["request_id"] for line in lines(writer)] == [f"r{i}" for i in range(50)]


async def test_the_line_waits_for_its_usage_to_reach_the_store(parts):
    intake, writer, engine = parts
    events: list[str] = []
    record_usage, write = engine.record_usage, writer.write

    async def slow_record_usage(*args, **kwargs):
        await asyncio.sleep(0.02)
        await record_usage(*args, **kwargs)
        events.append("usage")

    engine.record_usage = slow_record_usage  # type: ignore[method-assign]
    writer.write = lambda record: (events.append("line"), write(record))  # type: ignore[method-assign]
    intake.put(*post(await take_slot(engine)), at=time.time())
    intake.drain()
    assert events == []  # its usage is still on the way
    await intake.close()
    assert events == ["usage", "line"] and writer.pending == 1


async def test_an_unreadable_post_still_writes_a_line(parts):
    intake, writer, engine = parts
    lease = await take_slot(engine)
    headers, _ = post(lease)
    headers["X-Lmgate-Provider"] = "no-such-provider"
    intake.put(headers, b"not json", at=time.time())
    await intake.close()
    [line] = lines(writer)
    assert line["error_type"] == "stats_error" and line["key_id"] == "k1"
    assert await slot_free(engine)  # the lease is freed from the handoff alone


async def test_close_builds_what_is_queued_at_once(parts):
    intake, writer, _ = parts
    intake.defer_s = 3600
    intake.put(*post(None), at=time.time())
    await intake.close()
    assert writer.pending == 1 and intake.queued == 0


async def test_the_stats_answer_comes_after_the_slot_is_free(parts):
    """nginx reads the client's next request once /stats is answered: a max_parallel=1 client must get its slot."""
    intake, writer, engine = parts
    intake.defer_s = 3600  # the line is not built before the answer
    gw = SimpleNamespace(stats_intake=intake, policies=engine)
    answer = stats(gw, *post(await take_slot(engine)), {})  # type: ignore[arg-type]
    reply = await answer if inspect.isawaitable(answer) else answer
    assert reply[0] == 204 and writer.pending == 0
    assert await slot_free(engine)
    await intake.close()
    assert writer.pending == 1


async def test_a_post_without_a_lease_is_answered_at_once(parts):
    intake, _, engine = parts
    gw = SimpleNamespace(stats_intake=intake, policies=engine)
    assert stats(gw, *post(None), {}) == (204, {}, b"")  # type: ignore[arg-type]
    await intake.close()
