"""The benchmark itself: start the rows, check them, print the setup, run sections 1-5, then the targets."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fixed_rate import FixedRate, run_dlp_rate, run_fixed_rate
from hostspeed import python_reference_us
from load import wait_stats, wrk
from processes import http_post, log, wait_until
from procfs import rss_kib
from report import Report, completeness_pct, is_noisy, med, target_line
from saturation import Row, benchmark_rows, print_completeness, run_saturation, share_of_bare
from servers import HERE, Bench
from soak import rss_soak
from streams import run_streams
from workload import BIG, BODY, CHAT, MODEL, PROMPT, SMALL_BODY

REPO = HERE.parents[1]


@dataclass
class Results:
    rows: list[Row]  # of the saturation section
    saturation: dict[str, list[dict]]
    fixed: FixedRate
    streams: dict[str, list[dict]]
    stream_added: dict[tuple[str, str], list[float]]  # (measure, percentile) -> lmgate minus bare, per round
    completeness: list[float]  # per saturation run of lmgate, and the soak
    dlp_runs: dict[str, list[dict]] = field(default_factory=dict)
    dlp_added: list[float] | None = None
    soak: dict | None = None


def run_benchmark(bench: Bench, raw: dict) -> None:
    a = bench.args
    out = Report()
    start_rows(bench)
    rows = [k for k in ("bare", "lmgate", "dlp") if k in bench.targets]
    sat_rows = benchmark_rows(bench)
    check_rows(bench, sat_rows)
    sidecar = bench.targets["lmgate"].sidecar
    rss_idle = rss_kib(sidecar.pid)
    time.sleep(1.5)
    print_setup(bench, out)
    raw["rows"] = {row.key: row.label for row in sat_rows}

    # warm-up: each gateway once at saturation, not reported
    for key in rows:
        log(f"warm-up {bench.targets[key].name} ...")
        wrk(bench, bench.targets[key].base + "/openai" + CHAT, 2 if a.quick else 3, a.connections)
    for key in rows:
        if bench.targets[key].stats_path:
            wait_stats(bench.targets[key], bench.targets[key].count_stats() + 10**9, timeout=4)

    sat = raw["saturation"] = run_saturation(bench, sat_rows, out)
    fixed = run_fixed_rate(bench, rows, out)
    raw["fixed_rate"] = fixed.runs
    dlp_runs, dlp_added = {}, None
    if "dlp" in rows:
        dlp_runs, dlp_added = run_dlp_rate(bench, out)
        raw["dlp_fixed_rate"] = dlp_runs
    st, sd = run_streams(bench, rows, out)
    raw["streams"] = st
    res = Results(sat_rows, sat, fixed, st, sd, print_completeness(bench, sat_rows, sat, out), dlp_runs, dlp_added)
    if a.soak > 0:
        res.soak = raw["soak"] = rss_soak(bench, out)
        pct = completeness_pct(res.soak["forwarded"], res.soak["stats_lines"])
        if pct is not None:
            res.completeness.append(pct)
    print_targets(a, res, out)
    out()
    runs = [x for group in (sat, fixed.runs, st, dlp_runs) for xs in group.values() for x in xs]
    noisy = sum(1 for x in runs if is_noisy(x, a))
    waited = sum(x.get("quiet_wait_s", 0) for x in runs)
    out(
        f"noise     {noisy} of {len(runs)} runs had over {a.quiet_pct:g}% of a CPU taken by other processes "
        f"(waited {waited:.0f} s in all for quieter moments)"
    )
    out(
        f"sidecar   RSS {rss_idle / 1024:.1f} MiB idle after start; lines in the sidecar log during the run: "
        f"{log_lines(bench)}"
    )
    raw["report"] = out.lines


def print_targets(a: argparse.Namespace, res: Results, out: Report) -> None:
    """Issue 19's targets (docs/performance.md), each line from this run's medians over rounds."""
    out()
    out("Targets (issue 19; median over rounds)")
    by_key = {row.key: row for row in res.rows}
    for key, label, floor in (("lmgate", "2 KB prompt", 0.4), ("lmgate-small", "~200 B body", 0.3)):
        if key not in by_key:
            continue
        ratio = share_of_bare(res.saturation, by_key[key])
        target_line(out, f"lmgate req/s >= {floor:.0%} of bare nginx, {label}", f"{ratio * 100:.1f}%", ratio >= floor)
    cpu = med([x["cpu_us"] for x in res.saturation["lmgate"]])
    target_line(out, "lmgate CPU <= 125 µs/request (nginx + sidecar), 2 KB prompt", f"{cpu:.0f} µs", cpu <= 125)
    d50, d99 = (med(v) for v in res.fixed.added["lmgate"])
    target_line(out, f"added p50 <= 0.5 ms at {a.rate:g} req/s", f"{d50:+.3f} ms", d50 <= 0.5)
    target_line(out, f"added p99 <= 1 ms at {a.rate:g} req/s", f"{d99:+.3f} ms", d99 <= 1.0)
    sd = res.stream_added
    if sd:
        dt, db = med(sd[("ttft_ms", "p50")]), med(sd[("ttfb_ms", "p50")])
        target_line(out, "stream first token <= 0.3 ms later (p50)", f"{dt:+.3f} ms", dt <= 0.3)
        target_line(out, "stream headers (TTFB) <= 0.5 ms later (p50)", f"{db:+.3f} ms", db <= 0.5)
        g50, t50 = med(sd[("gap_ms", "p50")]), med(sd[("transit_ms", "p50")])
        same = abs(g50) <= 0.1 and abs(t50) <= 0.1
        target_line(out, "chunk gaps and transit within ±0.1 ms (p50)", f"{g50:+.3f} / {t50:+.3f} ms", same)
    low = min(res.completeness) if res.completeness else None
    target_line(
        out,
        "stats completeness 100% at saturation",
        "-" if low is None else f"{low:.3f}% (lowest run)",
        None if low is None else low >= 100.0,
    )
    soak = res.soak
    if soak and soak.get("growth_pct") is not None:
        g = soak["growth_pct"]
        target_line(out, f"sidecar RSS growth <= 10% over {soak['requests']} req", f"{g:+.1f}%", g <= 10)
    if res.dlp_added is not None:
        dd = med(res.dlp_added)
        target_line(out, f"DLP on adds <= 3 ms p50 (2 KB prompt, {a.dlp_rate:g} req/s)", f"{dd:+.3f} ms", dd <= 3.0)
    else:
        target_line(out, "DLP on adds <= 3 ms p50 (2 KB prompt)", "not measured (row skipped)", None)


def start_rows(bench: Bench) -> None:
    """The upstreams, bare nginx, lmgate, and lmgate+dlp once its scanner is up (unless --no-dlp)."""
    log(f"starting servers in {bench.root} ...")
    bench.start_upstreams()
    bench.start_lmgate("lmgate", "lmgate")
    if "lmgate" not in bench.targets:
        raise RuntimeError(bench.skipped.get("lmgate", "lmgate did not start"))
    if not bench.args.no_dlp:
        bench.start_lmgate("dlp", "lmgate+dlp", extra={"dlp": {"mode": "log"}})
        if "dlp" in bench.targets:  # the sidecar answers before its scanner processes are up: wait for them
            side = bench.targets["dlp"].sidecar
            try:
                wait_until("the DLP scanner", lambda: "scanner ready" in side.log.read_text(errors="replace"), 90)
            except RuntimeError:
                log("the DLP sidecar never logged 'scanner ready'; going on (its first requests may be unscanned)")


def check_rows(bench: Bench, rows: list[Row]) -> None:
    """Every row answers its body with 200 and the fake's JSON (lmgate also writes a stats line for it)."""
    for row in rows:
        t = bench.targets[row.target]
        status, _, data = http_post(t.base + "/openai" + CHAT, (bench.root / row.body).read_bytes())
        if status != 200 or b"chat.completion" not in data:
            raise RuntimeError(f"{row.label}: sanity request answered {status}: {data[:300]!r}")


