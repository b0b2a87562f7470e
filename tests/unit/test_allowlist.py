import hashlib
import os

import pytest

from lmgate.allowlist import AllowListError, AllowListWatcher, parse_allowlist

HEADER = "id,api_key,owner,added\n"


def test_plain_and_hashed_keys_match_the_same_way():
    hashed = hashlib.sha256(b"sk-test-hashed").hexdigest()
    al = parse_allowlist(HEADER + "a,sk-test-plain,team-a,2026-01-01\n" + f"b,sha256:{hashed.upper()},team-b,\n")
    assert al.lookup("sk-test-plain").owner == "team-a"
    assert al.lookup("sk-test-hashed").id == "b"
    assert al.lookup("sk-test-other") is None
    assert len(al) == 2


def test_bom_blank_lines_comments_and_quoted_fields():
    text = "\ufeff" + HEADER + "\n# a comment, with a comma\n" + 'a,"sk-test-1","Team, A",2026\n'
    assert parse_allowlist(text).lookup("sk-test-1").owner == "Team, A"


def test_columns_may_come_in_any_order():
    al = parse_allowlist("owner,added,api_key,id\nteam,2026,sk-test-1,a\n")
    assert al.lookup("sk-test-1").id == "a"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,api_key,owner\na,k,o\n", "allow.csv:1: header lacks column(s) added"),
        (HEADER + "a,k1,o\n", "allow.csv:2: expected 4 fields"),
        (HEADER + "a,k1,o,x\nb,k1,o,x\n", "allow.csv:3: duplicate api_key for id 'b' (same key as line 2)"),
        (HEADER + "a,k1,o,x\na,k2,o,x\n", "allow.csv:3: duplicate id 'a' (first on line 2)"),
        (HEADER + "a,,o,x\n", "allow.csv:2: empty api_key for id 'a'"),
        (HEADER + "a,sha256:abc,o,x\n", "allow.csv:2: api_key sha256: must be followed by 64 hex digits"),
        (HEADER + ",k,o,x\n", "allow.csv:2: empty id"),
        ("id,api_key,owner,added,rmp\n", "allow.csv:1: unknown column(s) rmp"),
        ("", "allow.csv: empty file"),
    ],
)
def test_bad_files_name_the_line(text, message):
    with pytest.raises(AllowListError) as e:
        parse_allowlist(text, "allow.csv")
    assert message in str(e.value)


def test_error_messages_never_hold_the_key():
    with pytest.raises(AllowListError) as e:
        parse_allowlist(HEADER + "a,sk-test-secret-value,o,x\nb,sk-test-secret-value,o,x\n")
    assert "sk-test-secret-value" not in str(e.value)


def _write(path, text):
    path.write_text(text)
    st = os.stat(path)  # make the edit visible even within one mtime tick
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_watcher_reloads_and_keeps_last_good_list(tmp_path, caplog):
    path = tmp_path / "allow.csv"
    _write(path, HEADER + "a,sk-test-1,o,x\n")
    w = AllowListWatcher(path, interval=0.1)
    assert w.current.lookup("sk-test-1")
    _write(path, HEADER + "a,sk-test-1,o,x\nb,sk-test-2,o,x\n")
    assert w.check() is True
    assert w.current.lookup("sk-test-2")
    _write(path, HEADER + "a,sk-test-1,o,x\nbroken row\n")
    assert w.check() is False
    assert w.current.lookup("sk-test-2"), "a broken edit keeps the last good list"
    assert ":3: expected 4 fields" in caplog.text
    _write(path, HEADER + "b,sk-test-2,o,x\n")
    assert w.check() is True
    assert w.current.lookup("sk-test-1") is None


def test_watcher_refuses_a_broken_file_at_start(tmp_path):
    path = tmp_path / "allow.csv"
    path.write_text("id,api_key\n")
    with pytest.raises(AllowListError, match="header lacks column"):
        AllowListWatcher(path, interval=1)
    with pytest.raises(AllowListError, match="cannot read"):
        AllowListWatcher(tmp_path / "missing.csv", interval=1)


# --- key lifecycle columns: expires, disabled, a rotation's previous key

LIFE = "id,api_key,owner,added,expires,disabled,previous_api_key,previous_expires\n"
OLD = hashlib.sha256(b"sk-test-old").hexdigest()


def test_expires_disabled_and_the_previous_key_of_a_rotation():
    al = parse_allowlist(
        LIFE
        + "a,sk-test-a,o,,2027-01-31,,,\n"
        + "b,sk-test-b,o,,,TRUE,,\n"
        + f"c,sk-test-new,o,,2027-06-01T12:00:00Z,,sha256:{OLD},2027-01-16T00:00:00Z\n"
    )
    a, b = al.lookup("sk-test-a"), al.lookup("sk-test-b")
    assert a.expires_at == 1801440000.0 and not a.disabled  # 2027-02-01T00:00:00Z: through the 31st
    assert b.disabled and b.expires_at is None
    new, old = al.lookup("sk-test-new"), al.lookup("sk-test-old")
    assert new.id == old.id == "c" and not new.replaced and old.replaced
    assert old.expires_at == 1800057600.0 and old.limits == new.limits  # the grace's end; the same rules
    assert [e.id for e in al.entries()] == ["a", "b", "c"]  # one entry per id
    assert "previous_api_key" not in new.extra and "previous_expires" not in old.extra  # no hash in extra


def test_a_previous_key_never_outlives_its_row():
    al = parse_allowlist(LIFE + f"c,sk-test-new,o,,2027-01-10,,sha256:{OLD},2027-02-01\n")
    assert al.lookup("sk-test-old").expires_at == al.lookup("sk-test-new").expires_at


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("a,k1,o,,someday,,,", "allow.csv:2: column expires: cannot read 'someday' as an expiry"),
        ("a,k1,o,,,yes,,", "allow.csv:2: column disabled: 'yes' is not true, false or empty"),
        (f"a,k1,o,,,,sha256:{OLD},", "allow.csv:2: previous_api_key and previous_expires go together (id 'a')"),
        ("a,k1,o,,,,,2027-01-01", "previous_api_key and previous_expires go together"),
        ("a,k1,o,,,,sha256:abc,2027-01-01", "allow.csv:2: previous_api_key sha256: must be followed by 64 hex"),
        ("a,k1,o,,,,k1,2027-01-01", "allow.csv:2: duplicate api_key for id 'a' (same key as line 2)"),
        ("a,k1,o,,,,sk-test-old,2027-02-30", "column previous_expires: cannot read"),
    ],
)
def test_bad_lifecycle_cells_name_the_line_and_column(row, message):
    with pytest.raises(AllowListError) as e:
        parse_allowlist(LIFE + row + "\n", "allow.csv")
    assert message in str(e.value)


def test_a_previous_key_may_not_be_another_ids_key():
    with pytest.raises(AllowListError, match=r"allow.csv:3: duplicate api_key for id 'b' \(same key as line 2"):
        parse_allowlist(LIFE + "a,sk-test-old,o,,,,,\n" + f"b,k2,o,,,,sha256:{OLD},2027-01-01\n", "allow.csv")
