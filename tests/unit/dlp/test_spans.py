"""The raw-JSON span locator and splice: only the targeted strings change, byte for byte."""

from __future__ import annotations

import json

import orjson
import pytest

from lmgate.dlp.spans import SpanError, locate, replace_strings, splice


def set_path(doc, path, value):
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def assert_only_changed(raw: bytes, new_values: dict) -> bytes:
    """Replace, then prove: the result parses to the original doc with exactly those strings changed,
    and every byte outside the replaced spans is the original's."""
    out = replace_strings(raw, new_values)
    expected = orjson.loads(raw)
    for path, value in new_values.items():
        set_path(expected, path, value)
    assert orjson.loads(out) == expected
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
