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


def test_every_fact_lands_in_its_field():
    """from_headers reads the facts by position (``fact_names()`` order): each value where its name says."""
    from lmgate.stats.line import fact_names, usage_headers

    names, usage_names = fact_names(), usage_headers()

    values = {
        "status": "201", "completion": "", "request_time": "0.5", "msec": "1732438503.250", "auth_time": "0.002",
        "upstream_header_time": "0.125", "bytes_sent": "77", "capture_gap": "40", "tail": "3,2:5,0,0,0,0,0,0,0",
        "gateway_error": "upstream_closed",
    }  # fmt: skip
    values |= {name: str(i + 1) for i, name in enumerate(usage_names)}
    assert set(values) == set(names)
    ex = Exchange.from_headers({"X-Lmgate-Facts": "|".join(values[name] for name in names)})
    assert (ex.status, ex.completed, ex.request_time, ex.end, ex.auth_time) == (201, False, 0.5, 1732438503.25, 0.002)
    assert (ex.upstream_header_time, ex.bytes_sent, ex.capture_gap, ex.tail) == (0.125, 77, "40", "3,2:5,0,0,0,0,0,0,0")
    assert ex.gateway_error == "upstream_closed"
    assert ex.usage_headers == {name: str(i + 1) for i, name in enumerate(usage_names)}
    short = Exchange.from_headers({"X-Lmgate-Facts": "200|OK"})  # fields missing at the end are empty
    assert (short.status, short.completed, short.usage_headers, short.tail) == (200, True, {}, "")
