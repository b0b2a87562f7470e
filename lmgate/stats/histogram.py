"""Fixed log-spaced histogram buckets for durations, and quantiles from merged bucket counts.

The rollups count each request's latency, time to first byte and gateway time
into these buckets per hour, so any range, key or model merges by adding
counts (SQL ``SUM``), and quantiles come from the merged counts.

Bucket 0 holds [0, LOW_MS); bucket i >= 1 holds [LOW_MS * 2**((i-1)/K),
LOW_MS * 2**(i/K)) with K = PER_OCTAVE; the last bucket also holds everything
longer. A quantile is the nearest-rank sample's bucket, reported as the
bucket's geometric middle: within ``RELATIVE_ERROR`` (2**(1/(2K)) - 1, 9.05%)
of the exact nearest-rank quantile for values from LOW_MS to MAX_MS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

LOW_MS = 0.1
PER_OCTAVE = 4  # 8 halved the error and doubled the rows a month's per-model quantiles read
MAX_MS = 2.0**27 * LOW_MS  # ~3.7 h: a longer request still counts, in the last bucket
LAST = 27 * PER_OCTAVE + 1  # the last bucket's index
RELATIVE_ERROR = 2.0 ** (1 / (2 * PER_OCTAVE)) - 1


def bucket(ms: float) -> int:
    """The bucket of a duration in milliseconds (negative or NaN durations are no durations: ValueError)."""
    if not ms >= 0:
        raise ValueError(f"not a duration: {ms!r}")
    if ms < LOW_MS:
        return 0
    if ms >= MAX_MS:
        return LAST
    return min(LAST, int(math.log2(ms / LOW_MS) * PER_OCTAVE) + 1)


def bounds(index: int) -> tuple[float, float]:
    """[lower, upper) of a bucket in milliseconds (the last one's upper is infinity)."""
    if index <= 0:
        return 0.0, LOW_MS
    upper = math.inf if index >= LAST else LOW_MS * 2.0 ** (index / PER_OCTAVE)
    return LOW_MS * 2.0 ** ((index - 1) / PER_OCTAVE), upper


def estimate(index: int) -> float:
    """The value reported for a bucket: its geometric middle (0 for bucket 0; the lower bound of the last)."""
    if index <= 0:
        return 0.0
    if index >= LAST:
        return bounds(LAST)[0]
    return LOW_MS * 2.0 ** ((index - 0.5) / PER_OCTAVE)


def quantiles(counts: Mapping[int, int], qs: Iterable[float]) -> list[float | None]:
    """Nearest-rank quantiles (e.g. 0.5, 0.99) of merged bucket counts, in ms; None when there is no sample."""
    total = sum(counts.values())
    order = sorted(counts)
    out: list[float | None] = []
    for q in qs:
        if total == 0:
            out.append(None)
            continue
        rank = max(1, math.ceil(q * total))
        seen = 0
        for index in order:
            seen += counts[index]
            if seen >= rank:
                out.append(round(estimate(index), 3))
                break
    return out
