"""How a forwarded request authenticates upstream: the client's own key (pass-through), a
virtual key the gateway holds (``upstream_key`` column) in the provider's ``key_header``, or a
signature by a provider with the ``SignsUpstream`` capability (Bedrock's SigV4).

Only the rewrite path (lmgate/rewrite.py) can change headers, and it REMOVES every
rewritable header it does not set; so a rewrite for another reason (a redacted
body) carries the client's own key headers along.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

from lmgate.allowlist import KeyEntry
from lmgate.config import Config, ProviderConfig
from lmgate.credentials import SecretError, SecretResolver, parse_ref
from lmgate.errors import Unavailable
from lmgate.providers import get as get_provider
from lmgate.providers import rewritable_headers
from lmgate.providers.base import SignsUpstream, UpstreamSigner
from lmgate.rewrite import UpstreamRewrite

log = logging.getLogger("lmgate.upstream")

SECRET_UNAVAILABLE = "lmgate: the gateway cannot read its provider credential for this key; ask its operator"


class UpstreamAuth:
    def __init__(self, config: Config, secrets: SecretResolver | None = None) -> None:
        self.secrets = secrets or SecretResolver()
        # per entry of a provider that signs: its signer, with the credentials its settings name
        self._signers: dict[str, UpstreamSigner] = {}
        for name, p in config.providers.items():
            api = get_provider(p.kind)
            if isinstance(api, SignsUpstream):
                self._signers[name] = api.upstream_signer(p.settings, self.secrets)

    def client_secret(self, entry: KeyEntry) -> str:
        """The SigV4 secret the gateway issued with this row's access key id."""
        return self._resolve(entry.extra["client_secret"])

    async def rewrite(
        self, name: str, provider: ProviderConfig, entry: KeyEntry, upstream_uri: str, request: RequestView
    ) -> UpstreamRewrite | None:
        """The rewrite nginx must apply, or None for a pure pass-through."""
        signer = self._signers.get(name)
        if signer is not None:
            try:
                return await signer.sign(entry.owner, request.method, provider.upstream + upstream_uri, request.body)
            except (SecretError, ValueError) as e:
                log.error("%s signing credentials for owner %r: %s", name, entry.owner, e)
                raise Unavailable(SECRET_UNAVAILABLE) from None
        ref = entry.extra.get("upstream_key")
        if ref is None:
            return None
        rewrite = UpstreamRewrite(headers=get_provider(provider.kind).key_headers(self._resolve(ref)))
        path, sep, query = upstream_uri.partition("?")
        if sep and any(name == "key" for name, _ in parse_qsl(query, keep_blank_values=True)):
            # the gateway key travelled as ?key= (Gemini): it must not reach the provider
            kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "key"]
            rewrite.uri = path + ("?" + urlencode(kept) if kept else "")
        return rewrite

    def _resolve(self, ref_text: str) -> str:
        ref = parse_ref(ref_text)
        try:
            return self.secrets.resolve(ref)
        except SecretError as e:
            log.error("cannot resolve %s: %s", ref_text, e)  # names the reference, never a value
            raise Unavailable(SECRET_UNAVAILABLE) from None


class RequestView:
    """What the rewrite needs of the client's request: method, body, headers."""

    __slots__ = ("body", "headers", "method")

    def __init__(self, method: str, body: bytes, headers: Mapping[str, str]) -> None:
        self.method, self.body, self.headers = method, body, headers


def with_client_keys(rewrite: UpstreamRewrite, headers: Mapping[str, str]) -> UpstreamRewrite:
    """A pass-through request that needs a rewrite anyway keeps the client's own key headers."""
    for name in rewritable_headers():
        value = headers.get(name)
        if value is not None and name not in rewrite.headers:
            rewrite.headers[name] = value
    return rewrite
