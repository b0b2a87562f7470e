#!/usr/bin/env python3
"""CPU time of one DLP scan of the benchmark's 2 KB prompt (scripts/bench/run.py's PROMPT and chat body).

CPU time, not wall time, so other work on the machine does not count: each
round runs ``--iterations`` scans and divides the CPU seconds it took. Three
rows: the Detector alone (what a scanner process runs per prompt field);
``DlpScanner.scan`` in the event loop (``workers: 0``); and ``DlpScanner.scan``
with the default config (``dlp.workers: 1``; a prompt over ``inline_max_bytes``
goes to the worker process), whose CPU is this process's plus the worker's
(from /proc, 10 ms ticks: keep rounds long). Median and range over rounds.

    .venv/bin/python scripts/bench_dlp_cpu.py [--rounds 5] [--iterations 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))  # the benchmark's own modules

from procfs import cpu_seconds
from workload import PROMPT, chat_body

from lmgate.config import DlpConfig
from lmgate.dlp.analyzer import Detector
from lmgate.dlp.scanner import DlpScanner


def body() -> tuple[bytes, dict]:
    doc = chat_body()
    return json.dumps(doc).encode(), doc


def rounds(label: str, run: Callable[[int], float], n_rounds: int, iterations: int) -> None:
    """``run(iterations)`` returns CPU seconds; prints µs per scan."""
    per_scan = [run(iterations) / iterations * 1e6 for _ in range(n_rounds)]
    spread = f"{min(per_scan):.0f}-{max(per_scan):.0f}"
    print(f"{label:<44} {statistics.median(per_scan):>8.0f} µs CPU per scan  (rounds {spread})", flush=True)


def detector_round(detector: Detector) -> Callable[[int], float]:
    def run(iterations: int) -> float:
        started = time.process_time()
        for _ in range(iterations):
            detector.find(PROMPT)
        return time.process_time() - started

    return run


def scanner_round(scanner: DlpScanner, loop: asyncio.AbstractEventLoop, with_children: bool) -> Callable[[int], float]:
    raw, doc = body()

    async def scans(iterations: int) -> None:
        for _ in range(iterations):
            await scanner.scan("openai", raw, doc, "log")

    def run(iterations: int) -> float:
        clock = (lambda: cpu_seconds([os.getpid()])) if with_children else time.process_time
        started = clock()
        loop.run_until_complete(scans(iterations))
        return clock() - started

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=2000, help="scans per round")
    args = parser.parse_args()

    raw, _ = body()
    print(f"prompt: {len(PROMPT)} chars, body {len(raw)} B; {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
    detector = Detector(DlpConfig())
    detector.warm_up()
    print(f"findings: {[(f.entity, PROMPT[f.start : f.end]) for f in detector.find(PROMPT)]}")
    rounds("Detector.find", detector_round(detector), args.rounds, args.iterations)

    loop = asyncio.new_event_loop()
    for label, cfg, with_children in (
        ("DlpScanner.scan, in the event loop", DlpConfig(mode="log", workers=0), False),
        ("DlpScanner.scan, default config (+worker)", DlpConfig(mode="log"), True),
    ):
        scanner = DlpScanner(cfg)
        loop.run_until_complete(scanner.start())
        try:
            scanner_round(scanner, loop, with_children)(50)  # warm
            rounds(label, scanner_round(scanner, loop, with_children), args.rounds, args.iterations)
        finally:
            loop.run_until_complete(scanner.close())
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
