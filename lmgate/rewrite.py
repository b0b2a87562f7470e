"""What /auth may change in the request before nginx forwards it, and nothing more.

Pass-through is the rule: most requests go upstream byte for byte. A virtual key
(the gateway holds the provider key), a SigV4 re-signature (Bedrock) or a DLP
redaction needs a few headers, the URI or the body replaced. nginx can only set
headers it knows by name, so the replaceable ones are a fixed list; a header of
that list that the rewrite leaves out is REMOVED upstream (so a client's gateway
key never travels on next to the real one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: lower-case header names nginx replaces when a rewrite is present (one js_var each)
REWRITABLE_HEADERS: tuple[str, ...] = (
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
)


@dataclass(slots=True)
class UpstreamRewrite:
    #: header name (from REWRITABLE_HEADERS) -> value; rewritable headers not named here are removed
    headers: dict[str, str] = field(default_factory=dict)
    #: the upstream URI (path + query, after the prefix) when it must change, e.g. ``?key=`` removed
    uri: str | None = None
    #: the whole body to send instead of the client's (DLP redaction)
    body: bytes | None = None

    def __post_init__(self) -> None:
        unknown = set(self.headers) - set(REWRITABLE_HEADERS)
        if unknown:
            raise ValueError(f"nginx cannot rewrite header(s) {sorted(unknown)}; add them to REWRITABLE_HEADERS")
