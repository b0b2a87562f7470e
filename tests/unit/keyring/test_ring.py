"""Key lifecycle on a real file: create, update, rotate with grace, revoke; atomic, audited, never a key in sight."""

from __future__ import annotations

import hashlib
import os
import threading

import orjson
import pytest

from lmgate.allowlist import parse_allowlist
from lmgate.errors import KeyExpired
from lmgate.key_state import check_usable
from lmgate.keyring import AuditLog, FieldError, KeyRing
from lmgate.keyring.files import exclusive
from lmgate.keyring.ring import KEY_PREFIX, Busy, DuplicateId, FileRejected, KeyNotFound, KeyRingError, WriteFailed

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
HEADER = "# managed by hand and by lmgate keys\nid,api_key,owner,added,client_secret\n"
OLD_KEY = "sk-test-legacy-0123456789"
SIGV4 = "AKIAGATEWAYISSUED001,team,2026-01-01,env:AWS_SECRET\n"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(tmp_path):
    path = tmp_path / "allowlist.csv"
    path.write_text(HEADER + f"legacy,{OLD_KEY},team,2026-01-01,\n\n# the AWS pair\naws,{SIGV4}")
    clock = Clock()
    return KeyRing(path, AuditLog(tmp_path / "audit.jsonl"), clock=clock), path, clock


def audit_lines(ring: KeyRing) -> list[dict]:
    return [orjson.loads(line) for line in ring.audit.path.read_bytes().splitlines()]


def works(path, key: str, now: float) -> bool:
    entry = parse_allowlist(path.read_text()).lookup(key)
    if entry is None:
        return False
    try:
        check_usable(entry, key, now)
    except KeyExpired:
        return False
    return True


def test_create_stores_only_the_hash_and_keeps_the_rest_of_the_file(setup):
    ring, path, _ = setup
    before = path.read_text()
    view, key = ring.create("cli:alice", "ci-bot", {"owner": "platform", "rpm": "60", "models": "gpt-4o*"})
    assert key.startswith(KEY_PREFIX) and len(key) == len(KEY_PREFIX) + 43  # 32 bytes, base64url
    text = path.read_text()
    assert key not in text and f"sha256:{hashlib.sha256(key.encode()).hexdigest()}" in text
    # the comment, the blank line and every row's own text stay; the new columns come last
    assert text.startswith(
        HEADER.replace("client_secret\n", "client_secret,rpm,models\n")
        + f"legacy,{OLD_KEY},team,2026-01-01,,,\n\n# the AWS pair\naws,{SIGV4.rstrip()},,\n"
    )
    assert before.splitlines()[0] == text.splitlines()[0]
    assert view == ring.show("ci-bot") and view["rpm"] == 60 and view["models"] == ["gpt-4o*"]
    assert view["added"] == "2027-01-15" and view["expires"] is None and not view["disabled"]
    assert works(path, key, NOW)
    (line,) = audit_lines(ring)
    assert line["actor"] == "cli:alice" and line["action"] == "create" and line["id"] == "ci-bot"
    assert line["changes"]["rpm"] == {"old": None, "new": "60"} and "api_key" not in line["changes"]
    assert line["ts"].startswith("2027-01-15T08:00:00")


def test_refusals_write_nothing(setup):
    ring, path, _ = setup
    ring.create("cli:a", "one", {"owner": "o"})
    before, audit_before = path.read_bytes(), ring.audit.path.read_bytes()
    with pytest.raises(DuplicateId):
        ring.create("cli:a", "one", {"owner": "o"})
    with pytest.raises(FieldError, match="owner: required"):
        ring.create("cli:a", "two", {})
    with pytest.raises(FieldError) as e:
        ring.update("cli:a", "one", {"budget_period": "day"})
    assert e.value.field == "budget_period"
    with pytest.raises(KeyNotFound):
        ring.update("cli:a", "nobody", {"rpm": 5})
    with pytest.raises(KeyNotFound):
        ring.revoke("cli:a", "nobody")
    with pytest.raises(KeyRingError, match="SigV4"):
        ring.rotate("cli:a", "aws")
    with pytest.raises(FieldError):
        ring.rotate("cli:a", "one", grace=-1)
    assert path.read_bytes() == before and ring.audit.path.read_bytes() == audit_before
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_a_file_the_gateway_would_reject_is_never_written(setup):
    ring, path, _ = setup
    path.write_text(path.read_text() + "broken,row\n")  # a hand edit gone wrong
    before = path.read_bytes()
    with pytest.raises(FileRejected, match=r"allowlist.csv:7: expected 5 fields"):
        ring.create("cli:a", "new", {"owner": "o"})
    with pytest.raises(FileRejected):
        ring.list()
    assert path.read_bytes() == before and not ring.audit.path.exists()


def test_a_failed_audit_write_changes_nothing(setup, tmp_path):
    ring, path, _ = setup
    ring.audit = AuditLog(tmp_path)  # a directory: cannot be appended to
    before = path.read_bytes()
    with pytest.raises(WriteFailed, match="nothing changed: cannot write the audit log"):
        ring.create("cli:a", "new", {"owner": "o"})
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_update_changes_and_clears_fields_and_audits_old_and_new(setup):
    ring, _path, _ = setup
    ring.create("cli:a", "k", {"owner": "o", "rpm": 10, "budget_usd": 5})
    view = ring.update("admin:0123abcd", "k", {"rpm": None, "tpm": 1000, "disabled": True, "budget_period": "day"})
    assert view["rpm"] is None and view["tpm"] == 1000 and view["disabled"] and view["budget_period"] == "day"
    assert ring.update("admin:0123abcd", "k", {"tpm": 1000}) == view  # no change: nothing written
    lines = audit_lines(ring)
    assert len(lines) == 2
    assert lines[1]["actor"] == "admin:0123abcd" and lines[1]["action"] == "update"
    assert lines[1]["changes"] == {
        "rpm": {"old": "10", "new": None},
        "tpm": {"old": None, "new": "1000"},
        "disabled": {"old": None, "new": "true"},
        "budget_period": {"old": None, "new": "day"},
    }


