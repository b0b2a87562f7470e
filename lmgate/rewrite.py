"""What /auth may change in the request before nginx forwards it, and nothing more.

Pass-through is the rule: most requests go upstream byte for byte. A virtual key
(the gateway holds the provider key), a SigV4 re-signature (Bedrock) or a DLP
redaction needs a few headers, the URI or the body replaced. nginx can only set
headers it knows by name, so the replaceable ones are a list rendered into its
config, made from the provider modules (``lmgate.providers.rewritable_headers``:
the headers keys are read from, and those a signature sets); a header of that
list that the rewrite leaves out is REMOVED upstream (so a client's gateway key
never travels on next to the real one).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class UpstreamRewrite:
    #: header name (from ``rewritable_headers()``) -> value; rewritable headers not named here are removed
    headers: dict[str, str] = field(default_factory=dict)
    #: the upstream URI (path + query, after the prefix) when it must change, e.g. ``?key=`` removed
    uri: str | None = None
    #: the whole body to send instead of the client's (DLP redaction)
    body: bytes | None = None

    def __post_init__(self) -> None:
        from lmgate.providers import rewritable_headers  # here: the providers build rewrites themselves

        unknown = set(self.headers) - set(rewritable_headers())
        if unknown:
            raise ValueError(f"nginx cannot rewrite header(s) {sorted(unknown)}: no provider reads a key there")
