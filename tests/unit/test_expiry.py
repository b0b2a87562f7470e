"""Expiry cells, durations, and the daily warning for keys about to expire."""

from __future__ import annotations

import logging

import pytest

from lmgate.expiry import WARN_WITHIN, ExpiryWarnings, expires_cell, format_instant, parse_duration, parse_expires

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def test_a_date_means_through_that_day_utc():
    assert format_instant(parse_expires("2027-01-31")) == "2027-02-01T00:00:00Z"
    assert format_instant(parse_expires(" 2027-12-31 ")) == "2028-01-01T00:00:00Z"


def test_a_time_is_utc_unless_it_says_otherwise():
    assert format_instant(parse_expires("2027-01-31T12:30:00")) == "2027-01-31T12:30:00Z"
    assert format_instant(parse_expires("2027-01-31T12:30:00Z")) == "2027-01-31T12:30:00Z"
    assert format_instant(parse_expires("2027-01-31 14:30:00+02:00")) == "2027-01-31T12:30:00Z"


@pytest.mark.parametrize(
    "bad", ["", "soon", "20270131", "2027-13-01", "2027-02-30", "9999-12-31", "٢٠٢٧-01-01", "x" * 50]
)
def test_unreadable_expiries_say_what_is_accepted(bad):
    with pytest.raises(ValueError, match="as an expiry: use a date"):
        parse_expires(bad)


def test_durations():
    assert [parse_duration(t) for t in ("0", "45s", "30m", "24h", "90d", "2w", " 1H ")] == [
        0, 45, 1800, 86400, 90 * 86400, 14 * 86400, 3600,
    ]  # fmt: skip
    for bad in ("", "-1h", "1y", "1.5h", "10", "9999999999d"):
        with pytest.raises(ValueError, match="as a duration"):
            parse_duration(bad)


def test_the_cell_for_what_an_operator_typed():
    assert expires_cell("90d", NOW) == "2027-04-15T08:00:00Z"
    assert expires_cell("2027-01-15", NOW) == "2027-01-15"  # today still counts: it ends at midnight
    assert expires_cell("2027-01-15T10:00:00+01:00", NOW) == "2027-01-15T09:00:00Z"
    for past in ("2027-01-14", "2027-01-15T08:00:00Z", "0"):
        with pytest.raises(ValueError, match="in the past"):
            expires_cell(past, NOW)


def test_keys_expiring_within_a_week_are_logged_once_a_day(caplog):
    warnings = ExpiryWarnings()
    keys = [
        ("soon", "team", NOW + 3 * 86400),
        ("edge", "team", NOW + WARN_WITHIN),
        ("later", "team", NOW + WARN_WITHIN + 1),
        ("gone", "team", NOW - 1),
        ("never", "team", None),
    ]
    with caplog.at_level(logging.WARNING, logger="lmgate.expiry"):
        assert warnings.check(keys, NOW) == ["soon", "edge"]
        assert warnings.check(keys, NOW + 0.5) == []  # the same UTC day
        assert warnings.check(keys, NOW + 86400) == ["soon", "edge", "later"]  # the next day, "later" now too
        assert warnings.check(keys, NOW + 86400 + 0.5) == []
    assert "key 'soon' (owner 'team') expires at 2027-01-18T08:00:00Z, in 72 hours" in caplog.text
    assert all(r.levelno == logging.WARNING for r in caplog.records)
