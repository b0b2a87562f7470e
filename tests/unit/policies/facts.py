"""Request facts for tests, at a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime

from lmgate.policies.base import RequestFacts
from lmgate.policies.limits import NO_LIMITS, Limits

T0 = datetime(2026, 5, 9, 12, 0, tzinfo=UTC).timestamp()  # a Saturday noon, mid-month


def facts(
    at: float = 0.0,
    key: str = "k1",
    owner: str = "alpha",
    model: str | None = "gpt-4o",
    limits: Limits = NO_LIMITS,
    owner_limits: Limits = NO_LIMITS,
) -> RequestFacts:
    """Facts of a request ``at`` seconds after T0."""
    return RequestFacts(
        key_id=key,
        owner=owner,
        model=model,
        provider="openai",
        now=T0 + at,
        key_limits=limits,
        owner_limits=owner_limits,
        request_id=f"req-{key}-{at}",
    )
