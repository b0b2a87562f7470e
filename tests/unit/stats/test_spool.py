import os
import re
import time
from pathlib import Path

import orjson
import pytest

from lmgate.errors import ConfigError
from lmgate.handoff import CTX_HEADER
from lmgate.stats import line, spool
from lmgate.stats.build import fact_names
from lmgate.stats.spool import (
    CURSOR,
    FIELDS,
    SLICE_S,
    SUFFIX,
    SpoolReader,
    _text,
    check_workers_reach,
    parse_line,
    prepare_spool_dir,
    slice_of,
)

REPO = Path(__file__).resolve().parents[3]
NOW = 1_700_000_050.5  # in slice 170000005
SLICE = int(NOW) // SLICE_S


def nginx_escape(data: bytes) -> bytes:
    """What nginx's access_log (escape=default) writes for a variable's bytes."""
    out = bytearray()
    for b in data:
        if b in (0x22, 0x5C) or b < 0x20 or b > 0x7E:
            out += b"\\x%02X" % b
        else:
            out.append(b)
    return bytes(out)


def _var(value: str | None) -> bytes:
    # None: a variable nginx does not have (absent header) is logged as "-"; "" is an empty js_var
    return b"-" if value is None else nginx_escape(value.encode())


def spool_line(
    body: bytes = b"",
    *,
    provider: str = "openai",
    request_id: str = "r1",
    ctx: str = "ctx-blob",
    content_type: str | None = "application/json",
    content_encoding: str | None = None,
    msec: float = NOW,
    facts: list[str | None] | None = None,
) -> bytes:
    """One line as ``log_format lmgate_spool`` writes it, newline included."""
    if facts is None:
        # $status|$request_completion|$request_time|$msec|$lmgate_auth_time|$upstream_header_time|
        # $body_bytes_sent|$lmgate_capture_gap|$lmgate_tail|$lmgate_error|4 absent bedrock headers
        facts = ["200", "OK", "0.012", f"{msec:.3f}", "0.001", "0.010", str(len(body)), "", "", ""]
        facts += [None] * 4
    fields = [provider, request_id, ctx, content_type, content_encoding]
    facts_field = b"|".join(_var(f) for f in facts)
    return b"\t".join([spool.VERSION.encode(), *(_var(f) for f in fields), facts_field, nginx_escape(body)]) + b"\n"


def spool_file(directory: Path, tag: str = "0123abcd", slice_number: int = SLICE) -> Path:
    return directory / f"{tag}-{slice_number}{SUFFIX}"


def append(path: Path, *lines: bytes) -> None:
    with open(path, "ab") as f:
        f.write(b"".join(lines))


def ids(batches) -> list[str]:
    return [e.fields["X-Lmgate-Request-Id"] for batch in batches for e in batch]


class SavingReader(SpoolReader):
    """A reader whose lines are on disk as soon as they are handed over: it saves its cursor after each pass."""

    def read(self, now: float | None = None) -> int:
        read = super().read(now)
        cursor = self.cursor()
        if cursor is not None:
            self.save(cursor)
        return read


def reader_for(directory: Path):
    batches: list = []
    return SavingReader(directory, batches.append), batches


def plain_reader_for(directory: Path):
    """A reader whose lines are not on disk until the test saves its cursor."""
    batches: list = []
    return SpoolReader(directory, batches.append), batches


# --- the line format ---------------------------------------------------------------------------


def test_nginx_escape_helper_follows_nginx_rules():
    assert nginx_escape(b'a"b\\c\td\ne\x7f\x80~ \xff') == b"a\\x22b\\x5Cc\\x09d\\x0Ae\\x7F\\x80~ \\xFF"


