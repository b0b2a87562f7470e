"""Repeated rate-limit refusals of a key notify once, then stay quiet."""

from __future__ import annotations

from lmgate.alerts.ratelimit import RateLimitAlerts


def refusal(key: str = "ci-bot", error_type: str = "rate_limited_rpm") -> dict:
    return {"key_id": key, "owner": "platform", "error_type": error_type}


def test_n_refusals_within_the_window_notify_once_per_quiet_period():
    alerts = RateLimitAlerts(refusals=3, window=60, quiet=600)
    assert alerts.observe([refusal(), refusal()], now=100) == []
    notes = alerts.observe([refusal(error_type="rate_limited_tpm")], now=110)
    assert len(notes) == 1
    n = notes[0]
    assert n.facts == {
        "scope": "key", "key_id": "ci-bot", "owner": "platform", "refusals": 3, "by_limit": {"rpm": 2, "tpm": 1},
        "window_s": 60,
    }  # fmt: skip
    assert (
        n.text
        == "lmgate: key ci-bot (owner platform) was refused 3 times for rate limits in the last 60 s (rpm 2, tpm 1)"
    )
    assert alerts.observe([refusal()] * 10, now=200) == []  # still quiet
    assert len(alerts.observe([refusal()] * 3, now=800)) == 1  # quiet period over


def test_spread_out_refusals_other_errors_and_unknown_keys_do_not_notify():
    alerts = RateLimitAlerts(refusals=3, window=60, quiet=0)
    assert alerts.observe([refusal()], now=0) == []
    assert alerts.observe([refusal()], now=50) == []
    assert alerts.observe([refusal()], now=100) == []  # three, but never three within 60 s
    others = [refusal(error_type="budget_exceeded"), {"key_id": None, "error_type": "rate_limited_rpm"}, {}]
    assert alerts.observe(others * 5, now=101) == []
    assert len(alerts.observe([refusal(error_type="too_many_parallel")] * 2, now=102)) == 1
