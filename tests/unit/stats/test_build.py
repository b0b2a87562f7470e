"""Reading nginx's facts and formatting the stats line's timestamp."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from lmgate.stats.build import Exchange, _iso, _seconds


def test_iso_timestamps_are_what_datetime_prints():
    """The cached-prefix formatter must agree with datetime to the millisecond, rounding included."""
    rng = random.Random(7)
    epochs = [rng.uniform(0, 4e9) for _ in range(20_000)]
    epochs += [round(e, 3) for e in epochs[:5_000]] + [round(e, 6) for e in epochs[5_000:10_000]]
    epochs += [0.0, 0.9999995, 1_732_438_503.9999996, 1_732_438_503.0000004, 1e9 + 0.0005, 1e9 + 0.0015]
    for epoch in epochs:
        assert _iso(epoch) == datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def test_nginx_timings_with_retries_and_dashes():
    assert _seconds("0.123") == 0.123
    assert _seconds("0.010, 0.120") == 0.120  # retried upstream: the last try counts
    assert _seconds("0.010 : 0.120") is None  # not a form nginx's timers take
    assert _seconds("-") is None and _seconds("") is None and _seconds(None) is None


def test_facts_nginx_logged_as_dash_are_empty():
    """The spool logs an absent variable as "-": no usage header, no upstream time."""
    facts = "200|OK|0.004|1732438503.123|0.001|-|994||1,1:0,0,0,0,0,0,0,0||-|-|-|-"
    ex = Exchange.from_headers({"X-Lmgate-Provider": "bedrock", "X-Lmgate-Facts": facts})
    assert ex.usage_headers == {} and ex.upstream_header_time is None and ex.gateway_error is None
    with_usage = facts.replace("|-|-|-|-", "|12|34|-|-")
    ex = Exchange.from_headers({"X-Lmgate-Provider": "bedrock", "X-Lmgate-Facts": with_usage})
    assert ex.usage_headers == {"x-amzn-bedrock-input-token-count": "12", "x-amzn-bedrock-output-token-count": "34"}
