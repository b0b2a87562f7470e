"""What a notification says: a Slack-compatible JSON body (``text`` plus attachment ``fields``) and, under
``lmgate``, the same facts for machines. Names key ids and owners, never a key."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lmgate.policies.budget import usd
from lmgate.policies.headroom import KEY, LimitUse
from lmgate.store.periods import period_of

BUDGET, RATE_LIMIT = "budget", "rate_limit"  # notification kinds (the metrics' ``kind`` label)
_PERIOD_WORD = {"day": "daily", "month": "monthly", "total": "total"}


@dataclass(frozen=True, slots=True)
class Notification:
    kind: str
    text: str
    fields: tuple[tuple[str, str], ...]
    facts: dict = field(default_factory=dict)
    color: str = "warning"

    def payload(self) -> dict:
        return {
            "text": self.text,
            "attachments": [
                {
                    "fallback": self.text,
                    "color": self.color,
                    "fields": [{"title": t, "value": v, "short": True} for t, v in self.fields],
                }
            ],
            "lmgate": {"event": self.kind, **self.facts},
        }


def who(scope: str, key_id: str, owner: str) -> str:
    return f"key {key_id} (owner {owner})" if scope == KEY else f"owner {owner}"


def budget_crossed(u: LimitUse, threshold: float) -> Notification:
    pct = 100 * u.used / u.limit
    period = u.period or period_of("total", 0)
    word = _PERIOD_WORD[period.kind]
    resets = "never" if math.isinf(period.end) else period.iso_end()
    text = (
        f"lmgate: {who(u.scope, u.key_id, u.owner)} has used {pct:.0f}% of its {word} budget "
        f"({usd(u.used)} of {usd(u.limit)}; threshold {threshold:g}%)"
        + ("; further requests are refused" if pct >= 100 else "")
        + (f"; it resets at {resets}" if resets != "never" else "")
    )
    subject = [("Key", u.key_id), ("Owner", u.owner)] if u.scope == KEY else [("Owner", u.owner)]
    return Notification(
        BUDGET,
        text,
        (
            *subject,
            ("Used", f"{pct:.1f}%"),
            ("Spend", usd(u.used)),
            ("Budget", f"{usd(u.limit)} ({word})"),
            ("Resets", resets),
        ),
        {
            "scope": u.scope,
            "key_id": u.key_id or None,
            "owner": u.owner,
            "threshold_pct": threshold,
            "used_pct": round(pct, 2),
            "spend_usd": u.used,
            "budget_usd": u.limit,
            "period": period.kind,
            "period_id": period.id,
            "resets_at": None if resets == "never" else resets,
        },
        color="danger" if pct >= 100 else "warning",
    )


def rate_limited(key_id: str, owner: str, by_reason: dict[str, int], window: float) -> Notification:
    total = sum(by_reason.values())
    reasons = ", ".join(f"{r} {n}" for r, n in sorted(by_reason.items()))
    text = (
        f"lmgate: {who(KEY, key_id, owner)} was refused {total} times for rate limits "
        f"in the last {window:g} s ({reasons})"
    )
    return Notification(
        RATE_LIMIT,
        text,
        (("Key", key_id), ("Owner", owner), ("Refusals", str(total)), ("Limits", reasons)),
        {"scope": KEY, "key_id": key_id, "owner": owner, "refusals": total, "by_limit": by_reason, "window_s": window},
    )
