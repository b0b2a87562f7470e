import gzip
import logging
import random
import sqlite3
from datetime import UTC, datetime

import orjson
import pytest

from lmgate.stats import histogram
from lmgate.stats.rollup_rows import RECENT_MAX
from lmgate.stats.rollups import METRICS, Rollups, _legs, stats_files
from lmgate.stats.writer import StatsWriter

T0 = datetime(2026, 11, 2, tzinfo=UTC).timestamp()  # a Monday, midnight UTC


def _iso(t):
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def line(t, key="k1", owner="alice", provider="openai", model="gpt-4o", inp=100, out=10, cost=0.001, **kw):
    return {
        "ts": _iso(t),
        "request_id": kw.get("request_id", "r"),
        "key_id": key,
        "owner": owner,
        "provider": provider,
        "model": model,
        "input_tokens": inp,
        "output_tokens": out,
        "cache_read_tokens": kw.get("cache_read"),
        "cache_write_tokens": kw.get("cache_write"),
        "reasoning_tokens": kw.get("reasoning"),
        "cost_usd": cost,
        "latency_ms": kw.get("latency"),
        "ttfb_ms": kw.get("ttfb"),
        "gateway_ms": kw.get("gateway"),
        "status": kw.get("status", 200),
        "error_type": kw.get("error"),
        "dlp": kw.get("dlp"),
    }


def _random_lines(n, seed=7):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        out.append(
            line(
                T0 + rnd.uniform(-3 * 86400, 10 * 86400),
                key=rnd.choice(["k1", "k2", "k3", None]),
                owner=rnd.choice(["alice", "bob", None]),
                provider=rnd.choice(["openai", "anthropic"]),
                model=rnd.choice(["gpt-4o", "claude-sonnet-4-5", None]),
                inp=rnd.choice([None, 0, rnd.randint(1, 200_000)]),
                out=rnd.choice([None, rnd.randint(1, 5_000)]),
                cost=rnd.choice([None, round(rnd.uniform(0, 3), 10), 1e-10, 0.1, 0.2]),
                cache_read=rnd.choice([None, rnd.randint(0, 1000)]),
                cache_write=rnd.choice([None, rnd.randint(0, 1000)]),
                reasoning=rnd.choice([None, rnd.randint(0, 1000)]),
                error=rnd.choice([None, None, None, "upstream_error", "rate_limited_rpm", "unauthorized"]),
                latency=rnd.choice([None, rnd.uniform(0, 30_000), rnd.randint(0, 5)]),
                ttfb=rnd.choice([None, rnd.uniform(0, 3_000)]),
                gateway=rnd.choice([None, rnd.uniform(0, 5), 0.0]),
                dlp=rnd.choice(
                    [None, {"mode": "log", "findings": {}}, {"findings": {"EMAIL_ADDRESS": rnd.randint(1, 3)}}]
                ),
            )
        )
    return out


