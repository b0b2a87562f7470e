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
