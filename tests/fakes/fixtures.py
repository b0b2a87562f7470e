"""Recorded provider answers (tests/fixtures/, see its README) rendered for one request.

A fixture is a provider's answer as its API sends it, with the numbers and text that
depend on the request written as placeholders: a JSON string ``"{{name}}"`` (or a sum,
``"{{prompt+output}}"``) becomes that value; ``"{{name?}}"`` drops its key when the
value is 0 (APIs that omit zero counts), ``"{{name?other+more}}"`` when that sum is 0.
Per frame of a stream, ``{{frame}}`` is its index and ``{{pad}}`` a padding of varying
length (OpenAI's ``obfuscation``, Bedrock's ``p``). In a stream, the frames that hold ``{{word}}``
are sent once per word of the answer: the first such frame for every word but the
last, the last such frame for the last word. The fakes (upstream.py, bedrock.py) and
the unit tests of each provider's usage parsing render the same files, so what the
fakes send and what the table tests read cannot drift apart.
"""

from __future__ import annotations

import base64
import json
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tests.fakes import eventstream

ROOT = Path(__file__).resolve().parents[1] / "fixtures"
Values = Mapping[str, int | str]

_PLACEHOLDER = re.compile(r'"\{\{(?P<expr>[a-z_]+(?:\+[a-z_]+)*)\}\}"')
_OPTIONAL = re.compile(
    r'(?P<lead>,\s*)?"[^"\\]+"\s*:\s*"\{\{(?P<expr>[a-z_]+(?:\+[a-z_]+)*)\?(?P<gate>[a-z_]+(?:\+[a-z_]+)*)?\}\}"(?P<trail>\s*,\s*)?'
)
# what ``{{pad}}`` draws from: the length-masking padding some APIs add to each streamed event
# (OpenAI's ``obfuscation``, Bedrock's ``p``), a different length per frame as theirs
_PADDING = string.ascii_letters + string.digits
_SSE_FRAME = re.compile(rb".*?(?:\r\n\r\n|\n\n)|.+\Z", re.S)  # an event ends at a blank line


@dataclass(slots=True)
class Answer:
    """What the fake sends: a status, headers and the body in the frames it is written in."""

    status: int
    headers: dict[str, str]
    frames: list[bytes] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return b"".join(self.frames)

    def json(self) -> dict:
        return json.loads(self.body)


def path(provider: str, endpoint: str, name: str) -> Path:
    """The endpoint's file, or the provider's when all of its endpoints share it (errors, headers)."""
    own = ROOT / provider / endpoint / name
    return own if own.exists() or not endpoint else ROOT / provider / name


def value(expr: str, values: Values) -> int | str:
    names = expr.split("+")
    missing = [n for n in names if n not in values]
    if missing:
        raise KeyError(f"fixture placeholder {{{{{expr}}}}} needs {', '.join(missing)}")
    if len(names) == 1:
        return values[names[0]]
    return sum(int(values[n]) for n in names)


def render(text: str, values: Values) -> str:
    """Fill a fixture's placeholders (see the module docstring)."""

    def optional(m: re.Match) -> str:
        if value(m["gate"] or m["expr"], values):
            placeholder = f'"{{{{{m["expr"]}?{m["gate"] or ""}}}}}"'
            return m[0].replace(placeholder, json.dumps(value(m["expr"], values)))
        return m["trail"] if m["lead"] and m["trail"] else ""

    text = _OPTIONAL.sub(optional, text)
    return _PLACEHOLDER.sub(lambda m: json.dumps(value(m["expr"], values)), text)


@cache
def _text(file: Path) -> str:
    return file.read_bytes().decode()  # bytes as they are: keep CRLF where the API sends it


def response(provider: str, endpoint: str, values: Values, name: str = "response.json") -> Answer:
    """A JSON answer, as one frame, with the provider's (and the endpoint's) response headers."""
    body = render(_text(path(provider, endpoint, name)), values).encode()
    json.loads(body)  # a fixture that renders to broken JSON fails here, not in the client
    return Answer(200, headers(provider, endpoint, values, "application/json"), [body])


def headers(provider: str, endpoint: str, values: Values, content_type: str) -> dict[str, str]:
    out = {"Content-Type": content_type}
    files = [ROOT / provider / "headers.json", ROOT / provider / endpoint / "headers.json"]
    for file in dict.fromkeys(files):  # the provider's first, the endpoint's over them
        if file.exists():
            out.update({k: str(v) for k, v in json.loads(render(_text(file), values)).items()})
    return out


