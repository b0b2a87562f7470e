#!/usr/bin/env python3
"""Added latency of a DLP scan, and whether the event loop stays free while it runs.

For OpenAI chat bodies of about 100 B to 100 KB (seeded Faker prose with a few
e-mail addresses and phone numbers in it), times ``DlpScanner.scan`` end to end
(prompt fields, scan, counting; redact mode also splices the body) two ways:
inline in the event loop (``workers: 0``) and in one warmed-up worker process
(``inline_max_bytes: 0``). p50/p99 over repeated runs. Then, during 100 KB
scans, a ticker on the same loop sleeps 1 ms at a time and records how late it
wakes up: the loop lag other requests would see.

    .venv/bin/python scripts/bench_dlp.py [--runs 200] [--mode log|redact]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import orjson
from faker import Faker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere, without installing

from lmgate.config import DlpConfig
from lmgate.dlp.scanner import DlpScanner

SIZES = (100, 512, 1_000, 10_000, 100_000)
DENSE = "100 KB dense"


def prompt(fake: Faker, size: int, dense: bool = False) -> str:
    """Prose ending with an e-mail address and a phone number; ``dense``: one of each every ~500 bytes."""
    contact = f" Mail {fake.email()} or call {fake['en_US'].phone_number()}."
    parts: list[str] = []
    while sum(map(len, parts)) < size - len(contact):
        parts.append(fake.paragraph(nb_sentences=3 if dense else 5))
        if dense:
            parts.append(f"Mail {fake.email()} or call {fake['en_US'].phone_number()}.")
    return " ".join(parts)[: size - len(contact)] + contact


def chat_body(text: str) -> tuple[bytes, dict]:
    doc = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": text}],
        "temperature": 0.2,
    }
    return orjson.dumps(doc), doc


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timings(scanner: DlpScanner, body: bytes, doc: dict, mode: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        await scanner.scan("openai", body, doc, mode)
        out.append((time.perf_counter() - started) * 1000)
    return out


async def loop_lag(scanner: DlpScanner, body: bytes, doc: dict, mode: str, scans: int) -> tuple[float, float, float]:
    """(max lag ms, p99 lag ms, mean scan ms) of a 1 ms ticker while ``scans`` scans run one after the other."""
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append((time.perf_counter() - before - 0.001) * 1000)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    took = []
    for _ in range(scans):  # as between requests, the loop runs other work between scans
        took += await timings(scanner, body, doc, mode, 1)
        await asyncio.sleep(0.003)
    done.set()
    await task
    return max(lags), pct(lags, 0.99), statistics.mean(took)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per size (100 KB: a fifth of it)")
    parser.add_argument("--mode", choices=("log", "redact"), default="log")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    Faker.seed(args.seed)
    fake = Faker(["en_US", "en_GB"])
    bodies = {f"{size / 1000:g} KB" if size >= 1000 else f"{size} B": chat_body(prompt(fake, size)) for size in SIZES}
    bodies[DENSE] = chat_body(prompt(fake, 100_000, dense=True))

    started = time.perf_counter()
    # a budget far above any scan here: this measures the scan, not dlp.max_scan_ms (1 s by default)
    inline = DlpScanner(DlpConfig(workers=0, max_scan_ms=60_000))
    await inline.start()
    inline_start = time.perf_counter() - started
    started = time.perf_counter()
    pooled = DlpScanner(DlpConfig(workers=1, inline_max_bytes=0, max_scan_ms=60_000))
    await pooled.start()
    pool_start = time.perf_counter() - started
    print(f"startup: inline detector {inline_start:.2f} s, one spawned+warmed worker {pool_start:.2f} s")
    print(f"mode {args.mode}; ms per scan of an OpenAI chat body (prompt text size)\n")
    print(f"{'prompt':>12} {'inline p50':>11} {'inline p99':>11} {'pool p50':>9} {'pool p99':>9} {'findings':>30}")
    try:
        for label, (body, doc) in bodies.items():
            runs = max(10, args.runs // 5) if label.startswith("100 KB") else args.runs
            await timings(pooled, body, doc, args.mode, 3)  # warm caches on both sides
            a = await timings(inline, body, doc, args.mode, runs)
            b = await timings(pooled, body, doc, args.mode, runs)
            found = (await inline.scan("openai", body, doc, args.mode)).findings
            print(
                f"{label:>12} {pct(a, 0.5):>11.2f} {pct(a, 0.99):>11.2f} {pct(b, 0.5):>9.2f} {pct(b, 0.99):>9.2f}"
                f" {orjson.dumps(found).decode():>30}"
            )
        print("\nevent loop lag (1 ms ticker) during 10 successive 100 KB scans:")
        for label in ("100 KB", DENSE):
            body, doc = bodies[label]
            for name, scanner in (("inline", inline), ("pool", pooled)):
                worst, p99, scan_ms = await loop_lag(scanner, body, doc, args.mode, 10)
                line = f"max lag {worst:7.2f} ms, p99 {p99:6.2f} ms (scan {scan_ms:.1f} ms each)"
                print(f"  {label:>12} {name:>6}: {line}")
        idle, idle_p99, _ = await loop_lag(pooled, *bodies["100 B"], "off", 10)
        print(f"  {'no scan':>12} {'':>6}: max lag {idle:7.2f} ms, p99 {idle_p99:6.2f} ms (this machine's baseline)")
    finally:
        await pooled.close()
        await inline.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
