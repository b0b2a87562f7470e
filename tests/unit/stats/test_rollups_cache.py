"""Reads that keep the sums of past hours answer exactly what summing every row now answers, also after late
lines, writes into the current hour and the clock moving on."""

import sqlite3
from datetime import datetime

import pytest

from lmgate.stats.rollups import SCHEMA_VERSION, Rollups
from tests.unit.stats.test_rollups import T0, _random_lines, line

DAY, HOUR = 86400, 3600
GROUPS = (
    [],
    ["key_id"],
    ["owner", "model"],
    ["day", "key_id"],
    ["hour", "provider"],
    ["day"],
    ["key_id", "owner", "provider", "model"],
)
SERIES = (["latency", "ttfb", "gateway"], ["error"], ["dlp", "error"])


class Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def _plain(path, group, since, until):
    """Usage sums straight from the hour table, names joined, ordered as ``query`` documents (no lmgate code)."""
    cols = {"day": f"start - start % {DAY}", "hour": "start"}
    select = [cols.get(g, f"(SELECT name FROM names WHERE id = {g})") for g in group]
    sums = "SUM(requests), SUM(input_tokens), SUM(output_tokens), SUM(cost_e10), SUM(errors)"
    sql = f"SELECT {', '.join([*select, sums])} FROM rollup_hour WHERE start >= ? AND start < ?"
    if group:
        sql += f" GROUP BY {', '.join(str(i + 1) for i in range(len(group)))}"
    times = [str(i + 1) for i, g in enumerate(group) if g in cols]
    order = [*times, f"{len(group) + 4} DESC", *(str(i + 1) for i in range(len(group)))]
    sql += f" ORDER BY {', '.join(order)}"
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        rows = db.execute(sql, (since - since % HOUR, until + (-until) % HOUR)).fetchall()
    finally:
        db.close()
    return [r for r in rows if r[len(group)] is not None]


def _brief(rows, group):
    """query() rows as _plain gives them."""
    out = []
    for r in rows:
        values = []
        for g in group:
            v = r[g]
            if g == "day":
                v = int(datetime.fromisoformat(v + "T00:00:00+00:00").timestamp())
            elif g == "hour":
                v = int(datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp())
            values.append(v if v is not None else "")
        out.append(
            (*values, r["requests"], r["input_tokens"], r["output_tokens"], round(r["cost_usd"] * 1e10), r["errors"])
        )
    return out


def _reads(store, now):
    out = []
    for since, until in ((now - 30 * DAY, now), (now - 7 * DAY, now), (now - DAY + 1234, now), (T0 - 2 * DAY, None)):
        for group in GROUPS:
            out.append(store.query(since, until, group))
            out.append(store.query(since, until, group, key_id="k1"))
            out.append(store.query(since, until, group, owner="bob"))
        for series in SERIES:
            for group in ([], ["day"], ["provider", "model"], ["hour"]):
                out.append(store.counts(series, since, until, group))
                out.append(store.counts(series, since, until, group, key_id="k2", model="gpt-4o"))
    return out


def test_kept_past_hours_answer_what_plain_aggregation_does(tmp_path):
    clock = Clock(T0 + 5 * DAY + 1800)  # half past midnight, five days after T0
    lines = _random_lines(4000)
    past = [r for r in lines if r["ts"] < "2026-11-07"]
    fast = Rollups(tmp_path / "fast.sqlite", clock=clock)
    plain = Rollups(tmp_path / "plain.sqlite", cache_rows=0)
    for store in (fast, plain):
        store.add(past)

    def same():
        now = clock.t
        first = _reads(fast, now)
        assert first == _reads(plain, now)
        assert _reads(fast, now) == first  # read again: from what was kept
        for group in GROUPS:
            for since in (now - 30 * DAY, now - 7 * DAY + 999):
                got = _brief(fast.query(since, now, group), group)
                assert got == _plain(tmp_path / "plain.sqlite", group, since, now)

    same()
    generation = fast._generation
    now_line = line(clock.t + 60, key="k1", owner="bob", inp=7, out=3, cost=0.5, latency=12.0, error="upstream_error")
    for store in (fast, plain):
        store.add([now_line])  # the current hour: read each time, nothing kept goes stale
    assert fast._generation == generation
    same()
    late = line(
        clock.t - 3 * DAY,
        key="k1",
        owner="bob",
        inp=11,
        out=5,
        cost=0.25,
        latency=900.0,
        dlp={"findings": {"EMAIL_ADDRESS": 2}},
    )
    for store in (fast, plain):
        store.add([late])  # a line of three days ago arrives now: what was kept of the past is dropped
    assert fast._generation > generation
    same()
    clock.t += 2 * HOUR  # the current hour moves on: the hour just read becomes past
    for store in (fast, plain):
        store.add([line(clock.t - 10, key="k3", inp=1, out=1, cost=0.125)])
    same()
    fast.close()
    plain.close()


def test_a_line_written_in_the_hour_it_belongs_to_keeps_what_is_kept(tmp_path):
    clock = Clock(T0 + 3 * DAY + 59 * 60)  # 00:59
    with Rollups(tmp_path / "r.sqlite", clock=clock) as r:
        r.add([line(T0 + 3 * DAY - 600)])
        before = r.query(T0, clock.t + 1, ["hour"])
        generation = r._generation
        r.add([line(T0 + 3 * DAY + 120, cost=0.5)])  # 00:02, while it is 00:59
        assert r._generation == generation
        clock.t += 120  # 01:01: the line of 00:58 is late now
        r.add([line(T0 + 3 * DAY + 58 * 60, cost=0.25)])
        assert r._generation == generation + 1
        after = r.query(T0, clock.t, ["hour"])
        assert [x["cost_usd"] for x in after] == pytest.approx([before[0]["cost_usd"], 0.5 + 0.25])
