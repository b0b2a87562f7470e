"""Which strings of a request get scanned: the provider's prompt fields, minus encoded blobs."""

from __future__ import annotations

import re

from lmgate.providers import get
from lmgate.providers.base import JsonPath

# a data: URL, or one unbroken run of base64 (images, audio, files pasted as text parts)
_DATA_URL = re.compile(r"data:[\w.+-]+/[\w.+-]+(?:;[\w.+-]+=[\w.+-]+)*;base64,", re.ASCII)
_BASE64_BLOB = re.compile(r"[A-Za-z0-9+/_-]{256,}={0,2}", re.ASCII)


def looks_like_blob(text: str) -> bool:
    """A string that is encoded data, not words: nothing for a text recognizer to read."""
    stripped = text.strip()
    return bool(_DATA_URL.match(stripped) or _BASE64_BLOB.fullmatch(stripped))


def prompt_texts(provider_kind: str, doc: dict) -> list[tuple[JsonPath, str]]:
    """The strings the model will read, with their paths; blank strings and blobs left out."""
    return [
        (path, text)
        for path, text in get(provider_kind).prompt_fields(doc)
        if text.strip() and not looks_like_blob(text)
    ]