def stream(provider: str, endpoint: str, values: Values, words: Sequence[str], name: str) -> Answer:
    """A streamed answer, one frame per chunk the API writes: SSE (``*.sse``), a JSON array
    (``*.json``) or an AWS event stream described as JSON (``*.events.json``)."""
    text = _text(path(provider, endpoint, name))
    if name.endswith(".events.json"):
        templates = [json.dumps(m) for m in json.loads(text)]
        frames = [_eventstream_message(render(t, v)) for t, v in _per_word(templates, values, words)]
        content_type = "application/vnd.amazon.eventstream"
    elif name.endswith(".json"):  # the API writes "[" with the first item, the separator with each next one
        opening, items, separator, closing = _array_parts(text)
        rendered = [render(t, v) for t, v in _per_word(items, values, words)]
        frames = [(opening if i == 0 else separator).encode() + r.encode() for i, r in enumerate(rendered)]
        frames.append(closing.encode())
        json.loads(b"".join(frames))
        content_type = "application/json; charset=UTF-8"
    else:
        raw = [m.decode() for m in _SSE_FRAME.findall(text.encode())]
        frames = [render(t, v).encode() for t, v in _per_word(raw, values, words)]
        for frame in frames:
            for line in frame.splitlines():
                if line.startswith(b"data:") and line[5:].strip() != b"[DONE]":
                    json.loads(line[5:])
        content_type = "text/event-stream; charset=utf-8"
    return Answer(200, headers(provider, endpoint, values, content_type), frames)


def error(provider: str, endpoint: str, status: int, values: Values) -> Answer:
    """The API's error answer for ``status`` (``errors.json``; its "500" entry stands in for a
    status it has not recorded)."""
    recorded = json.loads(_text(path(provider, endpoint, "errors.json")))
    entry = recorded.get(str(status), recorded["500"])
    body = json.loads(render(json.dumps(entry["body"]), {"status": status, **values}))
    out = headers(provider, "", values, "application/json")  # the provider's own (request ids), not an endpoint's
    out.update({k: str(v) for k, v in entry.get("headers", {}).items()})
    return Answer(status, out, [json.dumps(body, separators=(",", ":")).encode()])


def _per_word(templates: list[str], values: Values, words: Sequence[str]) -> list[tuple[str, Values]]:
    """Each frame template with its values; the text frames once per word (see the module docstring)."""
    text_frames = [i for i, t in enumerate(templates) if '"{{word}}"' in t]
    out: list[tuple[str, Values]] = []
    for i, template in enumerate(templates):
        if text_frames and i == text_frames[0]:
            for n, word in enumerate(words):
                t = templates[text_frames[-1]] if n == len(words) - 1 else template
                out.append((t, {**values, "word": word, "sent": n + 1}))
        elif i not in text_frames:
            out.append((template, values))
    return [
        (t, {**v, "frame": n, "pad": _PADDING[: 1 + (n * 7) % (len(_PADDING) - 1)]}) for n, (t, v) in enumerate(out)
    ]


def _array_parts(text: str) -> tuple[str, list[str], str, str]:
    """A streamed JSON array's opening, items, the separator between items and its closing, as written."""
    decoder = json.JSONDecoder()
    items, gaps, pos = [], [], text.index("[") + 1
    opening = text[:pos]
    while True:
        start = pos
        while text[pos] in " \t\r\n,":
            pos += 1
        if text[pos] == "]":
            return opening, items, (gaps[1] if len(gaps) > 1 else ","), text[start:]
        gaps.append(text[start:pos])
        _, end = decoder.raw_decode(text, pos)
        items.append(text[pos:end])
        pos = end


def _eventstream_message(rendered: str) -> bytes:
    """One event-stream message from its JSON description: ``headers`` as sent, ``payload`` as
    JSON, in which ``{"$base64": doc}`` stands for base64 of the compact JSON of ``doc``."""
    message = json.loads(rendered)

    def encode(node: object) -> object:
        if isinstance(node, dict):
            if set(node) == {"$base64"}:
                return base64.b64encode(json.dumps(node["$base64"], separators=(",", ":")).encode()).decode()
            return {k: encode(v) for k, v in node.items()}
        if isinstance(node, list):
            return [encode(v) for v in node]
        return node

    payload = json.dumps(encode(message["payload"]), separators=(",", ":")).encode()
    return eventstream.encode_message(message["headers"], payload)
