"""How fast this host runs Python right now: a fixed workload's CPU time, on the gateway's CPU.

lmgate's CPU per request is mostly the sidecar's Python, and the hosts these runs land on
differ: the same commit (05a215e) cost 132 µs a request on one host and 205 µs on another,
while bare nginx cost 15 µs on both. Printed beside the results, this reference tells a
slower host from a slower lmgate: scale a run by the ratio of the two references before
comparing it with one from another host. The workload is plain Python of the sidecar's
kind (JSON, dicts, strings, small objects, calls) and never changes with lmgate's code.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

#: one op: what a stats line or an /auth answer does a few times over, in the stdlib only
WORKLOAD = r"""
import json, sys, time
from dataclasses import dataclass

@dataclass
class Rec:
    key: str
    model: str
    tokens: int
    cost: float

DOC = json.dumps({"model": "gpt-4o-mini", "usage": {"prompt_tokens": 471, "completion_tokens": 83},
                  "choices": [{"message": {"role": "assistant", "content": "x" * 200}}]})
HEAD = "\t".join(f"k{i}=v{i}" for i in range(24))

def op(prices):
    d = json.loads(DOC)
    u = d["usage"]
    fields = dict(p.split("=", 1) for p in HEAD.split("\t"))
    rec = Rec(fields["k3"], d["model"].lower(), u["prompt_tokens"] + u["completion_tokens"], 0.0)
    rec.cost = prices.get(rec.model, 0.0) * rec.tokens
    return f"{rec.key}:{rec.model}:{rec.tokens}:{rec.cost:.8f}"

prices = {"gpt-4o-mini": 1.5e-7}
n = int(sys.argv[1])
for _ in range(n // 10):  # warm-up
    op(prices)
t = time.process_time()
for _ in range(n):
    op(prices)
print((time.process_time() - t) / n * 1e6)
"""


def python_reference_us(pin: list[str], ops: int = 20_000, repeats: int = 3) -> float | None:
    """Median CPU µs per op of the workload, in fresh processes under ``pin`` (e.g. taskset); None if it fails."""
    runs = []
    for _ in range(repeats):
        try:
            out = subprocess.run(
                [*pin, sys.executable, "-c", WORKLOAD, str(ops)], capture_output=True, text=True, timeout=60
            )
            runs.append(float(out.stdout.strip()))
        except (OSError, ValueError, subprocess.SubprocessError):
            return None
    return statistics.median(runs)