def test_log_format_in_nginx_conf_is_the_one_the_parser_reads():
    """The parser's field count, version and msec position are a contract with the rendered log_format."""
    conf = (REPO / "nginx" / "nginx.conf.j2").read_text()
    assert re.search(r"log_format lmgate_spool '([^']*)';", conf).group(1) == "{{ spool_format }}"
    fmt = line.log_format()
    parts = fmt.split("\\t")  # nginx turns the two characters \t into a tab
    assert len(parts) == 1 + len(FIELDS) + 1
    assert parts[0] == spool.VERSION
    assert parts[1:6] == [
        "$lmgate_provider",
        "$request_id",
        "$lmgate_ctx",
        "$sent_http_content_type",
        "$sent_http_content_encoding",
    ]
    facts = parts[6].split("|")
    assert facts[3] == "$msec"
    assert len(facts) == len(fact_names())
    assert facts[-4:] == [  # Bedrock's InvokeModel usage headers, from its provider module
        "$upstream_http_x_amzn_bedrock_input_token_count",
        "$upstream_http_x_amzn_bedrock_output_token_count",
        "$upstream_http_x_amzn_bedrock_cache_read_input_token_count",
        "$upstream_http_x_amzn_bedrock_cache_write_input_token_count",
    ]
    assert "$request_uri" not in fmt and "$args" not in fmt, "a query may hold a key: it must not reach the disk"
    assert parts[7].startswith("$lmgate_capture")

    regex = re.search(r'map \$msec \$lmgate_spool_slice \{\s*"([^"]+)" \$s;', conf).group(1)
    assert regex.startswith("~")  # nginx: a case-sensitive regex
    slice_text = re.match(regex[1:].replace("(?<s>", "(?P<s>"), "1700000099.999").group("s")
    assert int(slice_text) == 1_700_000_099 // SLICE_S
    assert slice_of(f"0123abcd-{slice_text}{SUFFIX}") == 1_700_000_099 // SLICE_S


def test_every_byte_value_round_trips_through_the_body():
    body = bytes(range(256)) * 2
    line = spool_line(body)
    assert line.count(b"\t") == len(FIELDS) + 1 and line.count(b"\n") == 1, "no separator leaks out of a field"
    entry = parse_line(line[:-1])
    assert entry is not None
    assert entry.body == body


@pytest.mark.parametrize(
    "body",
    [
        b"\\x41",  # text that looks like an escape: nginx writes \x5Cx41
        b'{"a": "tab\there", "nl": "line\nbreak"}',
        b"\\\\\\",
        b"\\",
        b'ends with a quote"',
        'data: {"content": "héllo 日本"}\n\n'.encode(),
        b"",
    ],
)
def test_body_with_separators_quotes_and_backslashes_round_trips(body):
    line = spool_line(body)
    entry = parse_line(line[:-1])
    assert entry is not None
    assert entry.body == body


def test_literal_backslash_x_text_is_not_decoded_as_an_escape():
    line = spool_line(b"\\x41")
    assert b"\\x5Cx41" in line
    assert parse_line(line[:-1]).body == b"\\x41"  # not b"A"


def test_non_ascii_field_round_trips_as_text():
    content_type = 'text/plain; charset="utf-8"; x=ü日本'
    request_id = "café\\x41"
    entry = parse_line(spool_line(content_type=content_type, request_id=request_id)[:-1])
    assert entry.fields["X-Lmgate-Content-Type"] == content_type
    assert entry.fields["X-Lmgate-Request-Id"] == request_id
    assert _text(nginx_escape("ü日本".encode())) == "ü日本"


def test_fields_are_named_in_log_format_order():
    entry = parse_line(
        spool_line(
            provider="bedrock",
            request_id="req-7",
            ctx="c1",
            content_type="text/event-stream",
            content_encoding="gzip",
        )[:-1]
    )
    assert list(entry.fields) == list(FIELDS)
    assert entry.fields["X-Lmgate-Provider"] == "bedrock"
    assert entry.fields["X-Lmgate-Request-Id"] == "req-7"
    assert entry.fields[CTX_HEADER] == "c1"
    assert entry.fields["X-Lmgate-Content-Type"] == "text/event-stream"
    assert entry.fields["X-Lmgate-Content-Encoding"] == "gzip"
    assert entry.fields["X-Lmgate-Facts"].split("|")[0] == "200"


