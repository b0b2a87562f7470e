"""Readings from /proc: a process tree's CPU time and memory, and how busy each CPU was."""

from __future__ import annotations

import os
import resource
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                children.setdefault(int(st[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(roots: list[int]) -> float:
    """utime+stime of the roots and every live descendant, plus what reaped children left in the roots."""
    ticks = 0
    for root in roots:
        for pid in descendants(root):
            st = _stat(pid)
            if st is None:
                continue
            ticks += int(st[11]) + int(st[12])  # utime, stime
            if pid == root:
                ticks += int(st[13]) + int(st[14])  # cutime, cstime
    return ticks / TICK


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_times(cpu: int) -> tuple[float, float, float]:
    """(tasks, irq, total) seconds of one CPU so far, from /proc/stat: tasks = user+nice+system, irq = irq+softirq."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            v = [int(x) for x in line.split()[1:]]
            return (v[0] + v[1] + v[2]) / TICK, (v[5] + v[6]) / TICK, sum(v[:8]) / TICK
    return 0.0, 0.0, 0.0


def children_cpu() -> float:
    """CPU seconds of this driver and of its finished children (wrk, the clients)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
