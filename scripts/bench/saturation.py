"""Section 1, saturation (wrk, closed loop), and section 4, the stats completeness of those runs."""

from __future__ import annotations

import time
from dataclasses import dataclass

from load import Meter, interleaved, wait_quiet, wait_stats, wrk
from report import Report, completeness_pct, f, med, noise, spread
from servers import Bench
from workload import BODY, CHAT, SMALL_BODY


@dataclass(frozen=True)
class Row:
    """A line of the saturation table: a gateway under test and the body it gets."""

    key: str  # its name in the --json file
    target: str  # the gateway (a key of bench.targets)
    label: str
    body: str = BODY
    baseline: str = "bare"  # the row of the same round its "vs bare" divides by


def benchmark_rows(bench: Bench) -> list[Row]:
    """bare nginx, lmgate and lmgate+dlp with the 2 KB body, then bare nginx and lmgate with the ~200 B one."""
    rows = [Row(k, k, bench.targets[k].name) for k in ("bare", "lmgate", "dlp") if k in bench.targets]
    if not bench.args.no_small:
        rows.append(Row("bare-small", "bare", "bare 200B", SMALL_BODY, baseline="bare-small"))
        rows.append(Row("lmgate-small", "lmgate", "lmgate 200B", SMALL_BODY, baseline="bare-small"))
    return rows


def saturation_run(bench: Bench, key: str, seconds: float, body: str = BODY) -> dict:
    t = bench.targets[key]
    waited = wait_quiet(bench)
    stats0 = t.count_stats() if t.stats_path else 0
    status0 = dict(t.statuses)
    up0 = bench.upstream_count()
    with Meter(bench, t) as m:
        w = wrk(bench, t.base + "/openai" + CHAT, seconds, bench.args.connections, body)
    time.sleep(0.5)  # requests wrk cut off inside the gateway may still be forwarded
    up1 = bench.upstream_count()
    forwarded = up1 - up0 - 1  # less the first stub query itself
    n = w["requests"]
    res = {
        "rps": n / (w["duration_us"] / 1e6),
        "requests": n,
        "p50_ms": w["p50_us"] / 1000,
        "p99_ms": w["p99_us"] / 1000,
        "non2xx": w["status"],
        "sock_errors": w["connect"] + w["read"] + w["write"] + w["timeout"],
        **m.per_request(n),
        "upstream_cpu_us": m.up / n * 1e6 if n else None,
        "forwarded": forwarded,
        "quiet_wait_s": waited,
        **m.noise(),
    }
    if t.stats_path:
        lines = wait_stats(t, stats0 + forwarded)
        res["stats_lines"] = lines - stats0
        res["stats_status"] = {s: c - status0.get(s, 0) for s, c in t.statuses.items() if c - status0.get(s, 0)}
    return res


def run_saturation(bench: Bench, rows: list[Row], out: Report) -> dict[str, list[dict]]:
    """``--rounds`` rounds, every row once per round; prints section 1 and returns the runs per row."""
    a = bench.args
    by_key = {row.key: row for row in rows}

    def run(key: str) -> dict:
        return saturation_run(bench, by_key[key].target, a.seconds, by_key[key].body)

    sat = interleaved(bench, "saturation", list(by_key), run, lambda key: by_key[key].label)
    out()
    out(f"1. Saturation: wrk -t1 -c{a.connections}, {a.seconds:g} s per run, POST with the 2 KB prompt")
    out("   CPU µs/req: the row's own processes (nginx master+workers; sidecar and its children), utime+stime;")
    out("   CPU%: of the gateway CPU; si%: its irq+softirq time (loopback networking, not in any process);")
    out(f"   noise%: CPU time of processes outside the bench, gateway CPU / load CPU (! when over {a.quiet_pct:g}%)")
    out(
        f"   {'row':<11} {'rnd':>3} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} {'sockerr':>7}"
        f" {'CPU µs/req':>10} {'= nginx + sidecar':>17} {'CPU%':>5} {'si%':>4} {'noise%':>9} {'vs bare':>7}"
    )
    for r in range(a.rounds):
        for row in rows:
            x = sat[row.key][r]
            parts = x["cpu_parts_us"] or []
            split = f"{parts[0]:.0f} + {parts[1]:.0f}" if len(parts) == 2 else ""
            out(
                f"   {row.label:<11} {r + 1:>3} {x['rps']:>7.0f} {x['p50_ms']:>7.2f} {x['p99_ms']:>7.2f}"
                f" {x['non2xx']:>7} {x['sock_errors']:>7} {f(x['cpu_us'], '{:.0f}'):>10} {split:>17}"
                f" {x['cpu_util']:>5.0f} {f(x['irq_pct'], '{:.0f}'):>4} {noise(x, a):>9}"
                f" {x['rps'] / sat[row.baseline][r]['rps']:>7.3f}"
            )
    out("   summary: median (min–max) over rounds")
    for row in rows:
        xs = sat[row.key]
        ratios = [x["rps"] / b["rps"] for x, b in zip(xs, sat[row.baseline], strict=True)]
        parts = [x["cpu_parts_us"] for x in xs if x["cpu_parts_us"]]
        split = ""
        if parts and len(parts[0]) == 2:
            split = f" (nginx {med([p[0] for p in parts]):.0f} + sidecar {med([p[1] for p in parts]):.0f})"
        out(f"   {row.label:<11} req/s {spread([x['rps'] for x in xs], '{:.0f}')}, vs bare {spread(ratios, '{:.3f}')}")
        out(
            f"   {'':<11} p50 {spread([x['p50_ms'] for x in xs])} ms, p99 {spread([x['p99_ms'] for x in xs])} ms, "
            f"non-2xx {sum(x['non2xx'] for x in xs)}, CPU {spread([x['cpu_us'] for x in xs], '{:.0f}')} µs/req{split}"
        )
    up_us = med([x["upstream_cpu_us"] for x in sat["bare"]])
    out(f"   (the fake JSON upstream itself costs {f(up_us, '{:.0f}')} µs/req, on the gateway CPU, in every row)")
    return sat


def share_of_bare(sat: dict[str, list[dict]], row: Row) -> float | None:
    """A row's req/s over its baseline's, median over rounds."""
    return med([x["rps"] / b["rps"] for x, b in zip(sat[row.key], sat[row.baseline], strict=True)])


def print_completeness(bench: Bench, rows: list[Row], sat: dict[str, list[dict]], out: Report) -> list[float]:
    """Section 4: per lmgate saturation run, stats lines against requests served; returns the percentages."""
    out()
    out("4. Stats completeness after each saturation run: every request the upstream served must have its line.")
    out("   Lines may exceed that: requests wrk cuts off when it stops get a client_disconnect line even when they")
    out("   never reached the upstream (status 499; 9 before lmgate 4b80bb8). missing = served - lines.")
    completeness: list[float] = []
    for row in rows:
        if bench.targets[row.target].stats_path is None:
            continue
        for r, x in enumerate(sat[row.key]):
            pct = completeness_pct(x["forwarded"], x["stats_lines"])
            if pct is not None:
                completeness.append(pct)
            statuses = ", ".join(f"{s}: {c}" for s, c in sorted(x["stats_status"].items()))
            out(
                f"   {row.label:<11} round {r + 1}: wrk answers {x['requests']}, upstream served "
                f"{x['forwarded']}, stats lines {x['stats_lines']} ({statuses}), missing "
                f"{max(0, x['forwarded'] - x['stats_lines'])} -> {f(pct, '{:.3f}')}%"
            )
    return completeness