def test_rotation_keeps_the_old_key_for_the_grace_then_it_stops_by_itself(setup):
    ring, path, clock = setup
    view, new = ring.rotate("cli:a", "legacy", grace=3600)
    assert view["previous_key_expires"] == "2027-01-15T09:00:00Z"
    assert OLD_KEY not in path.read_text()  # the plain key becomes a hash on rotation
    assert works(path, OLD_KEY, NOW + 3599) and works(path, new, NOW + 3599)
    assert not works(path, OLD_KEY, NOW + 3600) and works(path, new, NOW + 3600)  # no rewrite needed
    entry = parse_allowlist(path.read_text()).lookup(OLD_KEY)
    with pytest.raises(KeyExpired, match="replaced by a new key; its grace period ended at 2027-01-15T09:00:00Z"):
        check_usable(entry, OLD_KEY, NOW + 3600)
    assert [e.id for e in parse_allowlist(path.read_text()).entries()] == ["legacy", "aws"]
    clock.now = NOW + 7200
    assert ring.list()[0]["previous_key_expires"] is None
    ring.create("cli:b", "later", {"owner": "o"})  # the next write clears the ended grace
    row = next(line for line in path.read_text().splitlines() if line.startswith("legacy,"))
    assert row.endswith(",,")  # previous_api_key and previous_expires emptied
    actions = [(line["action"], line["id"], line["actor"]) for line in audit_lines(ring)]
    assert actions == [("rotate", "legacy", "cli:a"), ("grace_ended", "legacy", "cli:b"), ("create", "later", "cli:b")]


def test_rotating_without_grace_and_again_during_a_grace(setup):
    ring, path, _ = setup
    _, first = ring.rotate("cli:a", "legacy", grace=0)
    assert not works(path, OLD_KEY, NOW) and works(path, first, NOW)
    _, second = ring.rotate("cli:a", "legacy", grace=600)
    _, third = ring.rotate("cli:a", "legacy", grace=600)  # two keys at most: the oldest stops now
    assert [works(path, k, NOW) for k in (first, second, third)] == [False, True, True]


def test_revoke_removes_the_row_and_the_rest_stays(setup):
    ring, path, _ = setup
    view = ring.revoke("cli:a", "legacy")
    assert view["id"] == "legacy"
    assert path.read_text() == HEADER + f"\n# the AWS pair\naws,{SIGV4}"
    assert audit_lines(ring)[0]["changes"]["owner"] == {"old": "team", "new": None}


def test_no_key_or_hash_in_the_views_or_the_audit_log(setup):
    ring, _path, _ = setup
    _, key = ring.create("cli:a", "k", {"owner": "o"})
    _, rotated = ring.rotate("cli:a", "k", grace=60)
    shown = orjson.dumps(ring.list()) + ring.audit.path.read_bytes()
    for secret in (key, rotated, OLD_KEY):
        assert secret.encode() not in shown
        assert hashlib.sha256(secret.encode()).hexdigest().encode() not in shown
    assert b"AWS_SECRET" not in shown  # client_secret's reference is a secret column too


def test_concurrent_edits_from_threads_all_land(setup):
    ring, path, _ = setup
    errors = []

    def create(i: int) -> None:
        try:
            KeyRing(path, ring.audit).create("cli:t", f"t{i}", {"owner": "o", "rpm": i + 1})
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    views = {v["id"]: v for v in ring.list()}
    assert all(views[f"t{i}"]["rpm"] == i + 1 for i in range(20))
    assert sorted(line["id"] for line in audit_lines(ring)) == sorted(f"t{i}" for i in range(20))


def test_a_held_lock_makes_an_edit_wait_then_give_up(setup):
    ring, path, _ = setup
    ring.lock_timeout = 0.2
    with exclusive(path), pytest.raises(Busy, match="another edit held the lock"):
        ring.create("cli:a", "k", {"owner": "o"})


def test_the_file_keeps_its_permissions(setup):
    ring, path, _ = setup
    os.chmod(path, 0o640)
    ring.create("cli:a", "k", {"owner": "o"})
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_the_first_key_makes_the_file_and_a_missing_directory_is_an_error(tmp_path):
    ring = KeyRing(tmp_path / "allowlist.csv", AuditLog(tmp_path / "audit.jsonl"))
    with pytest.raises(FileRejected, match="no such file"):
        ring.list()
    _, key = ring.create("cli:a", "first", {"owner": "o"})
    assert (tmp_path / "allowlist.csv").read_text().startswith("id,api_key,owner,added\nfirst,sha256:")
    assert parse_allowlist((tmp_path / "allowlist.csv").read_text()).lookup(key).id == "first"
    nowhere = KeyRing(tmp_path / "no" / "allowlist.csv", AuditLog(tmp_path / "audit.jsonl"))
    with pytest.raises(WriteFailed, match="nothing changed"):
        nowhere.create("cli:a", "k", {"owner": "o"})