def print_setup(bench: Bench, out: Report) -> None:
    a = bench.args
    body = (bench.root / BODY).read_bytes()
    sample = bench.targets["lmgate"].last_stats_line() or {}
    mode = "quick (smoke) run" if a.quick else "full run"
    out(f"lmgate benchmark: {mode}, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    if a.gw_cpu is not None:
        out(
            f"layout    gateway + fake upstreams pinned to CPU {a.gw_cpu}; wrk and the measuring clients to CPU "
            f"{a.load_cpu} (taskset); {os.cpu_count()} CPUs, {cpu_model()}, Linux {platform.release()}"
        )
    else:
        out(f"layout    NOT pinned (--no-pin or one CPU): numbers are not comparable; {os.cpu_count()} CPUs")
    out(f"software  {versions(bench)}")
    ref = python_reference_us(bench.pin(a.gw_cpu))
    out(
        f"host      Python reference workload {'?' if ref is None else f'{ref:.2f}'} µs CPU per op on the gateway "
        "CPU (scripts/bench/hostspeed.py): compare runs from different hosts by its ratio"
    )
    out(
        f"request   POST /openai{CHAT}, {len(body)} B JSON ({len(PROMPT)} B prompt, model {MODEL}); "
        f"answer {bench.answer_bytes} B JSON from nginx `return 200`"
    )
    if not a.no_small:
        small = (bench.root / SMALL_BODY).read_bytes()
        out(
            f"small     rows 'bare 200B' and 'lmgate 200B' of section 1: the same POST with a {len(small)} B JSON body "
            "(one short user message); the same answer"
        )
    out(
        f"streams   POST /sse{CHAT} stream=true: {a.stream_tokens} token chunks, first after "
        f"{a.stream_first_ms:g} ms, then every {a.stream_gap_ms:g} ms (Python SSE server)"
    )
    out(
        f"lmgate    allow-list key: models=gpt-4o*, rpm={BIG}, tpm={BIG}, budget_usd=1e9/month, "
        f"max_parallel=1000; stats on; policy store memory; 1 nginx worker; sidecar log level {a.log_level}"
    )
    # the store's URL may hold a password: say which kind only
    out(f"rollups   {'shared PostgreSQL store (--rollups-store)' if a.rollups_store else 'SQLite file (default)'}")
    cost = sample.get("cost_usd")
    out(
        f"          a stats line: key_id={sample.get('key_id')} model={sample.get('model')} "
        f"tokens={sample.get('input_tokens')}+{sample.get('output_tokens')} cost_usd={cost}"
        + ("" if cost is not None else "  (cost not computed by this lmgate)")
    )
    if a.upstream_keepalive:
        out(
            f"keepalive {a.upstream_keepalive} links per upstream pool, bare nginx and lmgate "
            "(--upstream-keepalive: lmgate's rendered config edited)"
        )
    if "dlp" in bench.targets:
        out("dlp row   as lmgate, plus dlp.mode=log (the same 2 KB prompt is scanned)")
    for reason in bench.skipped.values():
        out(f"SKIPPED   {reason.replace(str(bench.root), '<tmp>')}")
    out(f"rounds    {a.rounds}, rows interleaved within each round; cells: median (min–max) over rounds")


def versions(bench: Bench) -> str:
    nginx = subprocess.run([bench.nginx, "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1]
    njs = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "libnginx-mod-http-js"], capture_output=True, text=True
        )
        njs = out.stdout.split("-")[0] or "?"
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[1:2] or ["?"]
    mods = []
    for m in ("uvloop", "orjson", "aiohttp"):
        try:
            mod = __import__(m)
            mods.append(f"{m} {getattr(mod, '__version__', '?')}")
        except ImportError:
            mods.append(f"no {m}")
    git = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True)
        git = head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    return (
        f"nginx {nginx}, njs {njs}, Python {platform.python_version()} ({', '.join(mods)}), "
        f"wrk {wrk_v[0]}; lmgate {git}"
    )


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def log_lines(bench: Bench) -> str:
    parts = []
    for key in ("lmgate", "dlp"):
        t = bench.targets.get(key)
        if t is not None:
            text = t.sidecar.log.read_text(errors="replace")
            parts.append(f"{t.name} {text.count(chr(10))}")
    return ", ".join(parts)