def _dump(path):
    """Every table with names resolved, sorted: ids (and recent_errors' seq) may differ between two stores of
    equal content."""
    db = sqlite3.connect(path)
    try:
        names = dict(db.execute("SELECT id, name FROM names"))
        named = {"key_id", "owner", "provider", "model", "error_type"}
        out = {}
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'names'"):
            cols = [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
            rows = []
            for r in db.execute(f"SELECT * FROM {table}"):
                row = dict(zip(cols, r, strict=True))
                row.pop("seq", None)
                for c in named & row.keys():
                    row[c] = names[row[c]]
                if "label" in row and row["series"] in (4, 5):  # error and dlp: named labels
                    row["label"] = names[row["label"]]
                rows.append(tuple(sorted(row.items())))
            out[table] = sorted(rows, key=repr)
        assert len(out) == 16, sorted(out)  # 7 families x hour and day, recent_errors, key_seen
        return out
    finally:
        db.close()


@pytest.fixture
def store(tmp_path):
    with Rollups(tmp_path / "r.sqlite") as r:
        yield r


def test_sums_per_hour_and_day(store):
    store.add(
        [
            line(T0 + 60, inp=100, out=10, cost=0.25, cache_read=40, reasoning=3),
            line(T0 + 120, inp=50, out=5, cost=0.5, cache_write=7, error="upstream_error"),
            line(T0 + 3600 + 1, inp=1, out=1, cost=0.125),
        ]
    )
    rows = store.query(T0, T0 + 86400, group_by=["hour"])
    assert rows == [
        {
            "hour": "2026-11-02T00:00:00Z",
            "requests": 2,
            "input_tokens": 150,
            "output_tokens": 15,
            "cache_read_tokens": 40,
            "cache_write_tokens": 7,
            "reasoning_tokens": 3,
            "cost_usd": 0.75,
            "errors": 1,
        },
        {
            "hour": "2026-11-02T01:00:00Z",
            "requests": 1,
            "input_tokens": 1,
            "output_tokens": 1,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "reasoning_tokens": 0,
            "cost_usd": 0.125,
            "errors": 0,
        },
    ]
    [day] = store.query(T0, T0 + 86400, group_by=["day"])
    assert day["day"] == "2026-11-02" and day["requests"] == 3 and day["cost_usd"] == 0.875


def test_row_counts_are_rows_per_table(store):
    assert store.row_counts() == {"hour": 0, "day": 0}
    # two keys in hour 0, one of them again in hour 1, and a line the next day: 4 hour rows, 3 day rows
    store.add([line(T0), line(T0 + 60, key="k2"), line(T0 + 3600), line(T0 + 86400)])
    assert store.row_counts() == {"hour": 4, "day": 3}


def test_group_by_dimensions_filters_and_nulls(store):
    store.add(
        [
            line(T0, key="k1", owner="alice", model="gpt-4o", cost=1.0),
            line(T0, key="k2", owner="alice", model="gpt-4o", cost=2.0),
            line(T0, key="k3", owner="bob", model="claude-sonnet-4-5", cost=4.0),
            line(T0, key=None, owner=None, provider="openai", model=None, cost=None, inp=None, out=None),
        ]
    )
    rows = store.query(T0, None, group_by=["owner", "model"])
    assert [(r["owner"], r["model"], r["requests"], r["cost_usd"]) for r in rows] == [
        ("bob", "claude-sonnet-4-5", 1, 4.0),
        ("alice", "gpt-4o", 2, 3.0),
        (None, None, 1, 0.0),
    ]
    assert [r["key_id"] for r in store.query(T0, None, group_by=["key_id"], owner="alice")] == ["k2", "k1"]
    [only] = store.query(T0, None, group_by=["provider"], key_id="k3")
    assert only == only | {"provider": "openai", "requests": 1, "cost_usd": 4.0}
    assert store.query(T0 + 86400, None, group_by=["owner"]) == []
    assert store.query(T0 + 86400) == []


def test_long_names_are_cut(store):
    store.add([line(T0, model="m" * 500)])
    assert store.query(T0, group_by=["model"])[0]["model"] == "m" * 200


def test_cost_sums_are_exact_in_any_order(tmp_path):
    costs = [0.1, 0.2, 0.3, 1e-10, 2.5e-7, 0.0000123456]
    lines = [line(T0, cost=c) for c in costs]
    with Rollups(tmp_path / "a.sqlite") as a, Rollups(tmp_path / "b.sqlite") as b:
        a.add(lines)
        for one in reversed(lines):
            b.add([one])
        assert a.spend(T0) == b.spend(T0) == round(sum(costs), 10)
    assert _dump(tmp_path / "a.sqlite") == _dump(tmp_path / "b.sqlite")


def test_rebuild_equals_live_add_including_rotated_gz_files(tmp_path, caplog):
    lines = _random_lines(3000)
    live_path = tmp_path / "stats.jsonl"
    writer = StatsWriter(live_path, max_bytes=40_000, keep_files=0)
    with Rollups(tmp_path / "live.sqlite") as live:
        rnd = random.Random(1)
        i = 0
        while i < len(lines):  # live batches of varying size, as the writer's flushes come
            batch = lines[i : i + rnd.randint(1, 200)]
            i += len(batch)
            for record in batch:
                writer.write(record)
            writer.flush()
            live.add(batch)
        assert live.skipped == 0
    rotated = writer.rotated_files()
    assert len(rotated) >= 5 and all(p.name.endswith(".jsonl.gz") for p in rotated)
    assert stats_files(live_path) == [*rotated, live_path]

    # malformed lines in an old gz file and the live file are skipped, counted and logged
    old = gzip.decompress(rotated[0].read_bytes())
    rotated[0].write_bytes(gzip.compress(b'{"ts": "yesterday"}\nnot json at all\n' + old + b"[1, 2]\n"))
    with live_path.open("ab") as f:
        f.write(b'{"ts": "2026-11-02T00:00:00Z", "input_tokens": "many"}\n\n{"truncated": \n')

    with Rollups(tmp_path / "rebuilt.sqlite") as rebuilt, caplog.at_level(logging.WARNING, logger="lmgate.stats"):
        assert rebuilt.created
        read = rebuilt.rebuild(live_path)
        assert read == len(lines) + 5, "blank lines are not lines"
        assert rebuilt.malformed == 5
    assert f"{rotated[0].name}:1: malformed stats line skipped (ts is not ISO-8601: 'yesterday')" in caplog.text
    assert f"{rotated[0].name}:2: malformed stats line skipped" in caplog.text
    assert "input_tokens is not a token count: 'many'" in caplog.text
    assert "5 of 3005 lines malformed and skipped" in caplog.text
    assert _dump(tmp_path / "rebuilt.sqlite") == _dump(tmp_path / "live.sqlite")

    with Rollups(tmp_path / "live.sqlite") as again:  # rebuild replaces, never adds
        assert not again.created
        again.rebuild(live_path)
    assert _dump(tmp_path / "live.sqlite") == _dump(tmp_path / "rebuilt.sqlite")


def test_rebuild_reads_an_interrupted_rotation_and_survives_a_broken_gz(tmp_path, caplog):
    path = tmp_path / "stats.jsonl"
    many = b"".join(_json(line(T0 + i, cost=1.0, model=f"m{i}")) + b"\n" for i in range(1000))
    broken = gzip.compress(many)
    (tmp_path / "stats-20261101T000000.000000Z.jsonl.gz").write_bytes(broken[: len(broken) // 2])
    (tmp_path / "stats-20261102T000000.000000Z.jsonl").write_bytes(_json(line(T0, cost=2.0)) + b"\n")  # not gzipped yet
    path.write_bytes(_json(line(T0, cost=4.0)) + b"\n")
    with Rollups(tmp_path / "r.sqlite") as r:
        read = r.rebuild(path)
        assert 2 < read < 1002
        assert r.spend(T0) == (read - 2) * 1.0 + 6.0, "what the broken file gave up to the break, and the rest"
    assert "cannot read" in caplog.text and f"after line {read - 2}" in caplog.text


def _json(record):
    return orjson.dumps(record)


def test_add_is_one_transaction(store, monkeypatch):
    store.add([line(T0, cost=1.0)])
    real = store._upsert

    def half_then_fail(rows):
        real(rows)
        raise RuntimeError("disk gone")

    monkeypatch.setattr(store, "_upsert", half_then_fail)
    with pytest.raises(RuntimeError):
        store.add([line(T0, cost=2.0), line(T0 + 7200, cost=4.0, model="new-model")])
    monkeypatch.undo()
    assert store.spend(T0) == 1.0
    assert store.add([line(T0, cost=8.0, model="new-model")]) == 1, "the store still takes writes"
    assert store.spend(T0) == 9.0
    rows = store.query(T0, group_by=["model"])
    assert [(r["model"], r["cost_usd"]) for r in rows] == [("new-model", 8.0), ("gpt-4o", 1.0)]


def test_add_skips_unusable_records(store, caplog):
    used = store.add([line(T0), {"ts": None}, {"ts": "nope"}, "not a dict", line(T0, inp=-1), line(T0, cost="1")])
    assert used == 1 and store.skipped == 5
    assert "skipped 5 stats records" in caplog.text


@pytest.mark.parametrize(
    ("since", "until", "bucket", "expected"),
    [
        (T0, T0 + 86400, "hour", 1 + 2 + 4),  # whole day: day table
        (T0 + 3600, T0 + 86400, "hour", 2 + 4),  # from 01:00: hour table
        (T0 + 1800, T0 + 86400, "hour", 1 + 2 + 4),  # 00:30 floors to the 00:00 hour
        (T0, T0 + 3600, "hour", 1),
        (T0, T0 + 3601, "hour", 1 + 2),  # until rounds up to the next hour
        (T0 + 3600, T0 + 86400 + 3600, "hour", 2 + 4 + 8),  # hours at both ends, whole days between
        (T0 + 3600, T0 + 7200, "day", 1 + 2 + 4),  # day buckets widen to whole days
        (T0 - 86400, None, "hour", 1 + 2 + 4 + 8),
    ],
)
def test_query_ranges(store, since, until, bucket, expected):
    store.add(
        [
            line(T0 + 10, cost=1.0),
            line(T0 + 3600 + 10, cost=2.0),
            line(T0 + 20 * 3600, cost=4.0),
            line(T0 + 86400 + 10, cost=8.0),
        ]
    )
    [row] = store.query(since, until, bucket=bucket)
    assert row["cost_usd"] == expected


def test_group_by_day_across_the_day_and_hour_tables(store):
    store.add([line(T0 + 10, cost=1.0), line(T0 + 3600 + 10, cost=2.0), line(T0 + 86400 + 10, cost=8.0)])
    rows = store.query(T0 + 3600, None, group_by=["day"])
    assert [(r["day"], r["cost_usd"]) for r in rows] == [("2026-11-02", 2.0), ("2026-11-03", 8.0)]
    rows = store.query(T0, T0 + 2 * 86400, group_by=["day", "hour"])
    assert [(r["day"], r["hour"], r["cost_usd"]) for r in rows] == [
        ("2026-11-02", "2026-11-02T00:00:00Z", 1.0),
        ("2026-11-02", "2026-11-02T01:00:00Z", 2.0),
        ("2026-11-03", "2026-11-03T00:00:00Z", 8.0),
    ]


D = 86400


@pytest.mark.parametrize(
    ("lo", "hi", "bucket", "by_hour", "legs"),
    [
        (0, D, "hour", False, [("day", 0, D)]),
        (0, None, "hour", False, [("day", 0, None)]),
        (0, D, "hour", True, [("hour", 0, D)]),
        (3600, D, "hour", False, [("hour", 3600, D)]),
        (
            3600,
            3 * D + 7200,
            "hour",
            False,
            [("hour", 3600, D), ("day", D, 3 * D), ("hour", 3 * D, 3 * D + 7200)],
        ),
        (3600, None, "hour", False, [("hour", 3600, D), ("day", D, None)]),
        (3600, 7200, "day", False, [("day", 0, D)]),
    ],
)
def test_which_table_serves_a_range(lo, hi, bucket, by_hour, legs):
    assert _legs(lo, hi, bucket, by_hour) == legs


def test_query_argument_errors(store):
    with pytest.raises(ValueError, match="cannot group by color"):
        store.query(T0, group_by=["owner", "color"])
    with pytest.raises(ValueError, match="grouping by hour needs bucket='hour'"):
        store.query(T0, group_by=["hour"], bucket="day")
    with pytest.raises(ValueError, match="bucket must be"):
        store.query(T0, bucket="week")


def test_spend_for_budget_periods(store):
    month = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    store.add(
        [
            line(month - 1, key="k1", owner="alice", cost=100.0),  # October
            line(month + 5, key="k1", owner="alice", cost=1.5),
            line(T0 + 5 * 3600, key="k2", owner="alice", cost=2.25),
            line(T0 + 5 * 3600, key="k3", owner="bob", cost=4.0),
        ]
    )
    assert store.spend(month) == 7.75
    assert store.spend(month, key_id="k1") == 1.5
    assert store.spend(month, owner="alice") == 3.75
    assert store.spend(T0, owner="alice") == 2.25
    assert store.spend(month, key_id="nobody") == 0.0


def test_a_store_of_another_schema_version_is_recreated(tmp_path):
    path = tmp_path / "r.sqlite"
    with Rollups(path) as r:
        r.add([line(T0)])
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with Rollups(path) as r:
        assert r.created
        assert r.query(T0) == []
    with Rollups(path) as r:
        assert not r.created


def test_an_unreadable_store_is_set_aside(tmp_path, caplog):
    path = tmp_path / "r.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with Rollups(path) as r:
        assert r.created
        r.add([line(T0, cost=1.0)])
        assert r.spend(T0) == 1.0
    assert (tmp_path / "r.sqlite.corrupt").read_bytes().startswith(b"this is not")
    assert "is unreadable" in caplog.text


def test_wal_mode_and_indexes(store):
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    plan = " ".join(
        str(r)
        for r in db.execute("EXPLAIN QUERY PLAN SELECT SUM(cost_e10) FROM rollup_hour WHERE owner = 1 AND start >= 0")
    )
    assert "rollup_hour_owner" in plan
    db.close()


def test_the_narrower_tables_answer_as_the_full_ones_do(store):
    lines = _random_lines(2000, seed=3)
    store.add(lines)
    for since, until, bucket in ((T0 - 2 * D, None, "hour"), (T0 + 3600, T0 + 3 * D + 7200, "hour"), (T0, None, "day")):
        for group in (
            ["model"],
            ["provider", "model"],
            ["day", "provider"],
            [],
            ["key_id"],
            ["day", "owner", "key_id"],
        ):
            fast = store.query(since, until, group, bucket=bucket)  # read from models_* or keys_*
            other = "model" if {"key_id", "owner"} & set(group) else "key_id"  # forces the per-key-and-model tables
            summed: dict = {}
            for row in store.query(since, until, [*group, other], bucket=bucket):
                k = tuple(row[g] for g in group)
                acc = summed.setdefault(k, dict.fromkeys(METRICS, 0))
                for m in METRICS:
                    acc[m] += row[m]
            for acc in summed.values():
                acc["cost_usd"] = round(acc["cost_usd"], 10)  # exact in the store: integer 1e-10 USD
            assert {tuple(r[g] for g in group): {m: r[m] for m in METRICS} for r in fast} == summed
    db = sqlite3.connect(store.path)
    db.execute("DELETE FROM models_day")  # the view of everyone by model reads these tables, not the per-key ones
    db.commit()
    db.close()
    assert store.query(T0 - 2 * D, None, ["model"], bucket="day") == []
    assert store.query(T0 - 2 * D, None, ["model"], owner="alice", bucket="day") != []


def test_counts_of_durations_errors_and_dlp_findings(store):
    store.add(
        [
            line(T0, model="a", latency=100.0, ttfb=40.0, gateway=0.5),
            line(T0 + 60, model="a", latency=200.0, ttfb=None, gateway=1.5, dlp={"findings": {"EMAIL_ADDRESS": 2}}),
            line(T0 + 3600, model="b", key="k2", latency=None, error="rate_limited_rpm", status=429),
            line(T0 + 3700, model="b", key="k2", latency=None, error="dlp_blocked", dlp={"findings": {"PHONE": 1}}),
        ]
    )
    rows = store.counts(["latency", "ttfb", "gateway"], T0, group_by=["model"])
    got = sorted((r["model"], r["series"], r["label"], r["n"]) for r in rows)
    assert got == sorted(
        [
            ("a", "latency", histogram.bucket(100.0), 1),
            ("a", "latency", histogram.bucket(200.0), 1),
            ("a", "ttfb", histogram.bucket(40.0), 1),
            ("a", "gateway", histogram.bucket(0.5), 1),
            ("a", "gateway", histogram.bucket(1.5), 1),
        ]
    )
    errors = store.counts(["error"], T0, group_by=["hour"], key_id="k2")
    assert sorted((r["hour"], r["label"], r["n"]) for r in errors) == [
        ("2026-11-02T01:00:00Z", "dlp_blocked", 1),
        ("2026-11-02T01:00:00Z", "rate_limited_rpm", 1),
    ]
    dlp = store.counts(["dlp"], T0, group_by=["day"])
    assert sorted((r["label"], r["n"]) for r in dlp) == [("EMAIL_ADDRESS", 2), ("PHONE", 1)]
    assert store.counts(["dlp"], T0, key_id="k1") == [{"series": "dlp", "label": "EMAIL_ADDRESS", "n": 2}]
    with pytest.raises(ValueError, match="series must be"):
        store.counts(["colour"], T0)


def test_recent_errors_keep_the_last_ones_newest_first_and_filter(store):
    store.add([line(T0 + i, key=f"k{i % 3}", error="unauthorized", status=401, request_id=f"r{i}") for i in range(5)])
    total, rows = store.recent_errors(["unauthorized"], limit=2)
    assert total == 5
    assert [(r["request_id"], r["key_id"], r["status"]) for r in rows] == [("r4", "k1", 401), ("r3", "k0", 401)]
    assert rows[0]["at"] == T0 + 4 and rows[0]["error_type"] == "unauthorized"
    total, rows = store.recent_errors(["unauthorized"], key_id="k1", limit=10, offset=1)
    assert total == 2 and [r["request_id"] for r in rows] == ["r1"]
    assert store.recent_errors(["budget_exceeded"]) == (0, [])
    store.add([line(T0 + 6, error="upstream_error", status=502, request_id="u")])
    assert store.recent_errors(None, limit=1)[0] == 6
    total, rows = store.recent_errors(None, key_id="k1", except_types=["upstream_error"])
    assert total == 2 and [r["request_id"] for r in rows] == ["r4", "r1"]
    assert store.recent_errors([], except_types=["x"]) == (0, [])
    many = [line(T0 + 10 + i * 0.001, error="upstream_error", request_id=f"u{i}") for i in range(RECENT_MAX + 20)]
    store.add(many[:7000])
    store.add(many[7000:])
    total, rows = store.recent_errors(["upstream_error", "unauthorized"], limit=1)
    assert total == RECENT_MAX and rows[0]["request_id"] == f"u{RECENT_MAX + 19}"
    db = sqlite3.connect(store.path)
    assert db.execute("SELECT COUNT(*) FROM recent_errors").fetchone()[0] == RECENT_MAX
    db.close()


def test_last_seen_per_key(store):
    store.add([line(T0 + 50, key="k1"), line(T0 + 10, key="k1"), line(T0 + 20, key="k2"), line(T0, key=None)])
    store.add([line(T0 + 5, key="k2")])  # an older line later does not move it back
    assert store.last_seen() == {"k1": T0 + 50, "k2": T0 + 20}
