#!/usr/bin/env python3
"""Rollups at scale: rebuild a temp DB from 1,000,000 stats lines over 30 days, add more live, time queries.

    .venv/bin/python scripts/bench_rollups.py [--lines N] [--live-lines N] [--batch N]

Lines are spread over 500 keys (50 owners) and 30 models, so most lines make a
row of their own: about a million hour rows.
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from lmgate.stats.rollups import Rollups

DAY = 86400


def lines(n: int, end: float, seed: int = 1, span: float = 30 * DAY):
    """``n`` stats lines with random times in the ``span`` seconds before ``end``."""
    rnd = random.Random(seed)
    keys = [(f"key-{i:03d}", f"owner-{i % 50:02d}") for i in range(500)]
    models = [(f"model-{i:02d}", ("openai", "anthropic", "gemini", "vertex", "bedrock")[i % 5]) for i in range(30)]
    for _ in range(n):
        key, owner = rnd.choice(keys)
        model, provider = rnd.choice(models)
        t = end - rnd.random() * span
        yield {
            "ts": datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "key_id": key,
            "owner": owner,
            "provider": provider,
            "model": model,
            "input_tokens": rnd.randint(10, 20_000),
            "output_tokens": rnd.randint(1, 2_000),
            "cache_read_tokens": rnd.randint(0, 5_000),
            "cache_write_tokens": None,
            "reasoning_tokens": None,
            "cost_usd": round(rnd.random() / 10, 10),
            "error_type": None if rnd.random() > 0.02 else "upstream_error",
        }


def timed(fn, repeat: int = 5) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def write_stats(directory: Path, records, files: int = 10) -> Path:
    """The lines as a live stats.jsonl plus ``files - 1`` rotated gzip siblings, as StatsWriter leaves them."""
    records = list(records)
    per = len(records) // files + 1
    path = directory / "stats.jsonl"
    for i in range(files):
        data = b"".join(orjson.dumps(r) + b"\n" for r in records[i * per : (i + 1) * per])
        if i == files - 1:
            path.write_bytes(data)
        else:
            (directory / f"stats-20260101T0000{i:02d}.000000Z.jsonl.gz").write_bytes(gzip.compress(data, 6))
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--live-lines", type=int, default=100_000, help="then added live, in batches of --batch")
    ap.add_argument("--batch", type=int, default=500, help="lines per add() call (one transaction), ~1 s of traffic")
    args = ap.parse_args()
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        stats = write_stats(Path(tmp), lines(args.lines, now))
        with Rollups(Path(tmp) / "bench.sqlite") as store:
            t = time.perf_counter()
            store.rebuild(stats)
            took = time.perf_counter() - t
            rate = args.lines / took
            print(f"rebuild: {args.lines:,} lines (10 files, 9 gzipped) in {took:.1f} s ({rate:,.0f} lines/s)")

            live = sorted(lines(args.live_lines, now, seed=2, span=3600), key=lambda r: r["ts"])  # the last hour
            t = time.perf_counter()
            for i in range(0, len(live), args.batch):
                store.add(live[i : i + args.batch])
            took = time.perf_counter() - t
            print(
                f"add: {len(live):,} lines in batches of {args.batch} in {took:.1f} s ({len(live) / took:,.0f} lines/s)"
            )

            counts = store.row_counts()
            hours, days = counts["hour"], counts["day"]
            size = sum(p.stat().st_size for p in Path(tmp).glob("bench.sqlite*")) / 1024**2
            print(f"rows: {hours:,} hour rows, {days:,} day rows; database {size:.0f} MiB")

            since_hour = now - 7 * DAY
            since_day = since_hour - since_hour % DAY
            month = now - 30 * DAY
            cases = {
                "7d by owner,model (hours at the ends + days)": lambda: store.query(
                    since_hour, group_by=["owner", "model"]
                ),
                "7d by owner,model (from midnight: days only)": lambda: store.query(
                    since_day, group_by=["owner", "model"]
                ),
                "7d by owner,model bucket=day": lambda: store.query(
                    since_hour, group_by=["owner", "model"], bucket="day"
                ),
                "7d by hour (hour table only)": lambda: store.query(since_hour, group_by=["hour"]),
                "7d by day,model for one owner": lambda: store.query(
                    since_hour, group_by=["day", "model"], owner="owner-07"
                ),
                "30d by key_id": lambda: store.query(month, group_by=["key_id"]),
                "spend for 30d, one key": lambda: store.spend(month, key_id="key-042"),
                "spend since midnight, one owner": lambda: store.spend(now - now % DAY, owner="owner-07"),
            }
            for name, fn in cases.items():
                seconds, result = timed(fn)
                what = f"{len(result)} rows" if isinstance(result, list) else f"${result:,.2f}"
                print(f"{name:46s} {seconds * 1000:8.1f} ms   ({what})")


if __name__ == "__main__":
    main()
