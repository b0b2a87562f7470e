"""The stats intake: spool lines become stats lines in batches, usage in the store before the line."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from lmgate.config import PolicyConfig
from lmgate.handoff import CTX_HEADER, Handoff
from lmgate.policies.engine import PolicyEngine
from lmgate.policies.limits import Limits
from lmgate.pricing import PriceBook
from lmgate.providers import get as get_provider
from lmgate.stats.build import Exchange, exchange_record
from lmgate.stats.intake import LAG_WINDOW, StatsIntake
from lmgate.stats.spool import FIELDS, SLICE_S
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


def escaped(data: bytes) -> bytes:
    """nginx's access_log escaping: ", \\ and bytes outside 32..126 as \\xHH."""
    return b"".join(b"\\x%02X" % c if c in b'"\\' or not 32 <= c <= 126 else bytes([c]) for c in data)


def spool_line(lease: str | None, request_id: str = "r1", body: bytes = ANSWER, provider: str = "openai") -> bytes:
    """What nginx's access_log writes for one finished chat completion."""
    handoff = Handoff(key_id="k1", owner="alpha", model="gpt-4o-mini", endpoint="/v1/chat/completions", lease=lease)
    fields = {
        "X-Lmgate-Provider": provider,
        "X-Lmgate-Request-Id": request_id,
        CTX_HEADER: handoff.encode(),
        "X-Lmgate-Content-Type": "application/json",
        "X-Lmgate-Content-Encoding": "-",
        "X-Lmgate-Facts": f"200|OK|0.005|{time.time():.3f}|0.001|0.004|{len(body)}||||-|-|-|-",
    }
    return b"\t".join([b"1", *(fields[name].encode() for name in FIELDS), escaped(body)]) + b"\n"


@pytest.fixture
def parts(tmp_path):
    writer = StatsWriter(tmp_path / "stats.jsonl")
    engine = PolicyEngine(PolicyConfig(), MemoryStore())
    spool = tmp_path / "spool"
    intake = StatsIntake({"openai": get_provider("openai")}, PriceBook.load(), writer, engine, spool, poll_s=0.01)
    return intake, writer, engine


def append(intake: StatsIntake, *lines: bytes) -> None:
    name = f"tag-{int(time.time()) // SLICE_S}.spool"
    with open(intake.spool.directory / name, "ab") as f:
        f.write(b"".join(lines))


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


async def test_a_logged_request_becomes_a_line_with_its_usage_and_frees_its_slot(parts):
    intake, writer, engine = parts
    lease = await take_slot(engine)
    append(intake, spool_line(lease))
    assert not await slot_free(engine)
    assert await intake.catch_up()
    [line] = lines(writer)
    assert (line["request_id"], line["input_tokens"], line["output_tokens"]) == ("r1", 11, 7)
    assert line["cost_usd"] > 0
    assert await slot_free(engine)  # the lease came back with the usage
    assert not await intake.catch_up()  # nothing new: an /auth refused for max_parallel does not retry


async def test_the_running_reader_picks_lines_up_within_its_poll_interval(parts):
    intake, writer, _ = parts
    task = asyncio.create_task(intake.run())
    try:
        append(intake, *(spool_line(None, request_id=f"r{i}") for i in range(50)))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if writer.pending == 50:
                break
        assert [line["request_id"] for line in lines(writer)] == [f"r{i}" for i in range(50)]
    finally:
        task.cancel()


async def test_the_line_waits_for_its_usage_to_reach_the_store(parts):
    intake, writer, engine = parts
    events: list[str] = []
    record_usages, write = engine.record_usages, writer.write

    async def slow_record_usages(*args, **kwargs):
        await asyncio.sleep(0.02)
        await record_usages(*args, **kwargs)
        events.append("usage")

    engine.record_usages = slow_record_usages  # type: ignore[method-assign]
    writer.write = lambda record: (events.append("line"), write(record))  # type: ignore[method-assign]
    append(intake, spool_line(await take_slot(engine)))
    intake.spool.read()
    assert events == []  # its usage is still on the way
    assert await intake.catch_up()  # an /auth catching up waits for usage read by an earlier pass
    assert events == ["usage", "line"] and writer.pending == 1


async def test_an_unreadable_request_still_writes_a_line(parts):
    intake, writer, engine = parts
    lease = await take_slot(engine)
    append(intake, spool_line(lease, provider="no-such-provider", body=b"not json"))
    await intake.close()
    [line] = lines(writer)
    assert line["error_type"] == "stats_error" and line["key_id"] == "k1"
    assert await slot_free(engine)  # the lease is freed from the handoff alone


async def test_close_reads_what_nginx_logged_until_then(parts):
    intake, writer, _ = parts
    append(intake, spool_line(None), spool_line(None, request_id="r2"))
    await intake.close()
    assert [line["request_id"] for line in lines(writer)] == ["r1", "r2"]


async def test_the_spool_cursor_is_saved_once_the_lines_are_on_disk(parts):
    """A sidecar that dies before its writer flushed reads those requests again at its next start."""
    intake, writer, engine = parts
    append(intake, spool_line(None), spool_line(await take_slot(engine), request_id="r2"))
    cursor = intake.spool.directory / "cursor.json"
    assert await intake.catch_up()
    assert writer.pending == 2 and not cursor.exists()
    writer.flush()
    [(name, (_, offset))] = orjson.loads(cursor.read_bytes()).items()
    assert offset == (intake.spool.directory / name).stat().st_size


async def test_the_line_says_what_the_gateway_added_and_the_lag_shows_a_backlog(parts, monkeypatch):
    intake, writer, _ = parts
    assert intake.lag(time.time()) < 1  # a reader that just passed, nothing waiting
    late = time.time() - 15  # nginx finished this one while the sidecar was down
    fields = spool_line(None).split(b"\t")
    facts = fields[6].split(b"|")
    facts[3] = f"{late:.3f}".encode()
    fields[6] = b"|".join(facts)
    append(intake, b"\t".join(fields))
    assert await intake.catch_up()
    [line] = lines(writer)
    assert line["gateway_ms"] == 1.0  # nginx's time before forwarding ($lmgate_auth_time 0.001)
    now = time.time()
    assert 14.99 <= intake.lag(now) < 17  # nginx logs milliseconds: the line may end up to 0.5 ms later
    monkeypatch.setattr("lmgate.stats.intake.time.time", lambda: now + LAG_WINDOW + 1)
    intake.read()  # a pass with nothing new, a minute later: the backlog is no longer news
    assert intake.lag(now + LAG_WINDOW + 1) < 1
    assert 30 <= intake.lag(now + LAG_WINDOW + 31) < 32  # a reader that stopped passing


def test_no_handoff_no_gateway_time():
    ex = Exchange.from_headers({"X-Lmgate-Provider": "openai", "X-Lmgate-Facts": "413|OK|0.002|1.0|||0||||||"})
    record = exchange_record(ex, get_provider("openai"), b"", PriceBook.load())
    assert record.gateway_ms is None and record.ttfb_ms is None
