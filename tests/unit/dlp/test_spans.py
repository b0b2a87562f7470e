"""The raw-JSON span locator and splice: only the edited ranges change, byte for byte."""

from __future__ import annotations

import json
import random

import orjson
import pytest

from lmgate.dlp.spans import SpanError, locate, redact_strings, splice


def get_path(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def set_path(doc, path, value):
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def raw_cuts(token: bytes) -> dict[int, int]:
    """Oracle, independent of spans.py: code point offset -> raw offset, for every raw position inside
    the token where the value can be cut (not inside an escape, a UTF-8 sequence or a surrogate pair)."""
    cuts = {}
    for r in range(1, len(token)):
        try:
            cuts.setdefault(len(orjson.loads(token[:r] + b'"')), r)
        except orjson.JSONDecodeError:
            continue
    return cuts


def assert_only_changed(raw: bytes, new_values: dict) -> bytes:
    """Replace whole values, then prove: the result parses to the original doc with exactly those strings
    changed, and every byte outside the replaced tokens is the original's."""
    doc = orjson.loads(raw)
    out = redact_strings(raw, {path: [(0, len(get_path(doc, path)), v)] for path, v in new_values.items()})
    for path, value in new_values.items():
        set_path(doc, path, value)
    assert orjson.loads(out) == doc
    spans = sorted(locate(raw, new_values.keys()).items(), key=lambda kv: kv[1])
    pos_raw = pos_out = 0
    for path, (start, end) in spans:
        assert out[pos_out : pos_out + start - pos_raw] == raw[pos_raw:start]
        pos_out += start - pos_raw
        new = orjson.dumps(new_values[path])
        assert out[pos_out : pos_out + len(new)] == new
        pos_out += len(new)
        pos_raw = end
    assert out[pos_out:] == raw[pos_raw:]
    return out


def assert_spliced(raw: bytes, edits: dict) -> bytes:
    """Edit ranges of decoded values, then prove against the oracle: the output is the input with only
    the raw bytes of each range replaced by the escaped new text."""
    out = redact_strings(raw, edits)
    expected_raw = raw
    doc = orjson.loads(raw)
    spans = locate(raw, edits.keys())
    for path, (start, end) in sorted(spans.items(), key=lambda kv: kv[1], reverse=True):
        token = raw[start:end]
        cuts = raw_cuts(token)
        value = get_path(doc, path)
        pieces, pos, new_value, prev = [], 0, [], 0
        for a, b, text in sorted(edits[path]):
            pieces += (token[pos : cuts[a]], orjson.dumps(text)[1:-1])
            new_value += (value[prev:a], text)
            pos, prev = cuts[b], b
        pieces.append(token[pos:])
        new_value.append(value[prev:])
        expected_raw = expected_raw[:start] + b"".join(pieces) + expected_raw[end:]
        set_path(doc, path, "".join(new_value))
    assert out == expected_raw
    assert orjson.loads(out) == doc
    return out


def test_span_covers_the_whole_string_token_with_escapes():
    raw = rb'{"a": "caf\u00e9 \"quoted\" line\nnext \\ end", "b": 1}'
    (span,) = locate(raw, [("a",)]).values()
    assert raw[span[0] : span[1]] == rb'"caf\u00e9 \"quoted\" line\nnext \\ end"'
    assert orjson.loads(raw[span[0] : span[1]]) == 'café "quoted" line\nnext \\ end'


def test_escapes_unicode_and_everything_else_stay_byte_identical():
    raw = (
        b'{\n  "model" : "gpt-4o",\t"temperature":0.5e0,\r\n  "messages":[ '
        b'{"role":"system","content":"Be nice \\u263a"},\n\n '
        b'{"role": "user", "content": "I am \\u00c9milie, mail emilie@example.com '
        b'\\ud83d\\ude00 and \\"quote\\"\\n"} ],'
        b'"metadata": {"note": "emilie@example.com stays: not a prompt field", '
        b'"list": [1, -2.5, true, false, null, "x"]}\n}\n'
    )
    new = {("messages", 1, "content"): 'I am Émilie, mail <EMAIL_ADDRESS> 😀 and "quote"\n'}
    out = assert_only_changed(raw, new)
    assert b"emilie@example.com stays" in out  # untouched: only the targeted string changed
    assert out.count(b"emilie@example.com") == 1


def test_nested_paths_in_several_containers():
    doc = {
        "system": [{"type": "text", "text": "secret one"}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image", "source": {"data": "QUJD"}}]},
            {"role": "user", "content": [{"type": "tool_result", "content": [{"type": "text", "text": "secret two"}]}]},
        ],
    }
    raw = json.dumps(doc, indent=4, ensure_ascii=True).encode()
    assert_only_changed(
        raw,
        {
            ("system", 0, "text"): "<X>",
            ("messages", 1, "content", 0, "content", 0, "text"): "<Y>",
            ("messages", 0, "content", 0, "text"): "",
        },
    )


def test_whitespace_heavy_and_compact_bodies():
    doc = {"contents": [{"role": "user", "parts": [{"text": "one"}, {"text": "two"}]}], "x": {"y": [[], {}, [{}]]}}
    compact = orjson.dumps(doc)
    spaced = json.dumps(doc, indent=8, separators=(" ,  ", " :\n ")).encode().replace(b"\n", b"\r\n\t")
    for raw in (compact, spaced):
        assert_only_changed(raw, {("contents", 0, "parts", 1, "text"): "<EMAIL_ADDRESS> two"})


def test_keys_with_escapes_are_matched_decoded():
    raw = rb'{"mess\u0061ges": [{"content": "hi"}]}'
    assert_only_changed(raw, {("messages", 0, "content"): "bye"})


def test_large_unrelated_values_are_skipped_not_walked():
    doc = {"tools": [{"schema": {"deep": [[["x" * 10, {"k": "v}]["}]]]}}] * 2000, "input": "the prompt"}
    raw = orjson.dumps(doc)
    assert_only_changed(raw, {("input",): "<REDACTED>"})


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (b'{"messages": [{"content": "a", "content": "b"}]}', ("messages", 0, "content")),
        (b'{"input": "a", "input": "b"}', ("input",)),
        (b'{"messages": [{"content": "a"}], "messages": [{"content": "b"}]}', ("messages", 0, "content")),
    ],
)
def test_duplicate_keys_on_the_way_refuse(raw, path):
    with pytest.raises(SpanError, match="duplicate key"):
        locate(raw, [path])


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (b'{"input": 5}', ("input",)),
        (b'{"input": "x"}', ("prompt",)),
        (b'{"input": ["x"]}', ("input", 1)),
        (b'{"input": "x"} trailing', ("input",)),
        (b'{"input": "x"', ("input",)),
    ],
)
def test_missing_or_malformed_targets_refuse(raw, path):
    with pytest.raises(SpanError):
        locate(raw, [path])


