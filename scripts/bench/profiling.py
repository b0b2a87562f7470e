"""``--profile DIR``: where lmgate's CPU goes at saturation (py-spy on the sidecar, perf on nginx and the sidecar)."""

from __future__ import annotations

import collections
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from load import wrk
from processes import log
from servers import Bench, Target
from workload import CHAT


def run_profile(bench: Bench) -> None:
    """Profile the lmgate row at saturation: where the sidecar's and nginx's CPU time goes."""
    a = bench.args
    outdir: Path = a.profile.resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    log(f"starting servers in {bench.root} ...")
    bench.start_upstreams()
    bench.start_lmgate("lmgate", "lmgate")
    t = bench.targets["lmgate"]
    url = t.base + "/openai" + CHAT
    log("warm-up ...")
    wrk(bench, url, 3, a.connections)
    keepalive_check(bench, t, url)
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if Path(pyspy).exists():
        pyspy_profiles(bench, url, pyspy, t.sidecar.pid, outdir)
    else:
        print("py-spy not found: scripts/bench.sh --profile installs it (pip install py-spy==0.4.3)")
    perf = shutil.which("perf")
    if perf:
        for name, pids in (("nginx", bench.nginx_workers(t)), ("sidecar", [t.sidecar.pid])):
            perf_profile(bench, url, perf, name, pids, outdir)
    else:
        print("perf not found: apt-get install linux-perf for the nginx profile")
    print(f"\nprofiles written to {outdir}")


def keepalive_check(bench: Bench, t: Target, url: str) -> None:
    """lmgate's rate without a profiler, and the nginx -> sidecar TCP states before, during and after a wrk run."""
    a = bench.args
    secs = a.profile_seconds
    ports = t.ports  # sidecar.port, sidecar.fast_port, ...
    before = {k: tcp_states(p) for k, p in ports.items()}
    sampler = subprocess.Popen(
        [*bench.pin(a.load_cpu), "sh", "-c", f"sleep {secs / 4:.1f}; ss -tanH"], stdout=subprocess.PIPE, text=True
    )
    base = wrk(bench, url, secs / 2, a.connections)
    snapshot = sampler.communicate()[0]
    during = {k: tcp_states(p, snapshot) for k, p in ports.items()}
    after = {k: tcp_states(p) for k, p in ports.items()}
    n = base["requests"]
    print(f"lmgate at saturation without a profiler: {n / (base['duration_us'] / 1e6):.0f} req/s ({n} requests)")
    for k in ports:
        print(
            f"nginx -> sidecar.{k} TCP connections: before {before[k]}, during {during[k]}, after {after[k]} "
            "(keep-alive works when TIME-WAIT stays near 0 while thousands of requests pass)"
        )


def under_load(bench: Bench, url: str, what: str, cmd: list[str]) -> None:
    """Run the profiler ``cmd`` on the load CPU while wrk keeps lmgate saturated for --profile-seconds."""
    a = bench.args
    secs = a.profile_seconds
    log(f"profiling: {what} ...")
    prof = subprocess.Popen([*bench.pin(a.load_cpu), *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    w = wrk(bench, url, secs, a.connections)
    try:
        _, err = prof.communicate(timeout=secs + 60)
    except subprocess.TimeoutExpired:
        prof.send_signal(signal.SIGINT)
        _, err = prof.communicate(timeout=30)
    rps = w["requests"] / (w["duration_us"] / 1e6)
    print(f"{what}: {rps:.0f} req/s while profiling; exit {prof.returncode} {err.decode(errors='replace')[-200:]}")


def pyspy_profiles(bench: Bench, url: str, pyspy: str, pid: int, outdir: Path) -> None:
    """py-spy on the sidecar: raw collapsed stacks (summarised here), then a flame graph."""
    record = [pyspy, "record", "-p", str(pid), "-r", "100", "-d", str(int(bench.args.profile_seconds))]
    raw_file = outdir / "sidecar.pyspy.txt"
    under_load(bench, url, "py-spy record (raw) on the sidecar", [*record, "--format", "raw", "-o", str(raw_file)])
    under_load(bench, url, "py-spy record (flame graph) on the sidecar", [*record, "-o", str(outdir / "sidecar.svg")])
    if raw_file.exists():
        print()
        print(summarize_collapsed(raw_file.read_text()))


def perf_profile(bench: Bench, url: str, perf: str, name: str, pids: list[int], outdir: Path) -> None:
    """perf record -g on ``pids``, then its self time by DSO and by symbol (files in outdir, the top lines here)."""
    data = outdir / f"{name}.perf.data"
    secs = str(int(bench.args.profile_seconds))
    record = [perf, "record", "-F", "999", "-g", "-o", str(data), "-p", ",".join(map(str, pids)), "--", "sleep", secs]
    under_load(bench, url, f"perf record on the {name}", record)
    for sort, suffix in (("dso", "by-dso"), ("dso,symbol", "by-symbol")):
        report = [perf, "report", "-i", str(data), "--stdio", "--no-children", "--sort", sort]
        report += ["--percent-limit", "0.5", "-g", "none"]
        rep = subprocess.run(report, capture_output=True, text=True)
        (outdir / f"{name}.perf-{suffix}.txt").write_text(rep.stdout)
        lines = [x for x in rep.stdout.splitlines() if x.strip() and not x.startswith("#")]
        print(f"\nperf, {name} worker(s), self time {suffix}:")
        print("\n".join("  " + x.strip() for x in lines[:25]))


def tcp_states(port: int, text: str | None = None) -> dict[str, int]:
    """Counts of TCP states of the connections to 127.0.0.1:port, from ``ss -tanH``."""
    if text is None:
        text = subprocess.run(["ss", "-tanH"], capture_output=True, text=True).stdout
    states: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 5:
            continue
        # each link once, from nginx's side; TIME-WAIT is left on whichever side closed first
        if cols[4].endswith(f":{port}") or (cols[0] == "TIME-WAIT" and cols[3].endswith(f":{port}")):
            states[cols[0]] += 1
    return dict(states)


def summarize_collapsed(text: str, top: int = 30) -> str:
    """Self and inclusive sample shares per Python function from py-spy's collapsed stacks."""
    selfc: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        frames = [fr for fr in stack.split(";") if not fr.startswith("process ") and not fr.startswith("thread ")]
        if not frames or frames[-1].startswith("_worker (concurrent/futures/thread"):
            continue  # empty, or a thread-pool worker waiting for work (py-spy does not see that as idle)
        total += count
        names = [re.sub(r" \((.*?)(\.py)?:\d+\)$", r" (\1)", fr) for fr in frames]
        names = [re.sub(r"\(.*?/(site-packages|lib/python3\.\d+|lmgate)/", r"(\1/", n) for n in names]
        selfc[names[-1]] += count
        for name in set(names):
            incl[name] += count
    out = [f"py-spy: {total} samples of the sidecar's busy time (idle waits left out)"]
    out.append("  self %  function (file)")
    out += [f"  {c / total * 100:6.1f}  {name}" for name, c in selfc.most_common(top)]
    out.append("  incl %  function (file)")
    out += [f"  {c / total * 100:6.1f}  {name}" for name, c in incl.most_common(top + 15)]
    return "\n".join(out)
