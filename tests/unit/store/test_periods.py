from datetime import UTC, datetime

from lmgate.store.periods import period_of


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_day():
    p = period_of("day", ts(2026, 5, 9, 23, 59, 59))
    assert (p.id, p.start, p.end) == ("d:2026-05-09", ts(2026, 5, 9), ts(2026, 5, 10))
    assert period_of("day", ts(2026, 5, 10)).id == "d:2026-05-10"


def test_month_and_year_end():
    p = period_of("month", ts(2026, 12, 31, 12))
    assert (p.id, p.start, p.end) == ("m:2026-12", ts(2026, 12, 1), ts(2027, 1, 1))
    assert p.iso_end() == "2027-01-01T00:00:00Z"
    assert period_of("month", ts(2027, 1, 1)).id == "m:2027-01"
    assert period_of("month", ts(2026, 12, 31, 23, 59, 59)).id == "m:2026-12"  # the cache follows the clock back


def test_total():
    p = period_of("total", ts(2026, 5, 9))
    assert p.id == "t" and p.start == 0 and p.end == float("inf")
