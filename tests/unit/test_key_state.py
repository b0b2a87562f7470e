"""A known key that must not pass: disabled (403) or expired (401), each with its own error_type and words."""

from __future__ import annotations

import pytest

from lmgate.allowlist import parse_allowlist
from lmgate.errors import KeyDisabled, KeyExpired, Unauthorized
from lmgate.key_state import check_usable

FILE = (
    "id,api_key,owner,added,expires,disabled\n"
    "live,sk-test-live-0123456789abcdef,o,,2027-01-31,\n"
    "off,sk-test-off-0123456789abcdef,o,,2027-01-31,true\n"
)
JAN_31_NOON, FEB_1 = 1801396800.0, 1801440000.0


def entry(key: str):
    return parse_allowlist(FILE).lookup(key)


def test_a_key_works_through_its_last_day_and_not_after():
    check_usable(entry("sk-test-live-0123456789abcdef"), "sk-test-live-0123456789abcdef", JAN_31_NOON)
    check_usable(entry("sk-test-live-0123456789abcdef"), "sk-test-live-0123456789abcdef", FEB_1 - 0.001)
    with pytest.raises(KeyExpired) as e:
        check_usable(entry("sk-test-live-0123456789abcdef"), "sk-test-live-0123456789abcdef", FEB_1)
    assert isinstance(e.value, Unauthorized) and e.value.status == 401 and e.value.error_type == "key_expired"
    assert e.value.message == (
        "lmgate: API key …abcdef expired at 2027-02-01T00:00:00Z; ask the gateway's operator for a new one"
    )


def test_disabled_is_403_and_comes_first():
    for now in (JAN_31_NOON, FEB_1 + 1):
        with pytest.raises(KeyDisabled) as e:
            check_usable(entry("sk-test-off-0123456789abcdef"), "sk-test-off-0123456789abcdef", now)
        assert e.value.status == 403 and e.value.error_type == "key_disabled"
        assert e.value.message == "lmgate: API key …abcdef is disabled on this gateway"