def test_error_messages_do_not_quote_the_body():
    raw = b'{"input": "my ssn is 536-90-4399", "input": "x"}'
    with pytest.raises(SpanError) as err:
        locate(raw, [("input",)])
    assert "536" not in str(err.value)


def test_splice_rejects_overlapping_spans():
    with pytest.raises(SpanError):
        splice(b"0123456789", {(1, 5): b"a", (4, 6): b"b"})
    assert splice(b"0123456789", {(6, 8): b"B", (1, 3): b"A"}) == b"0A345B89"


# --- edits inside a string: only the finding's raw bytes change (item 15 of issue 13)

EMAIL = "jane.doe@example.com"


def email_edit(value: str, placeholder: str = "<EMAIL_ADDRESS>") -> tuple[int, int, str]:
    start = value.index(EMAIL)
    return start, start + len(EMAIL), placeholder


@pytest.mark.parametrize(
    "raw_text",
    [
        rb"Gr\u00fc\u00dfe an jane.doe@example.com, siehe https:\/\/example.org\/a",  # escapes before and after
        "Grüße an jane.doe@example.com — 日本語 ok".encode(),  # multi-byte UTF-8 around it
        rb"\ud83d\ude00 jane.doe@example.com \ud83d\ude01",  # surrogate pairs around it
        "😀 jane.doe@example.com 😁".encode(),  # 4-byte UTF-8 around it
        rb"line\none\ttab \"quoted\" \\ back jane.doe@example.com\r\n\"end\"",
        b"jane.doe@example.com",  # the whole value
        rb"jane.doe@example.com\u00e9",  # at the start
        rb"\u00e9jane.doe@example.com",  # at the end
    ],
)
def test_escapes_and_multibyte_text_around_a_finding_stay_as_sent(raw_text):
    raw = b'{"messages": [{"role": "user", "content": "' + raw_text + b'"}], "note": "caf\\u00e9"}'
    value = orjson.loads(raw)["messages"][0]["content"]
    out = assert_spliced(raw, {("messages", 0, "content"): [email_edit(value)]})
    assert out == raw.replace(EMAIL.encode(), b"<EMAIL_ADDRESS>")


