"""The one usage record every provider module produces, JSON or stream."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

UsageSource = Literal["provider", "estimated", "none"]


@dataclass(slots=True)
class Usage:
    """Token usage of one response.

    ``input_tokens`` counts every prompt token the provider billed, cached ones
    included; ``cache_read_tokens`` / ``cache_write_tokens`` say how many of
    them were cache hits / cache writes, so pricing can charge each at its rate.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    model: str | None = None
    usage_source: UsageSource = "none"

    def as_dict(self) -> dict:
        return asdict(self)
