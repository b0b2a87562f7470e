"""The provider registry: the ``kind`` a config entry names -> the module that speaks that API."""

from __future__ import annotations

from lmgate.providers import anthropic, azure, bedrock, gemini, openai, openai_compat, vertex
from lmgate.providers.base import Provider

PROVIDERS: dict[str, Provider] = {
    m.PROVIDER.name: m.PROVIDER for m in (openai, anthropic, gemini, vertex, azure, openai_compat, bedrock)
}


def get(kind: str) -> Provider:
    try:
        return PROVIDERS[kind]
    except KeyError:
        raise KeyError(f"unknown provider kind {kind!r}; known: {', '.join(sorted(PROVIDERS))}") from None
