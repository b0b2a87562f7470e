"""Vertex AI: Gemini models in Gemini's wire format; Claude models (``publishers/anthropic``) in Anthropic's."""

from __future__ import annotations

from collections.abc import Iterable

from lmgate.providers.anthropic import PROVIDER as ANTHROPIC
from lmgate.providers.base import PromptTexts
from lmgate.providers.gemini import MODEL_IN_PATH, Gemini
from lmgate.usage import Usage


def _is_claude(path: str) -> bool:
    return "/publishers/anthropic/" in path


class Vertex(Gemini):
    name = "vertex"
    default_upstream = "https://aiplatform.googleapis.com"
    key_header = ("x-goog-api-key", "")  # Vertex AI express mode API keys
    price_sources = ("vertex_ai*",)  # vertex_ai, vertex_ai-language-models, vertex_ai-anthropic_models, ...
    price_fallbacks = ("gemini", "anthropic")  # Claude on Vertex bills Anthropic's list prices
    model_id_prefixes = ("vertex_ai/",)

    def model_from_request(self, path: str, body: dict | None) -> str | None:
        m = MODEL_IN_PATH.search(path)
        return m.group(1) if m else None

    def stream_requested(self, path: str, body: dict | None) -> bool:
        return ":streamGenerateContent" in path or ":streamRawPredict" in path

    def max_output_tokens(self, path: str, body: dict, limit: int) -> int:
        if _is_claude(path):
            return ANTHROPIC.max_output_tokens(path, body, limit)
        return super().max_output_tokens(path, body, limit)

    def prompt_fields(self, body: dict) -> PromptTexts:
        if "messages" in body:  # Claude on Vertex: an Anthropic body
            return ANTHROPIC.prompt_fields(body)
        out = super().prompt_fields(body)
        instances = body.get("instances")  # :predict: text embeddings (content), image models (prompt)
        for i, instance in enumerate(instances if isinstance(instances, list) else ()):
            for field in ("content", "prompt"):
                if isinstance(instance, dict) and isinstance(instance.get(field), str):
                    out.append((("instances", i, field), instance[field]))
        return out

    def usage_from_json(self, body: dict) -> Usage:
        if body.get("type") == "message":
            return ANTHROPIC.usage_from_json(body)
        return super().usage_from_json(body)

    def usage_from_events(self, events: Iterable[dict]) -> Usage:
        events = list(events)
        if any(e.get("type") == "message_start" for e in events):
            return ANTHROPIC.usage_from_events(events)
        return super().usage_from_events(events)

    def text_from_events(self, events: Iterable[dict]) -> str:
        events = list(events)
        if any(e.get("type") == "message_start" for e in events):
            return ANTHROPIC.text_from_events(events)
        return super().text_from_events(events)


PROVIDER = Vertex()
