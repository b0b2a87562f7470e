from datetime import UTC, datetime

import pytest

from lmgate.console import allowed, timeline
from lmgate.console.queries import Scope, comparison_windows, latency, overview, recent_refusals, refusals, spend
from lmgate.policies.headroom import BUDGET, KEY, OWNER, RPM, LimitUse
from lmgate.stats.rollups import Rollups
from lmgate.store.periods import period_of


def ts(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def line(t, key="k1", owner="alice", model="gpt-4o", cost=0.5, **kw):
    return {
        "ts": datetime.fromtimestamp(t, UTC).isoformat(),
        "request_id": kw.get("rid", "r"),
        "key_id": key,
        "owner": owner,
        "provider": "openai",
        "model": model,
        "status": kw.get("status", 200),
        "input_tokens": 10,
        "output_tokens": 5,
        "cost_usd": cost,
        "latency_ms": kw.get("latency"),
        "ttfb_ms": kw.get("ttfb"),
        "gateway_ms": None,
        "error_type": kw.get("error"),
        "dlp": kw.get("dlp"),
    }


@pytest.mark.parametrize(
    ("now", "today_prev", "month_prev"),
    [
        (ts(2026, 3, 31, 12), (ts(2026, 3, 30), ts(2026, 3, 30, 12)), (ts(2026, 2, 1), ts(2026, 3, 1))),  # Feb is short
        (ts(2026, 1, 5, 6), (ts(2026, 1, 4), ts(2026, 1, 4, 6)), (ts(2025, 12, 1), ts(2025, 12, 5, 6))),
    ],
)
def test_comparison_windows_end_at_the_same_point_of_the_previous_period(now, today_prev, month_prev):
    w = comparison_windows(now)
    assert w["today"][1] == today_prev and w["month"][1] == month_prev
    assert w["today"][0][1] == w["month"][0][1] == now


def test_timeline_axis_and_stack():
    assert timeline.axis(ts(2026, 11, 30, 22, 30), ts(2026, 12, 1, 1), "hour") == [
        "2026-11-30T22:00:00Z",
        "2026-11-30T23:00:00Z",
        "2026-12-01T00:00:00Z",
    ]
    assert timeline.axis(ts(2026, 11, 30, 5), ts(2026, 12, 2), "month") == ["2026-11", "2026-12"]
    with pytest.raises(ValueError, match="choose a larger step"):
        timeline.axis(0, 100 * 86400, "hour")
    points = [("a", f"n{i}", float(i)) for i in range(10)] + [("b", "n9", 1.0), ("zzz", "n9", 5.0)]
    series = timeline.stack(points, ["a", "b"], top=3)
    assert [s["name"] for s in series] == ["n9", "n8", "n7", timeline.OTHER]
    assert series[0]["values"] == [9.0, 1.0] and series[-1]["values"] == [sum(range(7)), 0.0]


@pytest.fixture
def store(tmp_path):
    with Rollups(tmp_path / "r.sqlite") as r:
        yield r


NOW = ts(2026, 12, 6, 15, 30)


def test_pages_of_a_small_store(store):
    store.add(
        [
            line(NOW - 3600, cost=1.0, latency=1000.0, ttfb=100.0),
            line(NOW - 60, key="k2", owner="bob", model="claude", cost=0.25, latency=2000.0),
            line(NOW - 30, key=None, owner=None, model=None, cost=None, status=401, error="unauthorized"),
            line(NOW - 20, error="dlp_blocked", status=403, cost=None, dlp={"findings": {"EMAIL_ADDRESS": 2}}),
            line(NOW - 86400 - 3600, cost=3.0, latency=500.0),  # yesterday, before this hour
        ]
    )
    o = overview(store, Scope(), NOW)["periods"]["today"]["metrics"]
    assert o["cost_usd"] == {"value": 1.25, "previous": 3.0}
    assert o["requests"]["value"] == 4 and o["refusals"]["value"] == 2 and o["refusal_rate"]["value"] == 0.5
    assert o["latency_p50"]["value"] == pytest.approx(1000, rel=0.091)
    assert o["latency_p99"]["value"] == pytest.approx(2000, rel=0.091)
    mine = overview(store, Scope(key_id="k2"), NOW)["periods"]["today"]["metrics"]
    assert mine["cost_usd"]["value"] == 0.25 and mine["refusals"]["value"] == 0

    s = spend(store, Scope(), NOW - 2 * 86400, NOW, "day", "owner", "cost_usd")
    assert s["times"] == ["2026-12-04", "2026-12-05", "2026-12-06"]
    assert {x["name"]: x["values"] for x in s["series"]} == {
        "alice": [0.0, 3.0, 1.0],
        "bob": [0.0, 0.0, 0.25],
        "(none)": [0.0, 0.0, 0.0],
    }
    assert [(r["owner"], r["requests"], r["tokens"]) for r in s["rows"]] == [
        ("alice", 3, 45),
        ("bob", 1, 15),
        ("(none)", 1, 15),
    ]

    r = refusals(store, Scope(), NOW - 86400, NOW, "hour")
    assert r["reasons"] == [{"reason": "dlp", "refusals": 1}, {"reason": "unauthorized", "refusals": 1}]
    assert r["dlp"] == [{"entity": "EMAIL_ADDRESS", "findings": 2}] and r["refusals"] == 2

    lat = latency(store, Scope(), NOW - 86400, NOW, "day", provider="openai", model="claude")
    assert lat["series"]["latency"]["p50"][-1] == pytest.approx(2000, rel=0.091)
    assert {(x["model"], x["requests"]) for x in lat["rows"]} == {("gpt-4o", 1), ("claude", 1)}


def test_the_latest_refusals_hold_every_refusal_and_no_forwarded_error(store):
    store.add(
        [
            line(NOW - 40, status=401, error="unauthorized", rid="own"),
            line(NOW - 30, status=403, error="an_addon_policys_undeclared_refusal", rid="addon"),
            line(NOW - 20, status=502, error="upstream_error", rid="forwarded"),
            line(NOW - 10, status=504, error="upstream_timeout", rid="forwarded-too"),
        ]
    )
    page = recent_refusals(store, Scope(), limit=10, offset=0)
    assert page["total"] == 2
    assert [(r["request_id"], r["reason"]) for r in page["rows"]] == [("addon", "other"), ("own", "unauthorized")]
    # the totals of the same page count the same two
    assert refusals(store, Scope(), NOW - 3600, NOW, "hour")["refusals"] == 2


def test_budgets_forecast_from_the_rate_so_far():
    day = period_of("day", NOW)
    month = period_of("month", NOW)
    total = period_of("total", NOW)
    uses = [
        LimitUse(KEY, "k1", "alice", BUDGET, 10.0, 2.0, month),  # 5.65 of 31 days gone: forecast ~11
        LimitUse(OWNER, "", "alice", BUDGET, 100.0, 2.0, month),
        LimitUse(KEY, "k2", "bob", BUDGET, 1.0, 1.5, day),  # already past
        LimitUse(KEY, "k3", "bob", BUDGET, 1.0, 0.1, total),
        LimitUse(KEY, "k1", "alice", RPM, 10, 3),
    ]
    rows = {(b["scope"], b["key_id"] or b["owner"]): b for b in allowed.budgets(uses, NOW)}
    assert len(rows) == 4
    k1 = rows[("key", "k1")]
    assert k1["forecast_usd"] == pytest.approx(2.0 / (NOW - month.start) * (month.end - month.start))
    assert k1["over"] and not rows[("owner", "alice")]["over"] and rows[("key", "k2")]["over"]
    assert rows[("key", "k3")]["forecast_usd"] is None and rows[("key", "k3")]["resets_at"] is None
    assert k1["resets_at"] == "2027-01-01T00:00:00Z"
    assert [b["key_id"] for b in allowed.budgets(uses, NOW, key_id="k2")] == ["k2"]