def test_absent_variable_reads_as_empty_string():
    entry = parse_line(spool_line(content_type=None, content_encoding=None, ctx="")[:-1])
    assert entry.fields["X-Lmgate-Content-Type"] == ""
    assert entry.fields["X-Lmgate-Content-Encoding"] == ""
    assert entry.fields[CTX_HEADER] == ""
    assert _text(b"-") == ""
    assert _text(b"--") == "--", "only a whole '-' means absent"


def test_at_comes_from_msec_in_the_facts():
    entry = parse_line(spool_line(msec=1_234_567_890.456)[:-1])
    assert entry.at == 1_234_567_890.456


def test_facts_without_msec_fall_back_to_now():
    before = time.time()
    entry = parse_line(spool_line(facts=["200", "OK"])[:-1])
    assert before <= entry.at <= time.time()


def _with_parts(change) -> bytes:
    parts = spool_line(b"body")[:-1].split(b"\t")
    return b"\t".join(change(parts))


@pytest.mark.parametrize(
    "line",
    [
        _with_parts(lambda p: p[:-1]),  # a field short
        _with_parts(lambda p: [*p, b"extra"]),  # a field too many
        _with_parts(lambda p: [b"2", *p[1:]]),  # a version this reader does not know
        _with_parts(lambda p: [b"", *p[1:]]),
        b"",
        b"not a spool line",
    ],
)
def test_wrong_field_count_or_version_is_not_a_line(line):
    assert parse_line(line) is None


def test_slice_of_reads_the_number_after_the_last_dash():
    assert slice_of(f"ab-cd-17000000{SUFFIX}") == 17_000_000
    assert slice_of("ab-17000000.log") is None
    assert slice_of(f"ab-x{SUFFIX}") is None


# --- SpoolReader -------------------------------------------------------------------------------


def test_lines_are_handed_over_in_order(tmp_path):
    path = spool_file(tmp_path)
    append(path, *(spool_line(request_id=f"r{i}") for i in range(1, 4)))
    reader, batches = reader_for(tmp_path)
    assert reader.read(now=NOW) == 3
    assert ids(batches) == ["r1", "r2", "r3"]
    assert reader.read(now=NOW) == 0
    assert len(batches) == 1, "no call for a pass that read nothing"
    append(path, spool_line(request_id="r4"))
    assert reader.read(now=NOW) == 1
    assert ids(batches) == ["r1", "r2", "r3", "r4"]
    assert reader.read_lines == 4 and reader.bad_lines == 0


def test_a_line_without_its_newline_waits_for_the_next_pass(tmp_path):
    path = spool_file(tmp_path)
    second = spool_line(b'{"x": "\\"}', request_id="r2")
    cut = second.index(b"\\x") + 2  # nginx stopped in the middle of an escape
    append(path, spool_line(request_id="r1"), second[:cut])
    reader, batches = reader_for(tmp_path)
    reader.read(now=NOW)
    assert ids(batches) == ["r1"]
    reader.read(now=NOW)
    assert ids(batches) == ["r1"]
    append(path, second[cut:-1])  # everything but the newline
    reader.read(now=NOW)
    assert ids(batches) == ["r1"]
    append(path, b"\n")
    assert reader.read(now=NOW) == 1
    assert reader.read(now=NOW) == 0
    assert ids(batches) == ["r1", "r2"]
    assert batches[-1][0].body == b'{"x": "\\"}'
    assert reader.bad_lines == 0


def test_all_files_are_read_in_slice_order(tmp_path):
    # numeric order: slice 999 comes before 1000 although "1000" < "999" as text
    order = [("ffff", 1000), ("aaaa", 1000), ("ffff", 999), ("aaaa", 999)]
    for tag, number in order:  # created in the reverse of the expected order
        append(spool_file(tmp_path, tag, number), spool_line(request_id=f"{tag}-{number}-a"))
        append(spool_file(tmp_path, tag, number), spool_line(request_id=f"{tag}-{number}-b"))
    reader, batches = reader_for(tmp_path)
    assert reader.read(now=1000 * SLICE_S + 50) == 8
    assert ids(batches) == [
        "aaaa-999-a",
        "aaaa-999-b",
        "ffff-999-a",
        "ffff-999-b",
        "aaaa-1000-a",
        "aaaa-1000-b",
        "ffff-1000-a",
        "ffff-1000-b",
    ]


