"""Spool lines of many shapes -> the exact JSONL bytes, usage updates, rollup rows and metrics they gave.

The stats path is tuned for CPU (issue #19); its output must not move by a byte. ``golden_lines.json``
holds what the code gave before the tuning. Regenerate it (only for a deliberate change of the output)
with ``python -m tests.unit.stats.test_golden_lines``.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import fields
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry, generate_latest

from lmgate.handoff import CTX_HEADER, Handoff
from lmgate.metrics.requests import RequestCollector
from lmgate.pricing import PriceBook
from lmgate.providers import get as get_provider
from lmgate.stats.intake import StatsIntake
from lmgate.stats.record import StatsRecord
from lmgate.stats.rollup_rows import Batch, Malformed
from lmgate.stats.spool import FIELDS, parse_line

GOLDEN = Path(__file__).with_name("golden_lines.json")
FIELD_NAMES = [f.name for f in fields(StatsRecord)]
END = 1_796_000_000.2155  # a fixed $msec: lines of the same hour, one second apart


def escaped(data: bytes) -> bytes:
    """nginx's access_log escaping: ", \\ and bytes outside 32..126 as \\xHH."""
    return b"".join(b"\\x%02X" % c if c in b'"\\' or not 32 <= c <= 126 else bytes([c]) for c in data)


def line(
    body: bytes,
    *,
    provider: str = "openai",
    handoff: str | None = None,
    facts: list[str] | None = None,
    content_type: str = "application/json",
    encoding: str = "-",
    request_id: str = "r",
) -> bytes:
    if handoff is None:
        handoff = Handoff("k1", "alpha", "…abcd", "gpt-4o-mini", False, "/v1/chat/completions", "lease.1").encode()
    fields = {
        "X-Lmgate-Provider": provider,
        "X-Lmgate-Request-Id": request_id,
        CTX_HEADER: handoff,
        "X-Lmgate-Content-Type": content_type,
        "X-Lmgate-Content-Encoding": encoding,
        "X-Lmgate-Facts": "|".join(facts or ["200", "OK", "0.215", f"{END:.3f}", "0.001", "0.010", str(len(body))]),
    }
    return b"\t".join([b"1", *(escaped(fields[name].encode()) for name in FIELDS), escaped(body)])


def chat(usage: dict | None, content: str = "hi", model: str = "gpt-4o-mini-2024-07-18") -> bytes:
    doc = {"id": "c", "object": "chat.completion", "model": model, "choices": [{"message": {"content": content}}]}
    return orjson.dumps({**doc, "usage": usage} if usage is not None else doc)


