"""What each console page shows, as JSON-ready dicts, from the rollups (every read is a ``Rollups`` method).

Blocking (SQLite): handlers call these in a worker thread. A ``Scope`` narrows
every read to one key (a key's own view) or one owner.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lmgate.console import timeline
from lmgate.console.timeline import DAY, Step
from lmgate.metrics.labels import FORWARDED, refusal_reason
from lmgate.stats import histogram
from lmgate.stats.backend import RollupsBackend as Rollups  # SQLite or PostgreSQL

DURATIONS = ("latency", "ttfb", "gateway")
QUANTILES = (0.5, 0.99)
BY = ("owner", "key_id", "model", "provider")
SPEND_METRICS = ("cost_usd", "tokens", "requests")
TABLE_COLUMNS = ("requests", "input_tokens", "output_tokens", "tokens", "cost_usd", "errors")


@dataclass(frozen=True, slots=True)
class Scope:
    key_id: str | None = None  # a key's own view, or the admin's filter
    owner: str | None = None

    @property
    def args(self) -> dict[str, str | None]:
        return {"key_id": self.key_id, "owner": self.owner}


# -- overview ---------------------------------------------------------------


def comparison_windows(now: float) -> dict[str, tuple[tuple[float, float], tuple[float, float]]]:
    """Today and this month so far, each with the previous period up to the same point: yesterday to this hour,
    last month to this day and hour (cut at last month's end)."""
    day = now - now % DAY
    t = datetime.fromtimestamp(now, UTC)
    month = datetime(t.year, t.month, 1, tzinfo=UTC).timestamp()
    prev_t = datetime(t.year - (t.month == 1), 12 if t.month == 1 else t.month - 1, 1, tzinfo=UTC)
    prev = prev_t.timestamp()
    return {
        "today": ((day, now), (day - DAY, now - DAY)),
        "month": ((month, now), (prev, min(prev + (now - month), month))),
    }


def _window(rollups: Rollups, scope: Scope, since: float, until: float) -> dict[str, float | None]:
    rows = rollups.query(since, until, **scope.args)
    sums = rows[0] if rows else {}
    requests = sums.get("requests", 0)
    refusals = sum(
        r["n"] for r in rollups.counts(["error"], since, until, **scope.args) if refusal_reason(r["label"]) is not None
    )
    q = _quantiles(rollups.counts(["latency", "ttfb"], since, until, **scope.args))
    return {
        "cost_usd": sums.get("cost_usd", 0.0),
        "requests": requests,
        "tokens": sums.get("input_tokens", 0) + sums.get("output_tokens", 0),
        "refusal_rate": refusals / requests if requests else None,
        "refusals": refusals,
        "latency_p50": q["latency"][0],
        "latency_p99": q["latency"][1],
        "ttfb_p50": q["ttfb"][0],
        "ttfb_p99": q["ttfb"][1],
    }


def overview(rollups: Rollups, scope: Scope, now: float) -> dict[str, Any]:
    """The headline numbers today and this month, each against the previous period to the same point; spend
    and requests per day this month; this month's top models."""
    periods = {}
    for name, ((lo, hi), (plo, phi)) in comparison_windows(now).items():
        current, previous = _window(rollups, scope, lo, hi), _window(rollups, scope, plo, phi)
        periods[name] = {
            "since": lo,
            "until": hi,
            "previous": {"since": plo, "until": phi},
            "metrics": {k: {"value": v, "previous": previous[k]} for k, v in current.items()},
        }
    month_start = periods["month"]["since"]
    days = timeline.axis(month_start, now, "day")
    per_day = {r["day"]: r for r in rollups.query(month_start, now, ["day"], **scope.args)}
    models = rollups.query(month_start, now, ["provider", "model"], **scope.args)[:5]
    return {
        "now": now,
        "periods": periods,
        "days": days,
        "daily": {m: [per_day[d][m] if d in per_day else 0 for d in days] for m in ("cost_usd", "requests", "errors")},
        "top_models": [_table_row(r, ("provider", "model")) for r in models],
    }


# -- spend ------------------------------------------------------------------


def _table_row(row: dict, names: Iterable[str]) -> dict[str, Any]:
    out = {n: row.get(n) for n in names}
    out.update({c: row[c] for c in TABLE_COLUMNS if c in row})
    out["tokens"] = row["input_tokens"] + row["output_tokens"]
    return out


def spend(
    rollups: Rollups,
    scope: Scope,
    since: float,
    until: float,
    step: Step,
    by: str,
    metric: str,
) -> dict[str, Any]:
    """``metric`` per ``step`` from ``since`` to ``until`` stacked by ``by`` (the 8 largest and the rest), and
    the table of every ``by`` value over the range (largest cost first)."""
    times = timeline.axis(since, until, step)
    table_bucket = "hour" if step == "hour" else "day"
    rows = rollups.query(since, until, [table_bucket, by], bucket="hour", **scope.args)
    # column by column: a month by key and day is 15,000 rows
    labels = [r["hour"] for r in rows] if step == "hour" else [r["day"][: 7 if step == "month" else 10] for r in rows]
    names = [r[by] or "(none)" for r in rows]
    values = [r["input_tokens"] + r["output_tokens"] for r in rows] if metric == "tokens" else [r[metric] for r in rows]
    series = timeline.stack(zip(labels, names, values, strict=True), times)
    table = [_table_row(r, (by,)) for r in rollups.query(since, until, [by], **scope.args)]
    for row in table:
        row[by] = row[by] or "(none)"
    totals = rollups.query(since, until, **scope.args)
    return {
        "since": since,
        "until": until,
        "step": step,
        "by": by,
        "metric": metric,
        "times": times,
        "series": series,
        "rows": table,
        "totals": _table_row(totals[0], ()) if totals else None,
    }


# -- latency ----------------------------------------------------------------


def _quantiles(rows: Iterable[dict]) -> dict[str, list[float | None]]:
    """p50 and p99 per duration series of merged histogram count rows."""
    merged: dict[str, dict[int, int]] = {s: {} for s in DURATIONS}
    for r in rows:
        h = merged[r["series"]]
        h[r["label"]] = h.get(r["label"], 0) + r["n"]
    return {s: histogram.quantiles(h, QUANTILES) for s, h in merged.items()}


def latency(
    rollups: Rollups,
    scope: Scope,
    since: float,
    until: float,
    step: Step,
    provider: str | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """p50 and p99 of latency, time to first byte and gateway time per ``step`` (for one provider and model when
    given, else for all), and the table of every provider and model over the range."""
    if step == "month":
        raise ValueError("latency is shown by hour or day")
    times = timeline.axis(since, until, step)
    per_time: dict[str, list[dict]] = {}
    for r in rollups.counts(DURATIONS, since, until, [step], **scope.args, provider=provider, model=model):
        per_time.setdefault(r[step], []).append(r)
    per_model: dict[tuple[str, str], list[dict]] = {}
    for r in rollups.counts(DURATIONS, since, until, ["provider", "model"], **scope.args):
        per_model.setdefault((r["provider"] or "", r["model"] or ""), []).append(r)
    q_time = {t: _quantiles(rs) for t, rs in per_time.items()}
    series = {
        s: {
            f"p{round(q * 100)}": [q_time[t][s][i] if t in q_time else None for t in times]
            for i, q in enumerate(QUANTILES)
        }
        for s in DURATIONS
    }
    table = []
    for (prov, mod), rs in sorted(per_model.items()):
        q = _quantiles(rs)
        row: dict[str, Any] = {"provider": prov or None, "model": mod or None}
        row["requests"] = sum(r["n"] for r in rs if r["series"] == "latency")
        for s in DURATIONS:
            row[f"{s}_p50"], row[f"{s}_p99"] = q[s]
        table.append(row)
    table.sort(key=lambda r: -r["requests"])
    return {
        "since": since,
        "until": until,
        "step": step,
        "provider": provider,
        "model": model,
        "times": times,
        "series": series,
        "rows": table,
        "relative_error": round(histogram.RELATIVE_ERROR, 4),
    }


# -- refusals and DLP -------------------------------------------------------


def refusals(rollups: Rollups, scope: Scope, since: float, until: float, step: Step) -> dict[str, Any]:
    """Refusals per ``step`` stacked by reason, their totals and rate, and DLP findings per entity type."""
    times = timeline.axis(since, until, step)
    bucket = "hour" if step == "hour" else "day"
    rows = [
        (r, reason)
        for r in rollups.counts(["error"], since, until, [bucket], **scope.args)
        if (reason := refusal_reason(r["label"])) is not None
    ]
    series = timeline.stack(((timeline.row_label(r, step), reason, r["n"]) for r, reason in rows), times, top=12)
    totals: dict[str, int] = {}
    for r, reason in rows:
        totals[reason] = totals.get(reason, 0) + r["n"]
    sums = rollups.query(since, until, **scope.args)
    requests = sums[0]["requests"] if sums else 0
    dlp: dict[str, int] = {}
    for r in rollups.counts(["dlp"], since, until, **scope.args):
        dlp[r["label"]] = dlp.get(r["label"], 0) + r["n"]
    refused = sum(totals.values())
    return {
        "since": since,
        "until": until,
        "step": step,
        "times": times,
        "series": [{**s, "values": [int(v) for v in s["values"]]} for s in series],  # type: ignore[attr-defined]
        "reasons": [{"reason": k, "refusals": v} for k, v in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))],
        "requests": requests,
        "refusals": refused,
        "refusal_rate": refused / requests if requests else None,
        "dlp": [{"entity": k, "findings": v} for k, v in sorted(dlp.items(), key=lambda kv: (-kv[1], kv[0]))],
    }


def recent_refusals(rollups: Rollups, scope: Scope, limit: int, offset: int) -> dict[str, Any]:
    """The latest refusals, newest first, a page of them: every error line but a forwarded request's, so that a
    refusal of an add-on policy that declares no label shows too (as ``other``), as in the totals."""
    total, rows = rollups.recent_errors(None, limit=limit, offset=offset, except_types=FORWARDED, **scope.args)
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "rows": [
            {
                "time": datetime.fromtimestamp(r["at"], UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "request_id": r["request_id"],
                "key_id": r["key_id"],
                "owner": r["owner"],
                "provider": r["provider"],
                "model": r["model"],
                "status": r["status"],
                "reason": refusal_reason(r["error_type"]),
            }
            for r in rows
        ],
    }
