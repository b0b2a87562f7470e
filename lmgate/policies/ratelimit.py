"""rpm and tpm over a sliding 60 s window, per key and per owner.

rpm is a log of admitted requests, so a key at 60 rpm gets 60 in *any* 60 s
(no double burst across a window edge). tpm sums the tokens of requests that
finished in the window, so a request is refused once the window is at or over
the limit; tokens are reported after the response, never estimated before.
Refusals carry ``Retry-After`` and OpenAI's ``x-ratelimit-*`` headers for the
limit that refused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lmgate.errors import RateLimited, RpmExceeded, TpmExceeded
from lmgate.policies.base import Policy, RequestFacts, who
from lmgate.policies.settings import Setting, positive_int
from lmgate.store.base import RPM, TPM, Check, Outcome, key_scope, owner_scope


class RateLimitPolicy(Policy):
    name = "ratelimit"
    settings = (
        Setting("rpm", "requests in any 60 s", positive_int, "store"),
        Setting("tpm", "tokens (real usage of finished requests) in the last 60 s", positive_int, "store"),
    )
    refusals = (RpmExceeded, TpmExceeded)
    rules = (RPM, TPM)

    def checks(self, facts: RequestFacts) -> Sequence[Check]:
        out = []
        k, o = facts.key_limits, facts.owner_limits
        if k.rpm is not None:
            out.append(Check(RPM, key_scope(facts.key_id), k.rpm))
        if o.rpm is not None:
            out.append(Check(RPM, owner_scope(facts.owner), o.rpm))
        if k.tpm is not None:
            out.append(Check(TPM, key_scope(facts.key_id), k.tpm))
        if o.tpm is not None:
            out.append(Check(TPM, owner_scope(facts.owner), o.tpm))
        return out

    def verdict(self, facts: RequestFacts, check: Check, outcome: Outcome) -> RateLimited:
        # reset_at is when the next request would pass: the oldest hit leaves (rpm), or enough tokens do (tpm)
        wait = max(0.0, (outcome.reset_at if outcome.reset_at is not None else facts.now + 1) - facts.now)
        retry = max(1, math.ceil(wait))
        limit, used = int(check.limit), int(outcome.value)
        if check.rule == RPM:
            suffix, refusal = "requests", RpmExceeded
            message = f"lmgate: {who(facts, check.scope)} is over its limit of {limit} requests per minute"
        else:
            suffix, refusal = "tokens", TpmExceeded
            message = (
                f"lmgate: {who(facts, check.scope)} used {used} tokens in the last minute, "
                f"over its limit of {limit} tokens per minute"
            )
        headers = {
            f"x-ratelimit-limit-{suffix}": str(limit),
            f"x-ratelimit-remaining-{suffix}": str(max(0, limit - used)),
            f"x-ratelimit-reset-{suffix}": go_duration(wait),
        }
        return refusal(f"{message}; retry in {retry}s", retry_after=retry, headers=headers)


def go_duration(seconds: float) -> str:
    """OpenAI's reset format (Go's time.Duration, to the millisecond): 20ms, 1s, 8.64s, 6m0s, 1h2m3s."""
    ms = max(0, round(seconds * 1000))
    if ms < 1000:
        return f"{ms}ms" if ms else "0s"
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, frac = divmod(rem, 1000)
    sec = f"{s}.{frac:03d}".rstrip("0") if frac else str(s)
    if h:
        return f"{h}h{m}m{sec}s"
    return f"{m}m{sec}s" if m else f"{sec}s"


RATE_LIMITS = RateLimitPolicy()