def sse(*events: dict) -> bytes:
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def lines() -> list[bytes]:
    usage = {"prompt_tokens": 471, "completion_tokens": 83, "total_tokens": 554}
    details = {
        **usage,
        "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 7},
        "completion_tokens_details": {"reasoning_tokens": 20},
    }
    stream = sse(
        {"model": "gpt-4o-mini", "choices": [{"delta": {"content": "Hello there"}}]},
        {"model": "gpt-4o-mini", "choices": [], "usage": usage},
    )
    no_usage = sse({"model": "gpt-4o-mini", "choices": [{"delta": {"content": "Hello there, friend"}}]})
    estimate = Handoff("k2", None, "…ef", "gpt-4o", True, "/v1/chat/completions", "l.2", 1234).encode()
    dlp = {"mode": "redact", "action": "redact", "findings": {"EMAIL": 2, "PHONE": 1}, "scan_ms": 0.4}
    with_dlp = Handoff("k3", "beta", "…12", "gpt-4o", False, "/v1/chat/completions", "l.3", None, dlp).encode()
    anthropic = orjson.dumps(
        {
            "type": "message",
            "model": "claude-sonnet-4-5-20250929",
            "usage": {"input_tokens": 50, "output_tokens": 9, "cache_read_input_tokens": 1000},
        }
    )
    t = f"{END:.3f}"
    ok = ["200", "OK", "0.215", t, "0.001", "0.010", "922"]
    bedrock_facts = [*ok, "", "", "", "5", "6", "-", "-"]
    return [
        line(chat(usage)),
        line(chat(details), request_id="details"),
        line(chat(details, content='ünïcödé \\ " \n\t tail'), request_id="escapes\x01\u00e9"),
        line(stream, content_type="text/event-stream", request_id="stream"),
        line(no_usage, handoff=estimate, content_type="text/event-stream; charset=utf-8", request_id="estimated"),
        line(chat(usage), handoff=with_dlp, request_id="dlp"),
        line(b'{"error":{"message":"boom"}}', facts=["500", "OK", "0.3", t, "0.002", "0.25", "30"]),
        line(chat(usage), facts=["200", "", "1.5", t, "0.001", "0.2", "10"], request_id="gone"),
        line(stream[:40], facts=["200", "", "1.5", t, "0.001", "0.2", "10"], content_type="text/event-stream"),
        line(b"", facts=["502", "OK", "3.001", t, "0.004", "-", "0", "", "", "upstream_unreachable"]),
        line(chat(usage), facts=["200", "OK", "0.3", t, "0.001", "0.010, 0.120", "922"], request_id="retried"),
        line(chat(usage), facts=["200", "OK", "1.2345", t, "0.0005", "0.1", "1"], request_id="odd-times"),
        line(chat(usage), facts=["200", "OK", "0.1", t], request_id="short-facts"),
        line(chat(usage), handoff="-", request_id="no-handoff"),
        line(chat(usage), handoff="bm90IGpzb24=", request_id="damaged-handoff"),
        line(gzip.compress(chat(details), mtime=0), encoding="gzip", request_id="gzip"),
        line(anthropic, provider="anthropic", request_id="anthropic"),
        line(b"{}", provider="bedrock", facts=bedrock_facts, request_id="bedrock-headers"),
        line(chat(usage), provider="no-such-route", request_id="unknown-route"),
        line(b"not json", request_id="unreadable"),
        line(chat(usage, model="gpt-4.1"), facts=["200", "OK", "0", t, "0", "0", "1"], request_id="zero-times"),
        line(chat({"prompt_tokens": 300_000, "completion_tokens": 5}, model="gpt-5.4"), request_id="tier"),
        line(chat(usage), facts=["200", "OK"], request_id="no-msec"),  # its update's time is now: left out
    ]


def outputs() -> dict:
    """What the stats path makes of ``lines()``: JSONL bytes, usage updates, rollup rows, metrics."""
    apis = {name: get_provider(name) for name in ("openai", "anthropic", "bedrock")}
    intake = StatsIntake.__new__(StatsIntake)  # build() only: no spool, writer or store
    intake.apis, intake.prices = apis, PriceBook.load()
    jsonl, updates = [], []
    for raw in lines():
        entry = parse_line(raw)
        assert entry is not None, raw
        record, update = intake.build(entry)
        assert list(vars(record)) == FIELD_NAMES  # orjson writes the __dict__: the fields, in order, only
        jsonl.append(orjson.dumps(record).decode())
        updates.append(None if update is None or entry.fields["X-Lmgate-Request-Id"] == "no-msec" else list(update))
    records = [orjson.loads(j) for j in jsonl]
    batch = Batch()
    malformed = 0
    for r in [*records, {"ts": "nope"}, {**records[0], "input_tokens": -1}, {**records[0], "dlp": 3}]:
        try:
            batch.add(r)
        except Malformed:
            malformed += 1
    collector = RequestCollector(50)
    collector.observe(records)
    registry = CollectorRegistry()
    registry.register(collector)
    return {
        "jsonl": jsonl,
        "updates": updates,
        "rollups": {
            "lines": batch.lines,
            "malformed": malformed,
            "usage": sorted([list(k), v] for k, v in batch.usage.items()),
            "counts": sorted(([list(k), v] for k, v in batch.counts.items()), key=repr),
            "recent": [list(r) for r in batch.recent],
            "seen": sorted(batch.seen.items()),
        },
        "metrics": generate_latest(registry).decode().splitlines(),
    }


def test_the_stats_path_gives_what_it_gave():
    assert json.loads(json.dumps(outputs())) == json.loads(GOLDEN.read_text())


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(outputs(), indent=1, ensure_ascii=False) + "\n")
