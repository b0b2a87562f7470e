"""Section 2, added latency at a fixed request rate (open loop, ``clients.py fixed-rate``), and 2b, DLP off vs on."""

from __future__ import annotations

from dataclasses import dataclass

from load import client_run, interleaved
from report import Report, f, noise, spread
from servers import Bench
from workload import BODY, CHAT


def fixed_rate_run(bench: Bench, key: str, rate: float | None = None) -> dict:
    a = bench.args
    args = ["--rate", str(rate or a.rate), "--seconds", str(a.rate_seconds)]
    res, m = client_run(bench, key, "fixed-rate", "/openai" + CHAT, BODY, args, a.rate_seconds + 60)
    res.update(m.per_request(res["completed"]))
    return res


@dataclass
class FixedRate:
    runs: dict[str, list[dict]]  # per row, per round
    added: dict[str, tuple[list[float], list[float]]]  # per lmgate row: p50 and p99 minus bare nginx's, per round


def run_fixed_rate(bench: Bench, rows: list[str], out: Report) -> FixedRate:
    """``--rounds`` rounds at ``--rate`` of the rows but lmgate+dlp (it cannot sustain the rate; see 2b); section 2."""
    a = bench.args
    frows = [k for k in rows if k != "dlp"]
    fr = interleaved(bench, "fixed rate", frows, lambda key: fixed_rate_run(bench, key))
    out()
    out(
        f"2. Fixed rate: {a.rate:g} req/s open loop, {a.rate_seconds:g} s per run (scripts/bench/clients.py); "
        "latency from the actual send;"
    )
    out("   +p50/+p99: minus bare nginx in the same round; late: sends the client made >2 ms behind schedule")
    out(
        f"   {'row':<11} {'rnd':>3} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'p99.9':>7} {'max ms':>7}"
        f" {'+p50':>6} {'+p99':>6} {'non-2xx':>7} {'err':>4} {'late':>5} {'CPU µs/req':>10} {'noise%':>9}"
    )
    for r in range(a.rounds):
        b = fr["bare"][r]["latency_ms"]
        for key in frows:
            x = fr[key][r]
            lat = x["latency_ms"]
            out(
                f"   {bench.targets[key].name:<11} {r + 1:>3} {f(lat['p50'], '{:.3f}'):>7} {f(lat['p90'], '{:.3f}'):>7}"
                f" {f(lat['p99'], '{:.3f}'):>7} {f(lat['p999'], '{:.2f}'):>7} {f(lat['max'], '{:.2f}'):>7}"
                f" {lat['p50'] - b['p50']:>6.3f} {lat['p99'] - b['p99']:>6.3f} {x['non2xx']:>7}"
                f" {x['errors'] + x['unanswered']:>4} {x['client_late_2ms']:>5} {f(x['cpu_us'], '{:.0f}'):>10}"
                f" {noise(x, a):>9}"
            )
    out("   summary: median (min–max) over rounds")
    added: dict[str, tuple[list[float], list[float]]] = {}
    for key in frows:
        xs = fr[key]
        line = f"   {bench.targets[key].name:<11} p50 {_p(xs, 'p50')} ms, p99 {_p(xs, 'p99')} ms"
        if key != "bare":
            added[key] = (_minus(xs, fr["bare"], "p50"), _minus(xs, fr["bare"], "p99"))
            line += f"; added p50 {spread(added[key][0], '{:+.3f}')} ms, p99 {spread(added[key][1], '{:+.3f}')} ms"
        out(line)
    return FixedRate(fr, added)


def run_dlp_rate(bench: Bench, out: Report) -> tuple[dict[str, list[dict]], list[float]]:
    """Section 2b: lmgate with DLP off and on at ``--dlp-rate``; the runs and DLP's added p50 per round."""
    a = bench.args
    dr = interleaved(bench, "DLP fixed rate", ["lmgate", "dlp"], lambda key: fixed_rate_run(bench, key, a.dlp_rate))
    out()
    out(f"2b. DLP: lmgate with DLP off and on (dlp.mode=log), {a.dlp_rate:g} req/s open loop, same 2 KB prompt")
    for key, xs in dr.items():
        out(
            f"   {bench.targets[key].name:<11} p50 {_p(xs, 'p50')} ms, p99 {_p(xs, 'p99')} ms, non-2xx "
            f"{sum(x['non2xx'] for x in xs)}, CPU {spread([x['cpu_us'] for x in xs], '{:.0f}')} µs/req"
        )
    dlp_added = _minus(dr["dlp"], dr["lmgate"], "p50")
    d99 = _minus(dr["dlp"], dr["lmgate"], "p99")
    out(f"   DLP on minus off, per round: p50 {spread(dlp_added, '{:+.3f}')} ms, p99 {spread(d99, '{:+.3f}')} ms")
    return dr, dlp_added


def _p(runs: list[dict], p: str) -> str:
    return spread([x["latency_ms"][p] for x in runs], "{:.3f}")


def _minus(runs: list[dict], base: list[dict], p: str) -> list[float]:
    """A latency percentile minus the baseline's in the same round."""
    return [x["latency_ms"][p] - y["latency_ms"][p] for x, y in zip(runs, base, strict=True)]