def test_files_without_the_spool_suffix_are_ignored(tmp_path):
    append(tmp_path / f"0123abcd-{SLICE}.log", spool_line(request_id="stray"))
    append(spool_file(tmp_path), spool_line(request_id="r1"))
    reader, batches = reader_for(tmp_path)
    reader.read(now=NOW)
    assert ids(batches) == ["r1"]
    assert (tmp_path / f"0123abcd-{SLICE}.log").exists()


def test_finished_file_is_deleted_once_its_lines_are_handed_over(tmp_path):
    path = spool_file(tmp_path)
    append(path, spool_line(request_id="r1"))
    reader, batches = reader_for(tmp_path)
    reader.read(now=(SLICE + 2) * SLICE_S - 0.001)
    assert path.exists(), "nginx may still append to the previous slice's file"
    append(path, spool_line(request_id="r2"))  # a late line of the slice
    reader.read(now=(SLICE + 2) * SLICE_S)
    assert ids(batches) == ["r1", "r2"], "read to its end before deleted"
    assert path.exists(), "kept until a saved cursor covers its last lines"
    assert reader.read(now=(SLICE + 2) * SLICE_S) == 0
    assert not path.exists()
    assert path.name not in orjson.loads((tmp_path / CURSOR).read_bytes())
    assert reader.read(now=(SLICE + 3) * SLICE_S) == 0
    assert reader.bad_lines == 0


def test_finished_file_never_read_before_is_read_then_deleted_at_the_next_pass(tmp_path):
    old = spool_file(tmp_path, slice_number=SLICE - 5)
    append(old, spool_line(request_id="r1"), spool_line(request_id="r2"))
    reader, batches = reader_for(tmp_path)
    assert reader.read(now=NOW) == 2
    assert reader.read(now=NOW) == 0
    assert ids(batches) == ["r1", "r2"]
    assert not old.exists()


def test_current_and_previous_slice_files_are_kept(tmp_path):
    now = SLICE * SLICE_S + SLICE_S - 0.001  # the last moment of the current slice
    current, previous, older = (spool_file(tmp_path, slice_number=SLICE - k) for k in range(3))
    for path in (current, previous, older):
        append(path, spool_line(request_id=path.name))
    reader, batches = reader_for(tmp_path)
    reader.read(now=now)
    reader.read(now=now)
    assert sorted(ids(batches)) == sorted([current.name, previous.name, older.name])
    assert current.exists() and previous.exists()
    assert not older.exists()


def test_trailing_partial_line_of_finished_file_is_counted_and_file_deleted(tmp_path):
    path = spool_file(tmp_path)
    append(path, spool_line(request_id="r1"), spool_line(request_id="r2")[:30])
    reader, batches = reader_for(tmp_path)
    reader.read(now=NOW)
    assert ids(batches) == ["r1"] and reader.bad_lines == 0
    reader.read(now=(SLICE + 2) * SLICE_S)
    assert ids(batches) == ["r1"]
    assert reader.bad_lines == 1
    assert not path.exists()


def test_backlog_larger_than_one_pass_is_read_over_several_passes(tmp_path, monkeypatch):
    line = spool_line(request_id="r0")
    monkeypatch.setattr(spool, "PASS_BYTES", 2 * len(line) + 10)
    append(spool_file(tmp_path), *(spool_line(request_id=f"r{i}") for i in range(5)))
    reader, batches = reader_for(tmp_path)
    assert [reader.read(now=NOW) for _ in range(4)] == [2, 2, 1, 0]
    assert ids(batches) == [f"r{i}" for i in range(5)]
    assert reader.bad_lines == 0


