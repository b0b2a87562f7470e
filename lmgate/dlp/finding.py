"""One DLP finding: where it is and how sure, never the value."""

from __future__ import annotations

from typing import NamedTuple


class Finding(NamedTuple):
    """One detection: character offsets into the scanned string (values never leave the scanner)."""

    entity: str
    start: int
    end: int
    score: float
