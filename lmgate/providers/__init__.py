"""The provider registry: the ``kind`` a config entry names -> the module that speaks that API.

This is the only list of providers: config defaults, key headers, price tables,
usage headers and the nginx log line are all read off the registered modules.
A built-in provider is one module here plus one line in ``_BUILT_IN``. A
provider outside the package (a plugin, a test's toy) is registered by naming
its module in the config: ``kind: mypackage.myprovider`` imports that module and
registers its ``PROVIDER`` under ``PROVIDER.name`` (``load``).
"""

from __future__ import annotations

import importlib

from lmgate.providers import anthropic, azure, bedrock, gemini, openai, openai_compat, vertex
from lmgate.providers.base import Provider, SignsUpstream

_BUILT_IN = (
    openai.PROVIDER,
    anthropic.PROVIDER,
    gemini.PROVIDER,
    vertex.PROVIDER,
    azure.PROVIDER,
    openai_compat.PROVIDER,
    bedrock.PROVIDER,
)
PROVIDERS: dict[str, Provider] = {p.name: p for p in _BUILT_IN}
#: the kind of a config entry whose name is no provider's (``groq: {upstream: ...}``)
FALLBACK_KIND = openai_compat.PROVIDER.name


def get(kind: str) -> Provider:
    try:
        return PROVIDERS[kind]
    except KeyError:
        raise KeyError(f"unknown provider kind {kind!r}; known: {', '.join(sorted(PROVIDERS))}") from None


def register(provider: Provider) -> Provider:
    """Add a provider; registering the same object again is a no-op, another one under a taken name an error."""
    if not provider.name or "." in provider.name:
        raise ValueError(f"a provider's name must be set and have no '.': {provider.name!r}")
    known = PROVIDERS.setdefault(provider.name, provider)
    if known is not provider:
        raise ValueError(f"provider kind {provider.name!r} is already registered")
    return provider


def load(kind: str) -> Provider:
    """The provider a config ``kind`` names: a registered name, or a module path (``pkg.module``) whose
    ``PROVIDER`` is imported and registered. A ValueError says what is wrong."""
    if kind in PROVIDERS:
        return PROVIDERS[kind]
    if "." not in kind:
        raise ValueError(
            f"unknown provider kind {kind!r}; known kinds: {', '.join(sorted(PROVIDERS))} "
            "(or the module path of a provider, e.g. mypackage.myprovider)"
        )
    try:
        module = importlib.import_module(kind)
    except ImportError as e:
        raise ValueError(f"provider module {kind!r} cannot be imported: {e}") from None
    provider = getattr(module, "PROVIDER", None)
    if not isinstance(provider, Provider):
        raise ValueError(f"provider module {kind!r} has no PROVIDER (a lmgate.providers.base.Provider)")
    return register(provider)


def rewritable_headers() -> tuple[str, ...]:
    """The headers a rewrite may set (lmgate/rewrite.py), each once: every header a provider reads a client
    key from (a held key replaces it, a key the gateway checked must not travel on) and every header a
    signature sets or strips. nginx can only set headers it knows by name: nginx.conf.j2 names these."""
    known = _REWRITABLE.get(len(PROVIDERS))  # the registry only grows
    if known is None:
        names = [h for p in PROVIDERS.values() for h in p.key_sources if not h.startswith("?")]
        names += [h for p in PROVIDERS.values() if isinstance(p, SignsUpstream) for h in p.signature_headers]
        known = _REWRITABLE[len(PROVIDERS)] = tuple(dict.fromkeys(names))
    return known


_REWRITABLE: dict[int, tuple[str, ...]] = {}


def default_entries() -> dict[str, dict]:
    """The config entries the gateway has unless the config switches them off, by provider name."""
    entries = {p.name: p.default_entry() for p in PROVIDERS.values()}
    return {name: entry for name, entry in entries.items() if entry is not None}
