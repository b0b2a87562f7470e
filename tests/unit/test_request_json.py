"""Request bodies as the gateway judges them: a repeated key anywhere is ambiguous, not JSON is None."""

from __future__ import annotations

import orjson
import pytest

from lmgate.request_json import AmbiguousJson, parse_object


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "gpt-4o-mini", "messages": [], "model": "gpt-5-pro"}',
        b'{"messages": [{"content": "a"}], "messages": [{"content": "b"}]}',
        b'{"messages": [{"role": "user", "content": "a", "content": "b"}]}',
        b'{"tools": [{"function": {"parameters": {"properties": {"x": {}, "x": {}}}}}]}',
        rb'{"mod\u0065l": "a", "model": "b"}',  # the same key once decoded
        b'{"a": [[[{"deep": 1, "deep": 2}]]]}',
    ],
)
def test_a_repeated_key_at_any_depth_is_ambiguous(body):
    with pytest.raises(AmbiguousJson, match="duplicate key"):
        parse_object(body)


def test_the_message_names_the_key_and_stays_short():
    with pytest.raises(AmbiguousJson) as err:
        parse_object(b'{"stream": false, "stream": true}')
    assert '"stream"' in str(err.value)
    long_key = "k" * 10_000
    with pytest.raises(AmbiguousJson) as err:
        parse_object(orjson.dumps({long_key: 1})[:-1] + b"," + orjson.dumps({long_key: 2})[1:])
    assert len(str(err.value)) <= 200


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"[1, 2]",
        b'"just a string"',
        b"not json",
        b'{"a": 1',
        b'{"a": 1} trailing',
        b'{"a": NaN}',
        b'\xef\xbb\xbf{"a": 1}',  # a byte-order mark
        rb'{"a": "\ud800"}',  # a lone surrogate
        b'{"a": "\xff"}',  # not UTF-8
        b'{"a":' * 300 + b"1" + b"}" * 300,  # deeper than the parser goes
    ],
)
def test_what_is_not_one_json_object_is_none(body):
    assert parse_object(body) is None


def test_a_plain_body_parses_as_orjson_does():
    doc = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": 'Grüße \u263a \U0001f600 "q" \\ /'}],
        "temperature": 0.5,
        "n": 1,
        "stop": None,
        "stream": True,
        "nested": {"a": [1, -2.5e-3, {"b": {}}], "c": []},
    }
    assert parse_object(b"\n " + orjson.dumps(doc, option=orjson.OPT_INDENT_2)) == doc
    assert parse_object(rb'{"a": "caf\u00e9 \/ \ud83d\ude00"}') == {"a": "café / 😀"}
