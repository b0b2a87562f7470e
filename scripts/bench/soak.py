"""Section 5, the sidecar's memory over a long soak at saturation, and the stats completeness over it."""

from __future__ import annotations

import time

from load import wait_stats, wrk
from processes import log
from procfs import rss_kib
from report import Report, completeness_pct, f
from servers import Bench
from workload import CHAT


def rss_soak(bench: Bench, out: Report) -> dict:
    a = bench.args
    t = bench.targets["lmgate"]
    sidecar = t.sidecar
    url = t.base + "/openai" + CHAT
    stats0 = t.count_stats()
    up0 = bench.upstream_count()
    before = rss_kib(sidecar.pid)
    nginx_before = sum(rss_kib(p) for p in bench.nginx_workers(t))
    samples = [(0, before)]
    done = non2xx = 0
    started = time.monotonic()
    segment = 20.0 if not a.quick else 2.0
    rps_guess = None
    log(f"RSS soak: {a.soak} requests on lmgate (sidecar RSS {before / 1024:.1f} MiB) ...")
    while done < a.soak and time.monotonic() - started < a.soak_max_seconds:
        left = a.soak - done
        seconds = segment if rps_guess is None else max(1.0, min(segment, left / rps_guess))
        w = wrk(bench, url, seconds, a.connections)
        done += w["requests"]
        non2xx += w["status"]
        rps_guess = w["requests"] / (w["duration_us"] / 1e6)
        samples.append((done, rss_kib(sidecar.pid)))
        t.count_stats()
        log(f"  {done} requests, sidecar RSS {samples[-1][1] / 1024:.1f} MiB")
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    up1 = bench.upstream_count()
    forwarded = up1 - up0 - 1
    lines = wait_stats(t, stats0 + forwarded, timeout=30) - stats0
    after = rss_kib(sidecar.pid)
    nginx_after = sum(rss_kib(p) for p in bench.nginx_workers(t))
    growth = (after - before) / before * 100 if before else None
    out()
    capped = " (stopped by --soak-max-seconds)" if done < a.soak else ""
    out(
        f"5. Sidecar memory: lmgate at saturation for {done} requests{capped} in {elapsed:.0f} s (after the runs above)"
    )
    step = max(1, len(samples) // 10)
    picks = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
    out("   requests -> sidecar RSS MiB: " + ", ".join(f"{n}: {k / 1024:.1f}" for n, k in picks))
    out(
        f"   sidecar RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB ({f(growth, '{:+.1f}')}%); nginx worker RSS "
        f"{nginx_before / 1024:.1f} -> {nginx_after / 1024:.1f} MiB"
    )
    pct = completeness_pct(forwarded, lines)
    out(
        f"   stats completeness over the soak: wrk answers {done} (non-2xx {non2xx}), upstream served {forwarded}, "
        f"stats lines {lines}, missing {max(0, forwarded - lines)} -> {f(pct, '{:.3f}')}%"
    )
    return {
        "requests": done,
        "non2xx": non2xx,
        "seconds": elapsed,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "growth_pct": growth,
        "samples": samples,
        "nginx_rss_kib": [nginx_before, nginx_after],
        "forwarded": forwarded,
        "stats_lines": lines,
    }
