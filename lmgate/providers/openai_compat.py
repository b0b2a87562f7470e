"""Any OpenAI-compatible server (Groq, vLLM, Together, Ollama…): OpenAI's wire format under its own prefix."""

from __future__ import annotations

from lmgate.providers.base import OTHER_PRICE_TABLES
from lmgate.providers.openai import OpenAI


class OpenAICompatible(OpenAI):
    name = "openai_compat"
    # self-hosted servers are often reached with x-api-key by custom clients
    key_sources = ("authorization", "x-api-key")
    default_upstream = None  # there is no one upstream: the config names each server
    price_sources = ()  # user price files (groq, ...), then OpenAI's list prices
    price_fallbacks = (OTHER_PRICE_TABLES, "openai")
    model_id_prefixes = ()


PROVIDER = OpenAICompatible()
