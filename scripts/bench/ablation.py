"""``--ablate``: lmgate's rendered nginx config with parts switched off, to see what each part costs."""

from __future__ import annotations

import re
import signal
import sys

from fixed_rate import fixed_rate_run
from load import wrk
from processes import free_port, http_get, http_post, log, wait_until
from report import f, med, spread
from saturation import saturation_run
from servers import HERE, Bench, Target
from streams import stream_run
from workload import BODY, CHAT

VARIANTS = {
    "full": "lmgate as rendered",
    "no-stats": "without the stats spool's access_log (no stats line)",
    "no-capture": "without the js_body_filter response capture",
    "filter-noop": "the js_body_filter only passes chunks on (scripts/bench/noop_filter.js): its njs VM, no capture",
    "capture-unlogged": "the capture runs, but its variables ($lmgate_capture, the ring) are not in the stats line",
    "auth-stub": "/auth answered by the fake upstream's nginx (204 allow) instead of the sidecar; stats kept",
    "njs-only": "/auth answered by the fake upstream's nginx, no stats, no capture: the njs glue and proxying",
    "aiohttp-noop": "lmgate's nginx config with a do-nothing aiohttp sidecar (scripts/bench/noop_sidecar.py), no stats",
}


def run_ablation(bench: Bench) -> None:
    """lmgate's rendered nginx config with parts removed, each its own nginx, sharing one sidecar."""
    a = bench.args
    start_variants(bench)
    body = (bench.root / BODY).read_bytes()
    for name in VARIANTS:
        status, _, data = http_post(bench.targets[name].base + "/openai" + CHAT, body)
        if status != 200:
            raise RuntimeError(f"variant {name} answered {status}: {data[:200]!r}")
    rows = ["bare", *VARIANTS]
    for key in rows:
        log(f"warm-up {key} ...")
        wrk(bench, bench.targets[key].base + "/openai" + CHAT, 2, a.connections)
    res: dict[str, list[dict]] = {k: [] for k in rows}
    rate: dict[str, list[dict]] = {k: [] for k in rows}
    streams: dict[str, list[dict]] = {k: [] for k in rows}
    for r in range(a.rounds):
        for key in rows:
            log(f"ablation round {r + 1}/{a.rounds}: {key} ...")
            res[key].append(saturation_run(bench, key, a.seconds))
            rate[key].append(fixed_rate_run(bench, key))
            streams[key].append(stream_run(bench, key))
    print_ablation(bench, rows, res, rate, streams)


def start_variants(bench: Bench) -> None:
    """The upstreams, bare nginx, lmgate ("full"), the no-op sidecar and an nginx per other variant."""
    log(f"starting servers in {bench.root} ...")
    bench.start_upstreams()
    # no max_parallel: without stats lines (variant no-stats) its slots would never be given back
    bench.start_lmgate("lmgate", "lmgate", max_parallel=False)
    t = bench.targets["lmgate"]
    rendered = t.conf.read_text()
    port = int(t.base.rsplit(":", 1)[1])
    noop_port = free_port()
    noop = bench.spawn("noop-sidecar", [sys.executable, str(HERE / "noop_sidecar.py"), "--port", str(noop_port)])
    wait_until("the no-op sidecar", lambda: http_get(f"http://127.0.0.1:{noop_port}/healthz")[0] == 200, proc=noop)
    for name in VARIANTS:
        if name == "full":
            continue
        p = free_port()
        conf = bench.root / f"nginx-{name}.conf"
        conf.write_text(variant_conf(rendered, name, port, p, bench.json_port, noop_port))
        proc = bench.spawn(f"nginx-{name}", [bench.nginx, "-e", "stderr", "-c", str(conf)], signal.SIGQUIT)
        base = f"http://127.0.0.1:{p}"
        wait_until(f"nginx {name}", lambda base=base: http_get(base + "/lmgate/healthz")[0] == 200, proc=proc)
        side = noop if name == "aiohttp-noop" else t.sidecar
        bench.targets[name] = Target(f"lmgate {name}", base, [proc, side], sidecar=side)
    bench.targets["full"] = t