def test_finished_file_larger_than_one_pass_is_read_fully_before_deleted(tmp_path, monkeypatch):
    """A sidecar that was down finds old slices with more than a pass reads: none of their lines may be lost."""
    line = spool_line(request_id="r0")
    monkeypatch.setattr(spool, "PASS_BYTES", 2 * len(line) + 10)
    path = spool_file(tmp_path, slice_number=SLICE - 5)
    append(path, *(spool_line(request_id=f"r{i}") for i in range(5)))
    reader, batches = reader_for(tmp_path)
    for _ in range(5):
        reader.read(now=NOW)
    assert ids(batches) == [f"r{i}" for i in range(5)]
    assert reader.bad_lines == 0
    assert not path.exists()


def test_line_longer_than_one_pass_is_read_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(spool, "PASS_BYTES", 200)
    append(spool_file(tmp_path), spool_line(b"x" * 1000, request_id="long"), spool_line(request_id="r2"))
    reader, batches = reader_for(tmp_path)
    for _ in range(3):
        reader.read(now=NOW)
    assert ids(batches) == ["long", "r2"]
    assert reader.bad_lines == 0


def test_line_longer_than_any_nginx_writes_is_skipped_and_the_next_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(spool, "PASS_BYTES", 100)
    monkeypatch.setattr(spool, "MAX_LINE", 200)
    append(spool_file(tmp_path), spool_line(b"x" * 1000, request_id="huge"), spool_line(request_id="r2"))
    reader, batches = reader_for(tmp_path)
    for _ in range(10):
        reader.read(now=NOW)
    assert ids(batches) == ["r2"]
    assert reader.bad_lines >= 1


def test_restart_goes_on_from_the_cursor(tmp_path):
    path = spool_file(tmp_path)
    append(path, spool_line(request_id="r1"), spool_line(request_id="r2"))
    first, seen_first = reader_for(tmp_path)
    first.read(now=NOW)
    append(path, spool_line(request_id="r3"))
    partial = spool_line(request_id="r5")
    append(path, spool_line(request_id="r4"), partial[:25])  # nginx mid-write at the last pass
    first.read(now=NOW)
    first.close()
    # no reader runs: nginx finishes its line, writes more, and starts the next slice's file
    append(path, partial[25:], spool_line(request_id="r6"))
    append(spool_file(tmp_path, slice_number=SLICE + 1), spool_line(request_id="r7"))

    second, seen_second = reader_for(tmp_path)
    second.read(now=NOW + SLICE_S)
    assert ids(seen_first) == ["r1", "r2", "r3", "r4"]
    assert ids(seen_second) == ["r5", "r6", "r7"], "no line twice, none lost"
    assert second.bad_lines == 0


def read_r1_then_stop_and_write_r2(tmp_path):
    """A reader that read r1 and stopped; r2 written while no reader ran. The file's path."""
    path = spool_file(tmp_path)
    append(path, spool_line(request_id="r1"))
    first, _ = reader_for(tmp_path)
    first.read(now=NOW)
    first.close()
    append(path, spool_line(request_id="r2"))
    return path


def test_restart_reads_lines_of_a_file_finished_while_down_then_deletes_it(tmp_path):
    path = read_r1_then_stop_and_write_r2(tmp_path)
    second, seen = reader_for(tmp_path)
    second.read(now=NOW + 10 * SLICE_S)
    second.read(now=NOW + 10 * SLICE_S)
    assert ids(seen) == ["r2"]
    assert not path.exists()


def test_corrupt_cursor_skips_what_the_files_hold_but_reads_what_comes_after(tmp_path):
    path = read_r1_then_stop_and_write_r2(tmp_path)
    (tmp_path / CURSOR).write_bytes(b'{"0123abcd-17000000.spool": 1')

    second, seen = reader_for(tmp_path)
    second.read(now=NOW)
    assert ids(seen) == [], "documented: skipped rather than r1 counted twice"
    append(path, spool_line(request_id="r3"))
    append(spool_file(tmp_path, "feed", SLICE), spool_line(request_id="new-file"))
    second.read(now=NOW)
    assert ids(seen) == ["r3", "new-file"]
    assert second.bad_lines == 0