@pytest.mark.parametrize(
    "escaped_email",
    [
        rb"jane.doe\u0040example.com",
        rb"jane\u002edoe@example\u002Ecom",
        rb"\u006a\u0061\u006e\u0065.doe@example.com",
        rb"jane.doe@example.co\u006d",
    ],
)
def test_escapes_inside_a_finding_are_replaced_with_it(escaped_email):
    raw = b'{"input": "mail ' + escaped_email + b' \\u00fc now"}'
    value = orjson.loads(raw)["input"]
    assert EMAIL in value
    out = assert_spliced(raw, {("input",): [email_edit(value)]})
    assert out == raw.replace(escaped_email, b"<EMAIL_ADDRESS>")


def test_several_findings_in_one_string_and_in_several_strings():
    raw = (
        b'{"system": "caf\\u00e9 4111 1111 1111 1111 and \\/ 078-05-1120",'
        b' "messages": [{"content": [{"type": "text", "text": "\\ud83d\\ude00x@y.io\\ud83d\\ude00"}]}]}'
    )
    doc = orjson.loads(raw)
    system = doc["system"]
    card, ssn = system.index("4111"), system.index("078")
    text = doc["messages"][0]["content"][0]["text"]
    out = assert_spliced(
        raw,
        {
            ("system",): [(ssn, ssn + 11, "<US_SSN>"), (card, card + 19, "<CREDIT_CARD>")],  # any order
            ("messages", 0, "content", 0, "text"): [(1, len(text) - 1, "<EMAIL_ADDRESS>")],
        },
    )
    assert out == (
        b'{"system": "caf\\u00e9 <CREDIT_CARD> and \\/ <US_SSN>",'
        b' "messages": [{"content": [{"type": "text", "text": "\\ud83d\\ude00<EMAIL_ADDRESS>\\ud83d\\ude00"}]}]}'
    )


def test_adjacent_findings_and_empty_edits():
    raw = b'{"input": "ab\\u00fccd"}'
    assert redact_strings(raw, {("input",): [(0, 2, "<A>"), (2, 3, "<B>"), (3, 3, "<C>")]}) == (
        b'{"input": "<A><B><C>cd"}'
    )
    assert redact_strings(raw, {("input",): [(5, 5, "!")]}) == b'{"input": "ab\\u00fccd!"}'


def test_a_placeholder_is_escaped_as_json():
    raw = b'{"input": "x jane.doe@example.com y"}'
    out = assert_spliced(raw, {("input",): [email_edit(orjson.loads(raw)["input"], 'say "hi" \\ é\n')]})
    assert orjson.loads(out)["input"] == 'x say "hi" \\ é\n y'


@pytest.mark.parametrize("ranges", [[(0, 3, "a"), (2, 4, "b")], [(3, 2, "x")], [(0, 99, "x")], [(-1, 2, "x")]])
def test_overlapping_or_out_of_range_edits_refuse(ranges):
    with pytest.raises(SpanError):
        redact_strings(b'{"input": "abc\\u00e9d"}', {("input",): ranges})


# pieces a raw string is made of: (raw JSON bytes, decoded text)
PIECES = [
    (b"a", "a"),
    (b" ", " "),
    (b"\\u00fc", "ü"),
    ("ü".encode(), "ü"),
    (b"\\/", "/"),
    (b"/", "/"),
    (b"\\n", "\n"),
    (b"\\\\", "\\"),
    (b'\\"', '"'),
    (b"\\ud83d\\ude00", "😀"),
    ("😀".encode(), "😀"),
    ("日".encode(), "日"),
    (b"\\u65e5", "日"),
    (b"\\t", "\t"),
]


def test_random_strings_and_ranges_against_the_oracle():
    rng = random.Random(1315)
    for _ in range(300):
        pieces = [rng.choice(PIECES) for _ in range(rng.randint(0, 30))]
        raw = b'{"k": [1, {"t": "' + b"".join(p for p, _ in pieces) + b'"}], "z": "\\u00e9"}'
        value = "".join(t for _, t in pieces)
        assert orjson.loads(raw)["k"][1]["t"] == value
        cuts = sorted(rng.sample(range(len(value) + 1), k=min(len(value) + 1, 2 * rng.randint(1, 3))))
        pairs = zip(cuts[::2], cuts[1::2], strict=False)  # an odd cut left over is dropped
        ranges = [(a, b, rng.choice(["<X>", "", "ü\\", "\U0001f600"])) for a, b in pairs]
        assert_spliced(raw, {("k", 1, "t"): ranges})
