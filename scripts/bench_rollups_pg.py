#!/usr/bin/env python3
"""The writer thread's cost of the rollups per stats line: the SQLite file vs the shared PostgreSQL store.

    .venv/bin/python scripts/bench_rollups_pg.py [--lines N] [--batch N] [--server URL]

The same lines (500 keys, 30 models, the last hour, as scripts/bench_rollups.py
makes them, each with a request id) are added in batches of --batch (one
writer flush, ~1 s of traffic) to a fresh SQLite file and to a fresh database
on --server (created and dropped here). Printed per line: CPU of the calling
thread (what the sidecar's writer thread spends: parsing is not included, both
stores get dicts), CPU of the PostgreSQL server processes serving the store
(from /proc, when the server runs on this machine), and wall time. CPU per
line is fairly robust on a busy machine; wall time is not.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from bench_rollups import lines

from lmgate.stats.rollups import Rollups
from lmgate.stats.rollups_pg import PgRollups

APP = "lmgate-bench-rollups"


def server_cpu(admin: str, dbname: str) -> float:
    """CPU seconds so far of the server processes connected to ``dbname`` as this benchmark (0: not local)."""
    with psycopg.connect(admin, autocommit=True) as db:
        pids = [r[0] for r in db.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (dbname,))]
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def run(store, records: list[dict], batch: int, cpu_of_server=lambda: 0.0) -> tuple[float, float, float]:
    """(thread CPU, server CPU, wall) seconds to add ``records`` in batches."""
    server0, cpu0, wall0 = cpu_of_server(), time.thread_time(), time.perf_counter()
    for i in range(0, len(records), batch):
        store.add(records[i : i + batch])
    cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    return cpu, cpu_of_server() - server0, wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500, help="lines per add() call (one transaction), ~1 s of traffic")
    ap.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres", help="PostgreSQL (admin)")
    args = ap.parse_args()
    now = time.time()
    records = sorted(lines(args.lines, now, seed=3, span=3600), key=lambda r: r["ts"])
    for r in records:
        r["request_id"] = uuid.uuid4().hex
    dbname = f"lmgate_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
    url = args.server.rsplit("/", 1)[0] + f"/{dbname}?application_name={APP}"
    print(f"{args.lines:,} lines in batches of {args.batch}; per line:")
    print(f"{'store':12s} {'writer CPU':>12s} {'server CPU':>12s} {'wall':>10s}")
    try:
        with tempfile.TemporaryDirectory() as tmp, Rollups(Path(tmp) / "bench.sqlite") as sqlite:
            cpu, _, wall = run(sqlite, records, args.batch)
            per = (cpu / args.lines * 1e6, wall / args.lines * 1e6)
            print(f"{'sqlite':12s} {per[0]:9.1f} µs {'(in-thread)':>12s} {per[1]:7.1f} µs")
        pg = PgRollups(url)
        try:
            pg.migrate()
            cpu, server, wall = run(pg, records, args.batch, lambda: server_cpu(args.server, dbname))
            again, _, _ = run(pg, records[: args.batch * 4], args.batch)  # a replay: every id already counted
        finally:
            pg.close()
        print(
            f"{'postgresql':12s} {cpu / args.lines * 1e6:9.1f} µs {server / args.lines * 1e6:9.1f} µs"
            f" {wall / args.lines * 1e6:7.1f} µs"
        )
        print(f"{'(replayed)':12s} {again / (args.batch * 4) * 1e6:9.1f} µs   lines already counted, skipped by id")
    finally:
        with psycopg.connect(args.server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    main()
