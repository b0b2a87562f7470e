"""Scans in worker processes: same answers as inline, a free event loop, budgets, and a dead worker."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import orjson
import pytest
import pytest_asyncio

from lmgate.config import DlpConfig
from lmgate.dlp.pool import ScanPool
from lmgate.dlp.scanner import SCANNER_ERROR, TIMEOUT, DlpScanner
from lmgate.dlp.verdict import decide
from tests.unit.dlp import samples as s

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROSE = "The quarterly report shows growth in several regions and we should discuss the plan next week. "


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pooled() -> AsyncIterator[DlpScanner]:
    scanner = DlpScanner(DlpConfig(workers=1, inline_max_bytes=0))
    await scanner.start()
    yield scanner
    await scanner.close()


def chat(text: str) -> tuple[bytes, dict]:
    doc = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
    return orjson.dumps(doc), doc


async def test_pool_finds_and_redacts_like_inline(pooled):
    raw, doc = chat(f"mail {s.EMAIL}, key {s.OPENAI_PROJECT}")
    result = await pooled.scan("openai", raw, doc, "redact")
    assert result.findings == {"EMAIL_ADDRESS": 1, "OPENAI_API_KEY": 1}
    content = orjson.loads(decide("redact", result).body)["messages"][0]["content"]
    assert content == "mail <EMAIL_ADDRESS>, key <OPENAI_API_KEY>"


async def test_a_prompt_no_entity_can_be_in_needs_no_worker(pooled, monkeypatch):
    async def boom(*args):
        raise AssertionError("sent to a worker")

    monkeypatch.setattr(pooled._pool, "find_all", boom)
    raw, doc = chat(PROSE * 20)
    result = await pooled.scan("openai", raw, doc, "block")
    assert result.findings == {} and not result.skipped


async def test_a_100kb_scan_runs_in_a_worker_not_in_the_event_loop(pooled, monkeypatch):
    # what keeps the loop responsive is where the scan runs: checked directly, not by timing the loop
    def in_the_loop(*args):
        raise AssertionError("a 100 KB prompt was scanned in the event loop")

    monkeypatch.setattr("lmgate.dlp.scanner.find_all", in_the_loop)
    raw, doc = chat((PROSE * 1100)[:100_000] + f" {s.EMAIL}")
    result = await pooled.scan("openai", raw, doc, "block")
    assert result.findings == {"EMAIL_ADDRESS": 1} and not result.skipped


async def test_queueing_counts_against_the_time_budget(pooled):
    # 100 KB with a phone number, an address and an IP every 500 bytes: each is checked (~400 ms in all)
    raw, doc = chat((PROSE * 5 + f" call 212-555-0187 or {s.EMAIL} at 10.1.2.3. ") * 200)
    budget, pooled.cfg.max_scan_ms = pooled.cfg.max_scan_ms, 20
    try:
        result = await pooled.scan("openai", raw, doc, "block")
    finally:
        pooled.cfg.max_scan_ms = budget
    assert result.skip_reason == TIMEOUT and decide("block", result).action == "block"
    await asyncio.sleep(0.5)  # let the worker finish the abandoned scan


async def test_a_dead_worker_fails_closed_then_the_pool_recovers(pooled):
    raw, doc = chat(f"mail {s.EMAIL}")
    for pid in list(pooled._pool._executor._processes):
        os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0.2)
    result = await pooled.scan("openai", raw, doc, "block")
    assert result.skip_reason == SCANNER_ERROR and decide("block", result).action == "block"
    deadline = time.monotonic() + 60
    while (result := await pooled.scan("openai", raw, doc, "block")).skipped and time.monotonic() < deadline:
        await asyncio.sleep(0.2)  # requests fail closed while the new pool starts
    assert result.findings == {"EMAIL_ADDRESS": 1}


async def test_small_prose_scans_in_the_loop_and_number_heavy_text_in_a_worker(monkeypatch):
    async def no_processes(self):
        return None

    sent: list[list[str]] = []

    async def pool_find_all(texts, budget_s):
        sent.append(texts)
        return [[] for _ in texts]

    monkeypatch.setattr(ScanPool, "start", no_processes)
    scanner = DlpScanner(DlpConfig(workers=1))  # the default inline_max_bytes
    await scanner.start()
    monkeypatch.setattr(scanner._pool, "find_all", pool_find_all)
    try:
        prose, _ = chat((PROSE * 40)[:3000] + f" {s.EMAIL} by 5 pm")  # 3 KB, one digit
        result = await scanner.scan("openai", prose, orjson.loads(prose), "block")
        assert result.findings == {"EMAIL_ADDRESS": 1} and sent == []
        log = " ".join(f"2025-06-24 14:36:{i:02} upgrade libfoo 1.{i}.0 for {s.EMAIL}" for i in range(20))
        raw, doc = chat(log)  # 1.3 KB, but 200 digits: phone-number candidates, parsed 8 times each
        await scanner.scan("openai", raw, doc, "block")
        assert sent == [[log]]
        big, doc = chat(PROSE * 50 + s.EMAIL)  # 5 KB of prose: over dlp.inline_max_bytes
        await scanner.scan("openai", big, doc, "block")
        assert len(sent) == 2
    finally:
        await scanner.close()
