"""How the provider will read a request, for the rules that judge what will run.

The gateway forwards the request as sent and judges its path, method and body. Where
upstreams may read one of them otherwise than it is written, the gateway either judges
the upstream's reading or refuses the request (no SDK sends these forms):

- the path: Gemini, Vertex, Azure and Bedrock name the model in it, and upstreams resolve
  dot segments (``/models/a/../b`` runs ``b``), some decode ``%2F`` or ``%2E`` first, some
  take ``\\`` for ``/``: refused. The rest is judged percent-decoded, with empty segments
  merged (a merging upstream runs what is judged; any other answers 404);
- the method: Google's front end runs a GET with ``X-HTTP-Method-Override: POST`` as a POST,
  so such a request is not read-only.

A body repeating a key is refused where it is parsed (``request_json.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote

_DOT_SEGMENTS = frozenset((".", ".."))
_ENCODED_SEPARATOR = re.compile(r"%(?:2[fF]|5[cC])")  # %2F '/', %5C '\'
_EMPTY_SEGMENTS = re.compile(r"/{2,}")
_READ_ONLY_METHODS = frozenset(("GET", "HEAD"))
#: headers and (Google's) query parameter that make a server run another method than the request line's
_METHOD_OVERRIDE_HEADERS = ("x-http-method-override", "x-http-method", "x-method-override")
_METHOD_OVERRIDE_PARAM = "$httpMethod"


class AmbiguousPath(ValueError):
    """A path an upstream may resolve to another one than the gateway judges."""


def judged_path(raw: str, *, slashes_in_names: bool = False) -> str:
    """``raw`` (the path without its query) as the provider reads it, or AmbiguousPath.

    With ``slashes_in_names`` (Bedrock: a model ARN travels in one segment as
    ``arn%3Aaws%3A...%2Fid``) ``%2F`` belongs to the name: the segments are checked
    decoded, dot segments inside a name included, and the path is returned undecoded
    for the provider to split before it decodes.
    """
    if "%" not in raw and "/." not in raw and "\\" not in raw and "//" not in raw:
        return raw  # nearly every request: nothing to resolve
    if "\\" in raw:
        raise AmbiguousPath("has a backslash, which some servers read as '/'")
    merged = _EMPTY_SEGMENTS.sub("/", raw)
    for segment in merged.split("/"):
        decoded = unquote(segment)
        if _ENCODED_SEPARATOR.search(segment) and (not slashes_in_names or "\\" in decoded):
            raise AmbiguousPath("has an encoded '/' or '\\' (%2F, %5C), which some servers read as a separator")
        # ;params are dropped by some servers before resolving ("..;x" is "..")
        if any(part.partition(";")[0] in _DOT_SEGMENTS for part in decoded.split("/")):
            raise AmbiguousPath("has a '.' or '..' segment (or its %2E form), which upstreams resolve")
    return merged if slashes_in_names else unquote(merged)


def read_only(method: str, headers: Mapping[str, str], query: str) -> bool:
    """Whether the upstream will run the request as a GET or HEAD (no model runs then)."""
    if method not in _READ_ONLY_METHODS:
        return False
    if any(headers.get(h) for h in _METHOD_OVERRIDE_HEADERS):
        return False
    return not (query and any(name == _METHOD_OVERRIDE_PARAM for name, _ in parse_qsl(query)))
