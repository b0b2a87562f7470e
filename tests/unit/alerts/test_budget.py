"""Budget thresholds: once per threshold per period, the highest when several pass at once, kept across restarts."""

from __future__ import annotations

import math

from lmgate.alerts.budget import BudgetAlerts
from lmgate.policies.headroom import BUDGET, KEY, OWNER, RPM, LimitUse
from lmgate.store.periods import period_of

NOW = 1_790_000_000.0  # 2026-09-21


def use(used: float, limit: float = 10.0, scope: str = KEY, kind: str = "month", at: float = NOW) -> LimitUse:
    key_id = "alice" if scope == KEY else ""
    return LimitUse(scope, key_id, "research", BUDGET, limit, used, period_of(kind, at))  # type: ignore[arg-type]


def thresholds(notes) -> list:
    return [n.facts["threshold_pct"] for n in notes]


def test_each_threshold_once_and_the_highest_of_a_jump(tmp_path):
    alerts = BudgetAlerts([50, 80, 100], tmp_path / "state.json")
    assert alerts.check([use(4.0)], NOW) == []
    assert thresholds(alerts.check([use(5.0)], NOW)) == [50]
    assert alerts.check([use(6.0)], NOW) == []
    notes = alerts.check([use(12.0)], NOW)  # past 80 and 100 between two checks: one notice, for 100
    assert thresholds(notes) == [100]
    assert alerts.check([use(15.0)], NOW) == []
    n = notes[0]
    assert n.kind == "budget" and n.color == "danger"
    assert n.text.startswith("lmgate: key alice (owner research) has used 120% of its monthly budget ($12.00 of $10.00")
    assert "further requests are refused" in n.text and "resets at 2026-10-01T00:00:00Z" in n.text
    assert n.facts["period_id"] == "m:2026-09" and n.facts["resets_at"] == "2026-10-01T00:00:00Z"
    assert n.payload()["lmgate"]["event"] == "budget"


def test_a_restart_does_not_notify_again_in_the_same_period_but_a_new_period_does(tmp_path):
    state = tmp_path / "state.json"
    assert thresholds(BudgetAlerts([50, 80, 100], state).check([use(8.5)], NOW)) == [80]
    again = BudgetAlerts([50, 80, 100], state)  # the sidecar restarted
    assert again.check([use(8.6)], NOW) == []
    assert thresholds(again.check([use(10.0)], NOW)) == [100]
    next_month = NOW + 40 * 86400
    assert thresholds(again.check([use(5.0, at=next_month)], next_month)) == [50]
    assert all(ident[2] == "m:2026-10" for ident in again.notified)  # last month's entries are forgotten


def test_keys_and_owners_apart_totals_never_reset_and_other_rules_ignored(tmp_path):
    alerts = BudgetAlerts([80], tmp_path / "state.json")
    rpm = LimitUse(KEY, "alice", "research", RPM, 10, 10)
    notes = alerts.check([use(9.0), use(90.0, 100.0, scope=OWNER), use(1.0, 1.0, kind="total"), rpm], NOW)
    assert [(n.facts["scope"], n.facts["key_id"], n.facts["period"]) for n in notes] == [
        ("key", "alice", "month"),
        ("owner", None, "month"),
        ("key", "alice", "total"),
    ]
    assert notes[1].text.startswith("lmgate: owner research has used 90%")
    assert notes[2].facts["resets_at"] is None and "resets" not in notes[2].text
    assert math.isinf(period_of("total", NOW).end)


def test_an_unreadable_state_file_starts_empty(tmp_path, caplog):
    state = tmp_path / "state.json"
    state.write_text("{not json")
    alerts = BudgetAlerts([50], state)
    assert thresholds(alerts.check([use(6.0)], NOW)) == [50]
    assert "unreadable" in caplog.text