def test_cursor_is_saved_after_a_pass(tmp_path):
    path = spool_file(tmp_path)
    append(path, spool_line(request_id="r1"))
    reader, _ = reader_for(tmp_path)
    reader.read(now=NOW)
    assert orjson.loads((tmp_path / CURSOR).read_bytes()) == {path.name: [path.stat().st_ino, path.stat().st_size]}
    assert not list(tmp_path.glob("*.tmp"))


def test_malformed_line_in_the_middle_is_skipped_and_counted(tmp_path):
    wrong_version = b"2" + spool_line(request_id="v2")[1:]
    append(
        spool_file(tmp_path),
        spool_line(request_id="r1"),
        b"not a spool line\n",
        wrong_version,
        b"\n",
        spool_line(request_id="r2"),
    )
    reader, batches = reader_for(tmp_path)
    assert reader.read(now=NOW) == 2
    assert ids(batches) == ["r1", "r2"]
    assert reader.bad_lines == 3
    assert reader.read_lines == 2


@pytest.mark.parametrize("broken", [b"\\xZZ", b"\\x4", b"ends in a backslash\\"])
def test_line_with_a_broken_escape_is_skipped_not_fatal(tmp_path, broken):
    """The right number of fields but not nginx's escaping (a damaged file): one bad line, not a stuck reader."""
    bad = spool_line(request_id="bad")[:-1] + broken + b"\n"
    append(spool_file(tmp_path), spool_line(request_id="r1"), bad, spool_line(request_id="r2"))
    reader, batches = reader_for(tmp_path)
    reader.read(now=NOW)
    assert ids(batches) == ["r1", "r2"]
    assert reader.bad_lines == 1


def test_cursor_forgets_files_deleted_by_someone_else(tmp_path):
    gone, kept = spool_file(tmp_path, "aaaa"), spool_file(tmp_path, "bbbb")
    append(gone, spool_line(request_id="r1"))
    append(kept, spool_line(request_id="r2"))
    reader, batches = reader_for(tmp_path)
    reader.read(now=NOW)
    assert set(orjson.loads((tmp_path / CURSOR).read_bytes())) == {gone.name, kept.name}
    gone.unlink()
    assert reader.read(now=NOW) == 0
    assert set(orjson.loads((tmp_path / CURSOR).read_bytes())) == {kept.name}
    append(kept, spool_line(request_id="r3"))
    reader.read(now=NOW)
    assert ids(batches) == ["r1", "r2", "r3"]


def test_file_deleted_by_someone_else_is_not_held_open(tmp_path):
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc")
    path = spool_file(tmp_path)
    append(path, spool_line(request_id="r1"))
    reader, _ = reader_for(tmp_path)
    reader.read(now=NOW)
    path.unlink()
    reader.read(now=NOW)
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own fd, closed by now
            continue
        if target.startswith(str(path)):  # "<path> (deleted)"
            held.append(target)
    assert held == [], "its disk space stays in use while the reader holds it open"


def test_file_deleted_and_recreated_under_its_name_is_read_from_its_start(tmp_path):
    """nginx recreates a deleted file of the current slice at its next line: only the new lines are new."""
    path = spool_file(tmp_path)
    append(path, spool_line(request_id="r1"), spool_line(request_id="r2"))
    reader, batches = reader_for(tmp_path)
    reader.read(now=NOW)
    path.unlink()
    reader.read(now=NOW)
    append(path, spool_line(request_id="r3"))
    reader.read(now=NOW)
    assert ids(batches) == ["r1", "r2", "r3"]


def test_file_replaced_between_two_passes_is_read_from_its_start(tmp_path):
    """Deleted and recreated before the reader saw it gone: the new file's lines must not be lost."""
    path = spool_file(tmp_path)
    append(path, spool_line(request_id="r1"))
    reader, batches = reader_for(tmp_path)
    reader.read(now=NOW)
    path.unlink()
    append(path, spool_line(request_id="r2"), spool_line(request_id="r3"))
    reader.read(now=NOW)
    reader.read(now=NOW)
    assert ids(batches) == ["r1", "r2", "r3"]


