"""The keys and budgets pages: the allow-list as loaded and the budgets' headroom, with this period's use.

Never a key, a hash or a secret reference: a key is shown by its id, owner,
rules and dates only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from lmgate.allowlist import KeyEntry
from lmgate.dlp.settings import effective_mode
from lmgate.policies.headroom import BUDGET, KEY, LimitUse
from lmgate.stats.backend import RollupsBackend as Rollups  # SQLite or PostgreSQL
from lmgate.store.periods import period_of

MIN_ELAPSED = 3600.0  # a forecast extrapolates at least one hour of spend, not the first minutes of a period


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def keys(
    entries: Iterable[KeyEntry], rollups: Rollups, dlp_mode: str, now: float, key_id: str | None = None
) -> list[dict[str, Any]]:
    """Every key (or only ``key_id``), by id: its rules, when it was added and last used, and its requests and
    spend this period (its budget's period, else the calendar month)."""
    chosen = sorted((e for e in entries if key_id is None or e.id == key_id), key=lambda e: e.id)
    use: dict[str, dict[str, dict]] = {}  # period kind -> key id -> sums
    for kind in sorted({e.limits.budget_period if e.limits.budget_usd else "month" for e in chosen}):
        since = period_of(kind, now).start  # type: ignore[arg-type]
        use[kind] = {r["key_id"]: r for r in rollups.query(since, None, ["key_id"], key_id=key_id)}
    seen = rollups.last_seen()
    out = []
    for e in chosen:
        lim = e.limits
        kind = lim.budget_period if lim.budget_usd else "month"
        sums = use[kind].get(e.id, {})
        last = seen.get(e.id)
        row: dict[str, Any] = {
            "id": e.id,
            "owner": e.owner,
            "added": e.added or None,
            "models": list(lim.models),
            "rpm": lim.rpm,
            "tpm": lim.tpm,
            "budget_usd": lim.budget_usd,
            "budget_period": lim.budget_period if lim.budget_usd else None,
            "max_parallel": lim.max_parallel,
            "dlp": effective_mode(dlp_mode, e.extra.get("dlp")),
            "virtual_key": "upstream_key" in e.extra,
            "last_used": None if last is None else _iso(last),
            "period": kind,
            "requests": sums.get("requests", 0),
            "cost_usd": sums.get("cost_usd", 0.0),
        }
        # the settings this row does not name (those of policies from policies.extra), as the allow-list holds them
        row["other_limits"] = {n: e.extra[n] for n in lim.values if n not in row and n in e.extra}
        out.append(row)
    return out


def budgets(uses: Iterable[LimitUse], now: float, key_id: str | None = None) -> list[dict[str, Any]]:
    """Every budget (a key's own only, for ``key_id``): spent, limit, share used, reset time, and the spend at
    the period's end if the rate so far goes on (spent / elapsed x period length; elapsed at least an hour);
    ``over``: forecast past the limit."""
    out = []
    for u in uses:
        if u.rule != BUDGET or u.period is None or (key_id is not None and (u.scope != KEY or u.key_id != key_id)):
            continue
        p = u.period
        forecast = None
        if math.isfinite(p.end):
            elapsed = max(now - p.start, MIN_ELAPSED)
            forecast = round(u.used / elapsed * (p.end - p.start), 10)
        out.append(
            {
                "scope": u.scope,
                "key_id": u.key_id or None,
                "owner": u.owner,
                "period": p.kind,
                "limit_usd": u.limit,
                "spent_usd": round(u.used, 10),
                "used": u.used / u.limit if u.limit else None,
                "resets_at": p.iso_end() if math.isfinite(p.end) else None,
                "forecast_usd": forecast,
                "over": (forecast is not None and forecast > u.limit) or u.used >= u.limit,
            }
        )
    out.sort(key=lambda b: (-(b["used"] or 0), b["scope"], b["key_id"] or "", b["owner"]))
    return out
