"""Section 3, streams (``clients.py streams``): time to headers and first token, chunk gaps and transit."""

from __future__ import annotations

from load import client_run, interleaved
from report import Report, f, noise, spread
from servers import Bench
from workload import CHAT, STREAM_BODY

# per stream measure: its name in clients.py's output and in the summary
MEASURES = (("ttfb_ms", "TTFB"), ("ttft_ms", "TTFT"), ("gap_ms", "gap"), ("transit_ms", "transit"))


def stream_run(bench: Bench, key: str) -> dict:
    a = bench.args
    args = ["--concurrency", str(a.stream_concurrency), "--seconds", str(a.stream_seconds)]
    return client_run(bench, key, "streams", "/sse" + CHAT, STREAM_BODY, args, a.stream_seconds + 90)[0]


def run_streams(
    bench: Bench, rows: list[str], out: Report
) -> tuple[dict[str, list[dict]], dict[tuple[str, str], list[float]]]:
    """``--rounds`` rounds of bare nginx and lmgate; section 3. Returns the runs and lmgate minus bare per measure."""
    a = bench.args
    srows = [k for k in ("bare", "lmgate") if k in rows]
    st = interleaved(bench, "streams", srows, lambda key: stream_run(bench, key))
    out()
    out(f"3. Streams: {a.stream_concurrency} concurrent streams, {a.stream_seconds:g} s per run; all in ms")
    out("   TTFB: send -> headers; TTFT: send -> first token chunk; gap: between token chunks as received;")
    out("   transit: chunk arrival - the upstream's write time stamped in it (same clock): the delay added per chunk")
    out(
        f"   {'row':<11} {'rnd':>3} {'streams':>7} {'TTFB p50':>8} {'p99':>6} {'TTFT p50':>8} {'p99':>6}"
        f" {'gap p50':>7} {'p99':>6} {'max':>6} {'transit p50':>11} {'p99':>6} {'non-2xx':>7} {'err':>4} {'noise%':>9}"
    )
    for r in range(a.rounds):
        for key in srows:
            x = st[key][r]
            out(
                f"   {bench.targets[key].name:<11} {r + 1:>3} {x['streams']:>7} {f(x['ttfb_ms']['p50'], '{:.3f}'):>8}"
                f" {f(x['ttfb_ms']['p99'], '{:.2f}'):>6} {f(x['ttft_ms']['p50'], '{:.3f}'):>8}"
                f" {f(x['ttft_ms']['p99'], '{:.2f}'):>6} {f(x['gap_ms']['p50'], '{:.3f}'):>7}"
                f" {f(x['gap_ms']['p99'], '{:.2f}'):>6} {f(x['gap_ms']['max'], '{:.2f}'):>6}"
                f" {f(x['transit_ms']['p50'], '{:.3f}'):>11} {f(x['transit_ms']['p99'], '{:.2f}'):>6}"
                f" {x['non2xx']:>7} {x['errors'] + x['short']:>4} {noise(x, a):>9}"
            )
    sd: dict[tuple[str, str], list[float]] = {}
    if "lmgate" in srows:
        for what, _ in MEASURES:
            for p in ("p50", "p99"):
                sd[(what, p)] = [
                    x[what][p] - b[what][p]
                    for x, b in zip(st["lmgate"], st["bare"], strict=True)
                    if x[what][p] is not None and b[what][p] is not None
                ]
        out("   summary: lmgate minus bare nginx in the same round, median (min–max) over rounds")
        for what, label in MEASURES:
            out(
                f"   {label:<8} p50 {spread(sd[(what, 'p50')], '{:+.3f}')} ms, "
                f"p99 {spread(sd[(what, 'p99')], '{:+.3f}')} ms"
            )
    return st, sd
