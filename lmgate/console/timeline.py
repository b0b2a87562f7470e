"""Time axes for the console's charts: every hour, day or month of a range, and rows laid out on them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

Step = Literal["hour", "day", "month"]
STEPS: tuple[Step, ...] = ("hour", "day", "month")
MAX_POINTS = 24 * 62  # an hourly axis up to two months; longer ranges are asked by day or month
HOUR, DAY = 3600, 86400
OTHER = "(other)"


def label(t: float, step: Step) -> str:
    """The label of the bucket holding ``t``: ``2026-11-02T13:00:00Z``, ``2026-11-02`` or ``2026-11``."""
    d = datetime.fromtimestamp(t, UTC)
    if step == "hour":
        return d.strftime("%Y-%m-%dT%H:00:00Z")
    return d.strftime("%Y-%m-%d") if step == "day" else d.strftime("%Y-%m")


def axis(since: float, until: float, step: Step) -> list[str]:
    """The labels of every bucket that [since, until) touches, oldest first; ValueError past MAX_POINTS."""
    out: list[str] = []
    t = since - since % HOUR if step == "hour" else since - since % DAY
    while t < until:
        name = label(t, step)
        if not out or out[-1] != name:
            out.append(name)
            if len(out) > MAX_POINTS:
                raise ValueError(f"more than {MAX_POINTS} {step}s in the range: choose a larger step")
        t += HOUR if step == "hour" else DAY
    return out


def row_label(row: dict, step: Step) -> str:
    """The axis label of a rollups row grouped by hour or day (a month from its day)."""
    return row["hour"] if step == "hour" else row["day"] if step == "day" else row["day"][:7]


def stack(points: Iterable[tuple[str, str, float]], times: list[str], top: int = 8) -> list[dict[str, object]]:
    """(time, name, value) triples as one series per name over ``times``, largest total first; past the ``top``
    largest, the rest summed as one series named OTHER."""
    index = {t: i for i, t in enumerate(times)}
    by_name: dict[str, list[float]] = {}
    for t, name, value in points:
        i = index.get(t)
        if i is not None:
            row = by_name.get(name)
            if row is None:
                row = by_name[name] = [0.0] * len(times)
            row[i] += value
    ranked = sorted(by_name.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    out: list[dict[str, object]] = [{"name": n, "values": _rounded(v)} for n, v in ranked[:top]]
    if len(ranked) > top:
        rest = [sum(vs) for vs in zip(*(v for _, v in ranked[top:]), strict=True)]
        out.append({"name": OTHER, "values": _rounded(rest)})
    return out


def _rounded(values: list[float]) -> list[float]:
    return [round(v, 10) for v in values]  # sums of USD in 1e-10 steps, without float dust
