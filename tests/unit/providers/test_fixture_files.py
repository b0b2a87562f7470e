"""The recorded fixtures themselves: every file renders to what its format requires, and the placeholder
rules (tests/fixtures/README.md) do what they say."""

from __future__ import annotations

import json

import pytest

from tests.fakes import fixtures
from tests.unit.providers.fixture_table import WORDS, recorded

FILES = sorted(p.relative_to(fixtures.ROOT) for p in fixtures.ROOT.rglob("*.*") if p.suffix in (".json", ".sse"))
KNOBS = [{}, {"cache_read": 7, "cache_write": 3, "thoughts": 5}]


@pytest.mark.parametrize("knobs", KNOBS, ids=["no cache, no thoughts", "cache and thoughts"])
@pytest.mark.parametrize("file", [str(f) for f in FILES])
def test_every_fixture_renders(file, knobs):
    provider, *rest = file.split("/")
    endpoint, name = (rest[0], rest[1]) if len(rest) == 2 else ("", rest[0])
    values = recorded("some-model", **knobs)
    if name == "errors.json":
        for status in json.loads((fixtures.ROOT / file).read_text()):
            answer = fixtures.error(provider, endpoint, int(status), values)
            assert answer.status == int(status) and answer.json()
    elif name == "headers.json":
        assert fixtures.headers(provider, endpoint, values, "application/json")
    elif name.startswith("stream"):
        answer = fixtures.stream(provider, endpoint, values, WORDS, name)  # checks each frame's JSON
        assert len(answer.frames) >= len(WORDS)  # one or more frames per word
        assert "{{" not in answer.body.decode("latin-1")
    else:
        answer = fixtures.response(provider, endpoint, values, name)
        assert answer.json() and "{{" not in answer.body.decode()


@pytest.mark.parametrize(
    ("template", "values", "rendered"),
    [
        ('{"a": "{{x}}", "b": "{{x+y}}"}', {"x": 2, "y": 3}, '{"a": 2, "b": 5}'),
        ('{"m": "{{model}}"}', {"model": 'say "hi"'}, '{"m": "say \\"hi\\""}'),
        ('{"a": "{{x?}}", "b": 1}', {"x": 0}, '{"b": 1}'),
        ('{"b": 1, "a": "{{x?}}", "c": 2}', {"x": 0}, '{"b": 1, "c": 2}'),
        ('{"b": 1,\r\n  "a": "{{x?}}"\r\n}', {"x": 0}, '{"b": 1\r\n}'),
        ('{"a": "{{x?}}", "b": "{{y?}}", "c": 1}', {"x": 0, "y": 0}, '{"c": 1}'),
        ('{"a": "{{x?}}"}', {"x": 4}, '{"a": 4}'),
        ('{"a": "{{x?x+y}}", "b": "{{y?x+y}}"}', {"x": 0, "y": 9}, '{"a": 0, "b": 9}'),
        ('{"a": "{{x?x+y}}", "b": "{{y?x+y}}"}', {"x": 0, "y": 0}, "{}"),
        ('{"text": "not {{x}} here"}', {"x": 1}, '{"text": "not {{x}} here"}'),
    ],
)
def test_placeholders(template, values, rendered):
    assert fixtures.render(template, values) == rendered


def test_a_placeholder_without_its_value_names_it():
    with pytest.raises(KeyError, match=r"\{\{prompt\+output\}\} needs output"):
        fixtures.render('{"t": "{{prompt+output}}"}', {"prompt": 1})


def test_text_frames_repeat_per_word_and_the_last_word_takes_the_last_text_frame():
    frames = fixtures.stream("gemini", "stream_generate_content", recorded("m"), ["a", "b", "c"], "stream.sse").frames
    docs = [json.loads(f.decode().removeprefix("data: ")) for f in frames]
    assert [d["candidates"][0]["content"]["parts"][0]["text"] for d in docs] == ["a", "b", "c"]
    assert [d["candidates"][0].get("finishReason") for d in docs] == [None, None, "STOP"]
    assert [d["usageMetadata"]["candidatesTokenCount"] for d in docs] == [1, 2, 3]
    assert all(f.endswith(b"\r\n\r\n") for f in frames)  # Gemini's SSE frames end in CRLF CRLF
