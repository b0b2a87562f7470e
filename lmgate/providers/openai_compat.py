"""Any OpenAI-compatible server (Groq, vLLM, Together, Ollama…): OpenAI's wire format under its own prefix."""

from __future__ import annotations

from lmgate.providers.openai import OpenAI


class OpenAICompatible(OpenAI):
    name = "openai_compat"
    # self-hosted servers are often reached with x-api-key by custom clients
    key_sources = ("authorization", "x-api-key")


PROVIDER = OpenAICompatible()
