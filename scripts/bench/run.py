"""lmgate's benchmark: bare nginx vs lmgate (all policies on, DLP off and on), one command, bounded.

Run through ``scripts/bench.sh`` (it installs wrk and pins this script to the
load CPU); see docs/performance.md for what each section measures and how to
read it. Everything listens on 127.0.0.1, in a temp dir, and is stopped by PID
at the end. This file is the command line; the modules beside it do one job each:

    workload.py    what is sent and answered (the key, the bodies, the fake answer)
    processes.py   child processes stopped by PID, waiting for them, the driver's own HTTP calls
    procfs.py      CPU time and memory of process trees, CPU busy times, from /proc
    servers.py     the fake upstreams, bare nginx and lmgate rows (via lmgate's CLI)
    load.py        wrk and the measuring clients on the load CPU, the CPU meter, quiet waits
    saturation.py  section 1 (wrk) and 4 (stats completeness of those runs)
    fixed_rate.py  section 2 (added latency at a fixed rate) and 2b (DLP off vs on)
    streams.py     section 3 (TTFB, first token, chunk gaps and transit)
    soak.py        section 5 (sidecar memory over a long soak)
    report.py      medians, spreads, noise marks, target lines
    benchmark.py   the default mode: setup, sections 1-5, targets
    ablation.py    --ablate
    profiling.py   --profile DIR
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from ablation import run_ablation
from benchmark import run_benchmark
from processes import log
from profiling import run_profile
from servers import Bench, spool_dir
from workload import write_bodies


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="scripts/bench.sh",
        description="bare nginx vs lmgate: throughput, latency, streams, stats completeness, sidecar memory",
    )
    p.add_argument("--quick", action="store_true", help="a short smoke run (about 2 minutes)")
    p.add_argument("--rounds", type=int, help="rounds of interleaved rows (full 5, quick 2)")
    p.add_argument("--seconds", type=float, help="seconds per saturation run (full 10, quick 2)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections at saturation (64)")
    p.add_argument("--rate", type=float, default=200.0, help="requests/s of the fixed-rate runs (200)")
    p.add_argument("--dlp-rate", type=float, default=50.0, help="requests/s of the DLP off/on comparison (50)")
    p.add_argument("--rate-seconds", type=float, help="seconds per fixed-rate run (full 10, quick 3)")
    p.add_argument("--stream-seconds", type=float, help="seconds per stream run (full 10, quick 3)")
    p.add_argument("--stream-concurrency", type=int, default=8, help="streams in flight (8)")
    p.add_argument("--stream-tokens", type=int, default=20, help="token chunks per stream (20)")
    p.add_argument("--stream-first-ms", type=float, default=10.0, help="upstream delay to the first token (10)")
    p.add_argument("--stream-gap-ms", type=float, default=10.0, help="upstream delay between tokens (10)")
    p.add_argument("--soak", type=int, help="requests of the sidecar RSS soak (full 1000000, quick 20000; 0: skip)")
    p.add_argument("--soak-max-seconds", type=float, default=1800, help="stop the soak after this long (1800)")
    p.add_argument("--no-dlp", action="store_true", help="skip the lmgate+dlp row")
    p.add_argument("--no-small", action="store_true", help="skip the ~200 B body rows of the saturation section")
    p.add_argument(
        "--upstream-keepalive",
        type=int,
        metavar="N",
        help="keepalive links per upstream pool of bare nginx and lmgate (default: server.upstream_keepalive's)",
    )
    p.add_argument(
        "--rollups-store",
        metavar="URL",
        help="the lmgate rows count usage into this PostgreSQL (rollups.store: postgresql://...) instead of SQLite",
    )
    p.add_argument("--gw-cpu", type=int, default=0, help="CPU for the gateway and the fake upstreams (0)")
    p.add_argument("--load-cpu", type=int, default=1, help="CPU for wrk and the measuring clients (1)")
    p.add_argument("--no-pin", action="store_true", help="do not pin (results are then not comparable)")
    p.add_argument("--quiet-wait", type=float, help="wait up to this long before each run for idle CPUs (15/5)")
    p.add_argument("--quiet-pct", type=float, default=10.0, help="a CPU is idle below this %% busy (10)")
    p.add_argument("--log-level", default="INFO", help="the sidecar's LMGATE_LOG_LEVEL (INFO, as deployed)")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="instead of the benchmark: profile the lmgate row at saturation (py-spy on the sidecar, perf on "
        "nginx and the sidecar) and write the profiles into DIR",
    )
    p.add_argument(
        "--ablate",
        action="store_true",
        help="instead of the benchmark: lmgate's nginx config with parts switched off (stats, capture, /auth "
        "answered by nginx itself), to see what each part costs at saturation",
    )
    p.add_argument("--profile-seconds", type=float, default=20.0, help="seconds per profile (20)")
    p.add_argument("--json", type=Path, help="also write every raw measurement to this file")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs, stats) for inspection")
    a = p.parse_args(argv)
    full = not a.quick
    a.rounds = a.rounds or (5 if full else 2)
    a.seconds = a.seconds or (10.0 if full else 2.0)
    a.rate_seconds = a.rate_seconds or (10.0 if full else 3.0)
    a.quiet_wait = (15.0 if full else 5.0) if a.quiet_wait is None else a.quiet_wait
    a.stream_seconds = a.stream_seconds or (10.0 if full else 3.0)
    a.soak = (1_000_000 if full else 20_000) if a.soak is None else a.soak
    if a.no_pin or (os.cpu_count() or 1) < 2:
        a.gw_cpu = a.load_cpu = None
    return a


def main(argv: list[str]) -> int:
    a = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="lmgate-bench-"))
    (root / "logs").mkdir()
    bench = Bench(a, root)
    write_bodies(root)
    raw: dict = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}}
    started = time.monotonic()

    def on_term(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        if a.profile:
            run_profile(bench)
        elif a.ablate:
            run_ablation(bench)
        else:
            run_benchmark(bench, raw)
    except KeyboardInterrupt:
        log("interrupted: stopping the servers")
        return 130
    finally:
        bench.stop_all()
        if a.json:
            a.json.write_text(json.dumps(raw, indent=1))
        if a.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
            for name in ("lmgate", "dlp"):
                shutil.rmtree(spool_dir(root / name), ignore_errors=True)
        log(f"total time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
