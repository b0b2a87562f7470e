"""A toy provider in one file: what a provider outside the package looks like.

The "Toy API" is made up for the tests: ``POST /v1/generate`` with
``{"model", "prompt", "stream"}`` and the key in ``x-api-key``; it answers
``{"id", "model", "output", "tokens": {"in", "out"}}``, streams SSE ``{"delta"}``
events and a last ``{"done": true, "tokens": ...}``, and its errors are
``{"toy_error": {"kind", "detail"}}``. Fixtures: tests/fixtures/toy/.

A config adds it with ``kind: tests.e2e.toy_provider`` (the module on PYTHONPATH),
which registers ``PROVIDER`` under its name (lmgate/providers/__init__.py ``load``).
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from lmgate.providers.base import ErrorKind, PromptTexts, Provider, as_int
from lmgate.usage import Usage


class Toy(Provider):
    name = "toy"
    key_sources = ("x-api-key",)
    key_header = ("x-api-key", "")
    price_sources = ("toy",)  # entries with litellm_provider "toy" in a price file
    model_id_prefixes = ("toy/",)

    def prompt_fields(self, body: dict) -> PromptTexts:
        prompt = body.get("prompt")
        return [(("prompt",), prompt)] if isinstance(prompt, str) else []

    def error_body(self, status: int, message: str, kind: ErrorKind) -> bytes:
        return orjson.dumps({"toy_error": {"kind": kind.value, "detail": message}})

    def usage_from_json(self, body: dict) -> Usage:
        tokens = body.get("tokens")
        model = body.get("model") if isinstance(body.get("model"), str) else None
        if not isinstance(tokens, dict):
            return Usage(model=model)
        inp, out = as_int(tokens.get("in")), as_int(tokens.get("out"))
        source = "provider" if inp is not None or out is not None else "none"
        return Usage(input_tokens=inp, output_tokens=out, model=model, usage_source=source)

    def usage_from_events(self, events: Iterable[dict]) -> Usage:
        done = [e for e in events if e.get("done") is True]
        return self.usage_from_json(done[-1]) if done else Usage()

    def text_from_events(self, events: Iterable[dict]) -> str:
        return "".join(e["delta"] for e in events if isinstance(e.get("delta"), str))


PROVIDER = Toy()