def test_prepare_spool_dir_mode_for_the_current_user(tmp_path):
    directory = tmp_path / "a" / "spool"
    prepare_spool_dir(directory)
    expected = 0o1733 if os.geteuid() == 0 else 0o700
    assert directory.stat().st_mode & 0o7777 == expected
    os.chmod(directory, 0o755)
    prepare_spool_dir(directory)
    assert directory.stat().st_mode & 0o7777 == expected, "an existing directory's mode is corrected"


def test_prepare_spool_dir_mode_for_the_other_user(tmp_path, monkeypatch):
    other_euid = 1000 if os.geteuid() == 0 else 0
    monkeypatch.setattr(os, "geteuid", lambda: other_euid)
    directory = tmp_path / "spool"
    prepare_spool_dir(directory)
    assert directory.stat().st_mode & 0o7777 == (0o1733 if other_euid == 0 else 0o700)


def test_reader_recreates_a_removed_directory(tmp_path):
    directory = tmp_path / "spool"
    reader, _ = reader_for(directory)
    os.rmdir(directory)
    assert reader.read(now=NOW) == 0
    assert directory.is_dir()


def test_a_spool_nginx_workers_cannot_reach_is_refused_with_the_directory_named(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # a root nginx: its workers run as nobody
    closed = tmp_path / "private"
    directory = closed / "spool"
    prepare_spool_dir(directory)
    os.chmod(closed, 0o700)
    with pytest.raises(ConfigError) as e:
        check_workers_reach(directory)
    assert f"cannot pass through {closed} (mode 700)" in str(e.value)
    assert str(e.value).startswith(f"stats.spool_dir {directory}:")


def test_a_non_root_nginx_needs_no_reachable_parents(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # workers run as the user who started nginx
    directory = tmp_path / "private" / "spool"
    prepare_spool_dir(directory)
    os.chmod(tmp_path / "private", 0o700)
    check_workers_reach(directory)


def test_a_finished_file_stays_until_a_saved_cursor_covers_it(tmp_path):
    """The stats lines of a pass may not be on disk yet: the file is the only copy of its requests."""
    path = spool_file(tmp_path, slice_number=SLICE - 5)
    append(path, spool_line(request_id="r1"))
    reader, batches = plain_reader_for(tmp_path)
    reader.read(now=NOW)
    reader.read(now=NOW)
    assert ids(batches) == ["r1"] and path.exists()
    cursor = reader.cursor()
    assert cursor is not None and reader.cursor() is None  # one cursor per move
    reader.save(cursor)
    reader.read(now=NOW)
    assert not path.exists() and ids(batches) == ["r1"]


def test_a_crash_before_the_cursor_is_saved_reads_the_lines_again(tmp_path):
    path = spool_file(tmp_path)
    append(path, spool_line(request_id="r1"))
    first, _ = plain_reader_for(tmp_path)
    first.read(now=NOW)
    first.save(first.cursor())
    append(path, spool_line(request_id="r2"))
    first.read(now=NOW)  # r2 handed over, its stats line not yet written: the sidecar dies here
    first.close()
    second, seen = plain_reader_for(tmp_path)
    second.read(now=NOW)
    assert ids(seen) == ["r2"], "r2 again (its line was never written), r1 not"


def test_an_older_cursor_saved_late_does_not_move_the_cursor_back(tmp_path):
    path = spool_file(tmp_path)
    reader, _ = plain_reader_for(tmp_path)
    append(path, spool_line(request_id="r1"))
    reader.read(now=NOW)
    older = reader.cursor()
    append(path, spool_line(request_id="r2"))
    reader.read(now=NOW)
    newer = reader.cursor()
    reader.save(newer)
    reader.save(older)
    reader.close()
    again, seen = plain_reader_for(tmp_path)
    again.read(now=NOW)
    assert ids(seen) == []
