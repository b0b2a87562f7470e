#!/usr/bin/env python3
"""Stats lines per second of one core: spool line -> parsed -> priced record -> JSON, for a JSON answer and a stream.

    .venv/bin/python scripts/bench_stats_lines.py [--lines N] [--profile]

The lines are what nginx writes for the benchmark's requests (scripts/bench):
the 994-byte chat completion, and a 20-token OpenAI stream with its usage chunk
in the ring of newest chunks. The policy store is left out: this is the Python
cost of the line itself, the part of the sidecar the profile after the spool put
at a third (docs/performance-history.md). ``flush`` is the writer thread's share
of a line: the JSONL append and what the written lines feed (metrics, rollups),
in flushes of ``--batch`` lines (about a second of a busy gateway's lines). ``spool pass`` is the event
loop's whole share: the spool file read, the lines built, their usage put into the policy store (memory).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

import orjson
import yaml

from lmgate.config import load_config
from lmgate.gateway import Gateway
from lmgate.handoff import Handoff
from lmgate.stats.spool import parse_line


def escaped(data: bytes) -> bytes:
    """nginx's access_log escaping."""
    return b"".join(b"\\x%02X" % c if c in b'"\\' or not 32 <= c <= 126 else bytes([c]) for c in data)


def spool_line(body: bytes, stream: bool, tail: str, content_type: str) -> bytes:
    handoff = Handoff(
        key_id="bench", owner="bench-team", masked_key="…abcdef", model="gpt-4o-mini", stream=stream,
        endpoint="/v1/chat/completions", lease="0123456789ab.1",
    )  # fmt: skip
    facts = f"200|OK|0.215|{time.time():.3f}|0.000|0.010|{len(body)}||{tail}||-|-|-|-"
    fields = ["1", "openai", "0123456789abcdef0123456789abcdef", handoff.encode(), content_type, "-", facts]
    return b"\t".join([*(f.encode() for f in fields), escaped(body)])


def json_line() -> bytes:
    answer = orjson.dumps(
        {
            "id": "chatcmpl-bench", "object": "chat.completion", "created": 1732000000,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "x" * 560}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": 471, "completion_tokens": 83, "total_tokens": 554,
                "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0},
            },
        }
    )  # fmt: skip
    return spool_line(answer, False, "1,1:0,0,0,0,0,0,0,0", "application/json")


def stream_line() -> bytes:
    def event(delta: dict, usage: dict | None = None) -> bytes:
        doc = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-mini-2024-07-18",
               "choices": [{"index": 0, "delta": delta}] if delta else [], "usage": usage}  # fmt: skip
        return b"data: " + orjson.dumps(doc) + b"\n\n"

    chunks = [event({"role": "assistant"}), *(event({"content": f" token{i}"}) for i in range(20))]
    chunks += [event({}, {"prompt_tokens": 471, "completion_tokens": 20, "total_tokens": 491}), b"data: [DONE]\n\n"]
    published, ring = chunks[:16], chunks[16:]  # the last publish, then the ring's slots in order
    lens = [len(c) for c in ring] + [0] * (8 - len(ring))
    tail = f"{len(chunks)},{len(published)}:" + ",".join(map(str, lens))
    return spool_line(b"".join(published) + b"".join(ring), True, tail, "text/event-stream")


def gateway(tmp: Path) -> Gateway:
    """The sidecar's parts as ``lmgate serve`` builds them (default providers and prices), with files in ``tmp``."""
    (tmp / "allowlist.csv").write_text("id,api_key,owner,added\n")
    config = {
        "server": {"run_dir": str(tmp / "run")},
        "allowlist": {"path": str(tmp / "allowlist.csv")},
        "stats": {"path": str(tmp / "stats.jsonl"), "spool_dir": str(tmp / "spool")},
        "rollups": {"path": str(tmp / "rollups.sqlite")},
    }
    (tmp / "lmgate.yaml").write_text(yaml.safe_dump(config))
    return Gateway.from_config(load_config(tmp / "lmgate.yaml", {}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=50_000)
    p.add_argument("--batch", type=int, default=1_000, help="lines per writer flush")
    p.add_argument("--profile", action="store_true", help="cProfile the JSON lines instead of timing")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    gw = gateway(tmp)
    intake, writer = gw.stats_intake, gw.writer

    def run(line: bytes, n: int) -> None:
        for _ in range(n):
            record, _ = intake.build(parse_line(line))
            orjson.dumps(record)  # what the writer queues for the file

    def passed(line: bytes, n: int) -> float:
        """CPU µs per line of the event loop's passes over the spool (``catch_up``: read, build, usage into the
        policy store, queued for the writer), ``--batch`` lines a pass; the spool written outside the timing."""
        spool = intake.spool.directory / f"bench-{int(time.time()) // 10}.spool"
        loop = asyncio.new_event_loop()
        spent, read = 0.0, intake.spool.read_lines
        for done in range(0, n, a.batch):
            with spool.open("ab") as f:
                f.write((line + b"\n") * min(a.batch, n - done))
            start = time.process_time()
            while loop.run_until_complete(intake.catch_up()):  # a pass reads 1 MiB at most
                pass
            spent += time.process_time() - start
            writer.flush()  # the writer thread's share is ``flushed``'s
        loop.close()
        assert intake.spool.read_lines - read == n and not intake.spool.bad_lines
        return spent / n * 1e6

    def flushed(line: bytes, n: int) -> float:
        """CPU µs per line of the writer's flushes of ``line``'s record (queued outside the timing)."""
        record, _ = intake.build(parse_line(line))
        spent = 0.0
        for done in range(0, n, a.batch):
            for _ in range(min(a.batch, n - done)):
                writer.write(record)
            start = time.process_time()
            writer.flush()
            spent += time.process_time() - start
        return spent / n * 1e6

    for name, line in (("json", json_line()), ("stream", stream_line())):
        record, _ = intake.build(parse_line(line))
        assert record.input_tokens == 471 and record.error_type is None, record  # the line is read, not skipped
        if a.profile:
            cProfile.runctx("run(line, a.lines)", globals(), {"run": run, "line": line, "a": a}, str(tmp / "prof"))
            pstats.Stats(str(tmp / "prof")).sort_stats("tottime").print_stats(20)
            return
        run(line, 2_000)  # warm-up
        start = time.process_time()  # CPU time: holds up on a busy machine, wall time does not
        run(line, a.lines)
        us = (time.process_time() - start) / a.lines * 1e6
        print(f"{name:6} {len(line):5} B spool line: {us:5.1f} µs CPU per stats line ({1e6 / us:,.0f} lines/s)")
        passed(line, a.batch)  # warm-up
        print(f"{'':6} {'':5}   spool pass: {passed(line, a.lines):5.1f} µs CPU per stats line (read, build, store)")
        flushed(line, a.batch)  # warm-up: the rollups' first rows
        print(f"{'':6} {'':5}   flush:      {flushed(line, a.lines):5.1f} µs CPU per stats line (writer thread)")


if __name__ == "__main__":
    main()