def variant_conf(rendered: str, name: str, port: int, new_port: int, json_port: int, noop_port: int) -> str:
    """lmgate's rendered config as variant ``name``, listening on ``new_port`` with its own pid file."""
    text = rendered.replace(f"listen 127.0.0.1:{port};", f"listen 127.0.0.1:{new_port};")
    text = text.replace("nginx.pid;", f"nginx-{name}.pid;")
    if name in ("no-stats", "njs-only", "aiohttp-noop"):  # the no-op sidecar reads no spool
        text = re.sub(r"access_log \S+ lmgate_spool;", "", text)
    if name in ("no-capture", "njs-only"):
        text = text.replace("js_body_filter gate.capture buffer_type=buffer;", "")
    if name == "capture-unlogged":
        text = re.sub(r"log_format lmgate_spool .*", _without_capture, text)
    if name == "filter-noop":
        text = text.replace("js_body_filter gate.capture ", "js_body_filter noop.pass ")
        text = text.replace(
            "js_import gate from gate.js;",
            f"js_import gate from gate.js;\n    js_import noop from {HERE}/noop_filter.js;",
        )
    if name in ("auth-stub", "njs-only"):  # the fake upstream's nginx answers /auth: a sidecar that costs 0
        text = re.sub(r"proxy_pass http://lmgate_\w+/auth;", "proxy_pass http://bench_auth/auth;", text)
        stub = f"upstream bench_auth {{ server 127.0.0.1:{json_port}; keepalive 64; }}\n    "
        text = text.replace("upstream lmgate_sidecar {", stub + "upstream lmgate_sidecar {", 1)
    if name == "aiohttp-noop":  # every sidecar upstream (the API one and a fast path's) -> the no-op
        text = re.sub(r"(upstream lmgate_(?:sidecar|fast) \{\s*server )\S+;", rf"\g<1>127.0.0.1:{noop_port};", text)
    return text


def _without_capture(log_format: re.Match) -> str:
    """The spool's log_format without the capture's variables (capture-unlogged)."""
    return re.sub(r"\$lmgate_(?:capture(?!_)|t[0-9]+)", "", log_format.group(0))


def print_ablation(
    bench: Bench,
    rows: list[str],
    res: dict[str, list[dict]],
    rate: dict[str, list[dict]],
    streams: dict[str, list[dict]],
) -> None:
    a = bench.args
    print(f"Ablation: lmgate's nginx config with parts removed; wrk -t1 -c{a.connections}, {a.seconds:g} s per run,")
    print(f"{a.rounds} rounds interleaved; median (min–max). CPU µs/req = nginx (master+worker) + the one sidecar.")
    print("All rows: the allow-list key has models, rpm, tpm and budget, no max_parallel (see no-stats).")
    for key in rows:
        xs = res[key]
        parts = [x["cpu_parts_us"] for x in xs if x["cpu_parts_us"]]
        ng = med([p[0] for p in parts])
        sc = med([p[1] for p in parts]) if parts and len(parts[0]) > 1 else None
        ratios = [x["rps"] / b["rps"] for x, b in zip(xs, res["bare"], strict=True)]
        print(
            f"  {key:<12} req/s {spread([x['rps'] for x in xs], '{:.0f}'):>20}  vs bare {spread(ratios, '{:.3f}'):>20}"
            f"  CPU µs/req {spread([x['cpu_us'] for x in xs], '{:.0f}'):>14} = nginx {f(ng, '{:.0f}')} + sidecar "
            f"{f(sc, '{:.0f}')}  non-2xx {sum(x['non2xx'] for x in xs)}"
            f"  noise {max((x.get('other_pct') or 0) for x in xs):.0f}%"
        )
    print(f"At {a.rate:g} req/s (open loop, {a.rate_seconds:g} s; no batching: each request wakes each process):")
    for key in rows:
        xs = rate[key]
        print(
            f"  {key:<12} p50 {spread([x['latency_ms']['p50'] for x in xs], '{:.3f}'):>22} ms, p99 "
            f"{spread([x['latency_ms']['p99'] for x in xs], '{:.3f}'):>22} ms, CPU "
            f"{spread([x['cpu_us'] for x in xs], '{:.0f}'):>14} µs/req = nginx "
            f"{f(med([x['cpu_parts_us'][0] for x in xs]), '{:.0f}')} + sidecar "
            f"{f(med([x['cpu_parts_us'][1] for x in xs if len(x['cpu_parts_us']) > 1]), '{:.0f}')}"
        )
    print(
        f"Streams ({a.stream_concurrency} concurrent, {a.stream_seconds:g} s; each connection sends its next "
        "request as soon as a stream ends, as SDKs do), minus bare nginx in the same round:"
    )
    for key in rows:
        added = {
            what: [x[what]["p50"] - b[what]["p50"] for x, b in zip(streams[key], streams["bare"], strict=True)]
            for what in ("ttfb_ms", "ttft_ms")
        }
        print(
            f"  {key:<12} TTFB p50 {spread(added['ttfb_ms'], '{:+.3f}'):>24} ms, "
            f"TTFT p50 {spread(added['ttft_ms'], '{:+.3f}'):>24} ms"
        )
    for key, what in VARIANTS.items():
        print(f"  {key:<12} {what}")
