import csv
import io
import json
from datetime import UTC, datetime

import pytest

from lmgate.usage_report import QueryError, format_rows, parse_range, parse_since

NOW = datetime(2026, 11, 24, 12, 30, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - 7 * 86400),
        ("24h", NOW - 24 * 3600),
        ("30m", NOW - 30 * 60),
        ("90s", NOW - 90),
        ("2w", NOW - 14 * 86400),
        (" 7D ", NOW - 7 * 86400),
        ("0h", NOW),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC).timestamp()),
        ("2026-11-01T08:15:00Z", datetime(2026, 11, 1, 8, 15, tzinfo=UTC).timestamp()),
        ("2026-11-01T08:15:00+02:00", datetime(2026, 11, 1, 6, 15, tzinfo=UTC).timestamp()),
        ("2026-11-01T08:15", datetime(2026, 11, 1, 8, 15, tzinfo=UTC).timestamp()),  # no offset: UTC
        ("2026-11-01 08:15:00", datetime(2026, 11, 1, 8, 15, tzinfo=UTC).timestamp()),
    ],
)
def test_parse_since(text, expected):
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty time"),
        ("7 days", "cannot read '7 days' as a time: use a duration (30m, 24h, 7d, 2w), a date"),
        ("1mo", "cannot read '1mo'"),
        ("-7d", "cannot read '-7d'"),
        ("2026-13-01", "cannot read '2026-13-01'"),
        ("2027-01-01", "'2027-01-01' is in the future"),
        ("9" * 400 + "d", "cannot read '999"),  # no OverflowError
        ("99999999999d", "reaches back before 1970-01-01"),
        ("\u0663d", "cannot read"),  # \d would take an Arabic-Indic digit
        ("1969-12-31", "is before 1970-01-01"),
        ("0001-01-01T00:00:00+23:59", "is before 1970-01-01"),
    ],
)
def test_parse_since_errors(text, message):
    with pytest.raises(ValueError) as err:
        parse_since(text, NOW)
    assert message in str(err.value)


def test_parse_range_names_the_bad_parameter():
    assert parse_range("2d", None, NOW) == (NOW - 2 * 86400, None)
    assert parse_range("2d", "1d", NOW) == (NOW - 2 * 86400, NOW - 86400)
    for since, until, param in (("x", None, "since"), ("1d", "x", "until"), ("1d", "2d", "until")):
        with pytest.raises(QueryError) as err:
            parse_range(since, until, NOW)
        assert err.value.param == param and str(err.value).startswith(param + ": ")


ROWS = [
    {"owner": "alice", "model": "gpt-4o", "requests": 1234, "input_tokens": 1_234_567, "cost_usd": 12.345678},
    {"owner": None, "model": "claude-sonnet-4-5", "requests": 3, "input_tokens": 10, "cost_usd": 0.00012},
]


def test_table_is_aligned_with_separators_and_a_total():
    assert format_rows(ROWS) == (
        "owner  model              requests  input_tokens  cost_usd\n"
        "-----  -----------------  --------  ------------  --------\n"
        "alice  gpt-4o                1,234     1,234,567   12.3457\n"
        "-      claude-sonnet-4-5         3            10    0.0001\n"
        "-----  -----------------  --------  ------------  --------\n"
        "total                        1,237     1,234,577   12.3458\n"
    )


def test_table_without_labels_or_rows():
    assert format_rows([{"requests": 5, "cost_usd": 1.0}]).splitlines()[-1] == "       5    1.0000"
    assert format_rows([]) == "no usage in this period\n"


def test_csv_and_json_keep_raw_values():
    parsed = list(csv.DictReader(io.StringIO(format_rows(ROWS, "csv"))))
    assert parsed[0] == {
        "owner": "alice",
        "model": "gpt-4o",
        "requests": "1234",
        "input_tokens": "1234567",
        "cost_usd": "12.345678",
    }
    assert parsed[1]["owner"] == ""
    assert json.loads(format_rows(ROWS, "json")) == ROWS
    assert format_rows([], "csv") == "" and format_rows([], "json") == "[]"


def test_unknown_format():
    with pytest.raises(ValueError, match="choose table, csv or json"):
        format_rows(ROWS, "xml")
