"""How a forwarded request authenticates upstream: the client's own key (pass-through), a
virtual key the gateway holds (``upstream_key`` column), or a SigV4 signature (Bedrock).

Only the rewrite path (lmgate/rewrite.py) can change headers, and it REMOVES every
rewritable header it does not set; so a rewrite for another reason (a redacted
body) carries the client's own key headers along.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

from lmgate.allowlist import KeyEntry
from lmgate.config import Config, ProviderConfig
from lmgate.credentials import AwsCredentialSource, SecretError, SecretResolver, header_for_provider, parse_ref
from lmgate.errors import Unavailable
from lmgate.rewrite import REWRITABLE_HEADERS, UpstreamRewrite
from lmgate.sigv4 import sign_upstream

log = logging.getLogger("lmgate.upstream")

SECRET_UNAVAILABLE = "lmgate: the gateway cannot read its provider credential for this key; ask its operator"


class UpstreamAuth:
    def __init__(self, config: Config, secrets: SecretResolver | None = None) -> None:
        self.secrets = secrets or SecretResolver()
        # per Bedrock entry: the default signing credentials and the per-owner ones
        self._aws: dict[str, tuple[AwsCredentialSource, dict[str, AwsCredentialSource]]] = {
            name: (p.aws.source(self.secrets), {o: c.source(self.secrets) for o, c in p.owner_aws.items()})
            for name, p in config.providers.items()
            if p.kind == "bedrock"
        }

    def client_secret(self, entry: KeyEntry) -> str:
        """The SigV4 secret the gateway issued with this row's access key id."""
        return self._resolve(entry.extra["client_secret"])

    async def rewrite(
        self, name: str, provider: ProviderConfig, entry: KeyEntry, upstream_uri: str, request: RequestView
    ) -> UpstreamRewrite | None:
        """The rewrite nginx must apply, or None for a pure pass-through."""
        if provider.kind == "bedrock":
            default, per_owner = self._aws[name]
            source = per_owner.get(entry.owner, default)
            try:  # the standard chain may refresh over the network: keep it off the loop
                creds = await asyncio.to_thread(source.get) if source.uses_chain else source.get()
            except (SecretError, ValueError) as e:
                log.error("bedrock signing credentials for owner %r: %s", entry.owner, e)
                raise Unavailable(SECRET_UNAVAILABLE) from None
            url = provider.upstream + upstream_uri
            assert provider.region is not None  # the config requires it for bedrock
            return sign_upstream(request.method, url, request.body, creds, provider.region)
        ref = entry.extra.get("upstream_key")
        if ref is None:
            return None
        rewrite = UpstreamRewrite(headers=header_for_provider(provider.kind, self._resolve(ref)))
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
    for name in REWRITABLE_HEADERS:
        value = headers.get(name)
        if value is not None and name not in rewrite.headers:
            rewrite.headers[name] = value
    return rewrite
