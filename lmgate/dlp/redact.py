"""Turning one string's findings into counted, non-overlapping spans and placeholder edits."""

from __future__ import annotations

from lmgate.dlp.analyzer import Finding
from lmgate.dlp.spans import Edit


def merge(findings: list[Finding]) -> list[Finding]:
    """Overlapping findings become one span named after the most confident (then longest) of them.

    A card number can also look like a phone number: it is one finding, counted
    once and replaced once.
    """
    merged: list[Finding] = []
    best: Finding | None = None
    for f in sorted(findings, key=lambda f: (f.start, -f.end)):
        if merged and f.start < merged[-1].end:
            last = merged[-1]
            assert best is not None
            if (f.score, f.end - f.start) > (best.score, best.end - best.start):
                best = f
            merged[-1] = Finding(best.entity, last.start, max(last.end, f.end), max(last.score, f.score))
        else:
            best = f
            merged.append(f)
    return merged


def placeholders(merged: list[Finding], placeholder: str) -> list[Edit]:
    """Each (merged) finding's range, to be replaced by ``placeholder`` formatted with its entity type."""
    return [(f.start, f.end, placeholder.format(entity=f.entity)) for f in merged]
