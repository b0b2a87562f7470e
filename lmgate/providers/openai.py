"""OpenAI's API: chat completions, Responses, embeddings, legacy completions.

Azure OpenAI and OpenAI-compatible servers speak the same wire format and
subclass this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson

from lmgate.providers.base import ErrorKind, JsonPath, Provider, as_int, text_parts
from lmgate.usage import Usage

# (type, code) of OpenAI's error JSON per gateway error; the SDK picks its class from the status.
_ERRORS: dict[ErrorKind, tuple[str, str | None]] = {
    ErrorKind.INVALID_REQUEST: ("invalid_request_error", None),
    ErrorKind.AUTHENTICATION: ("invalid_request_error", "invalid_api_key"),
    ErrorKind.PERMISSION: ("permission_error", "model_not_allowed"),
    ErrorKind.NOT_FOUND: ("invalid_request_error", "not_found"),
    ErrorKind.TOO_LARGE: ("invalid_request_error", "request_too_large"),
    ErrorKind.RATE_LIMIT: ("requests", "rate_limit_exceeded"),
    ErrorKind.QUOTA: ("insufficient_quota", "insufficient_quota"),
    ErrorKind.UNAVAILABLE: ("server_error", "service_unavailable"),
}


class OpenAI(Provider):
    name = "openai"
    key_sources = ("authorization",)

    def usage_in_stream(self, path: str, body: dict | None) -> bool:
        if body is None or path.endswith("/responses"):
            return True  # the Responses API always ends with response.completed and its usage
        options = body.get("stream_options")
        return isinstance(options, dict) and options.get("include_usage") is True

    def prompt_fields(self, body: dict) -> Iterator[tuple[JsonPath, str]]:
        messages = body.get("messages")
        if isinstance(messages, list):  # chat completions
            for i, m in enumerate(messages):
                if isinstance(m, dict):
                    yield from text_parts(m.get("content"), ("messages", i, "content"))
        if isinstance(body.get("instructions"), str):  # Responses
            yield ("instructions",), body["instructions"]
        yield from _responses_input(body.get("input"))
        prompt = body.get("prompt")  # legacy completions
        if isinstance(prompt, str):
            yield ("prompt",), prompt
        elif isinstance(prompt, list):
            for i, p in enumerate(prompt):
                if isinstance(p, str):
                    yield ("prompt", i), p

    def error_body(self, status: int, message: str, kind: ErrorKind) -> bytes:
        etype, code = _ERRORS[kind]
        return orjson.dumps({"error": {"message": message, "type": etype, "param": None, "code": code}})

    def usage_from_json(self, body: dict) -> Usage:
        usage = body.get("usage")
        if body.get("object") == "response" or "output" in body:
            return _responses_usage(usage, body.get("model"))
        return _chat_usage(usage, body.get("model"))

    def usage_from_events(self, events: Iterable[dict]) -> Usage:
        model = None
        for event in events:
            etype = event.get("type")
            if isinstance(etype, str) and etype.startswith("response."):  # Responses stream
                response = event.get("response")
                if isinstance(response, dict):
                    model = response.get("model") or model
                    if isinstance(response.get("usage"), dict):
                        return _responses_usage(response["usage"], model)
                continue
            model = event.get("model") or model
            if isinstance(event.get("usage"), dict):  # the include_usage chunk comes last
                return _chat_usage(event["usage"], model)
        return Usage(model=model)

    def text_from_events(self, events: Iterable[dict]) -> str:
        out: list[str] = []
        for event in events:
            if event.get("type") == "response.output_text.delta" and isinstance(event.get("delta"), str):
                out.append(event["delta"])
            for choice in event.get("choices") or ():
                if not isinstance(choice, dict):
                    continue
                delta = choice.get("delta")
                if isinstance(delta, dict):
                    for field in ("content", "reasoning_content", "refusal"):
                        if isinstance(delta.get(field), str):
                            out.append(delta[field])
                    for call in delta.get("tool_calls") or ():
                        fn = call.get("function") if isinstance(call, dict) else None
                        if isinstance(fn, dict):
                            out.extend(v for v in (fn.get("name"), fn.get("arguments")) if isinstance(v, str))
                elif isinstance(choice.get("text"), str):  # legacy completions
                    out.append(choice["text"])
        return "".join(out)


def _responses_input(value: object) -> Iterator[tuple[JsonPath, str]]:
    if isinstance(value, str):
        yield ("input",), value
        return
    if not isinstance(value, list):
        return
    for i, item in enumerate(value):
        if isinstance(item, str):  # embeddings: a list of strings
            yield ("input", i), item
        elif isinstance(item, dict):
            content = item.get("content")
            if isinstance(content, str):
                yield ("input", i, "content"), content
            elif isinstance(content, list):
                for j, part in enumerate(content):
                    text = part.get("text") if isinstance(part, dict) else None
                    if isinstance(text, str) and part.get("type") in ("input_text", "output_text", "text"):
                        yield ("input", i, "content", j, "text"), text
            if item.get("type") == "function_call_output" and isinstance(item.get("output"), str):
                yield ("input", i, "output"), item["output"]


def _chat_usage(usage: object, model: object) -> Usage:
    """Chat completions, legacy completions and embeddings share prompt/completion_tokens."""
    model = model if isinstance(model, str) else None
    if not isinstance(usage, dict):
        return Usage(model=model)
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    output = as_int(usage.get("completion_tokens"))
    return Usage(
        input_tokens=as_int(usage.get("prompt_tokens")),
        output_tokens=0 if output is None and "total_tokens" in usage else output,  # embeddings: no output
        cache_read_tokens=as_int(prompt.get("cached_tokens")) if isinstance(prompt, dict) else None,
        reasoning_tokens=as_int(completion.get("reasoning_tokens")) if isinstance(completion, dict) else None,
        model=model,
        usage_source="provider",
    )


def _responses_usage(usage: object, model: object) -> Usage:
    model = model if isinstance(model, str) else None
    if not isinstance(usage, dict):
        return Usage(model=model)
    inp = usage.get("input_tokens_details") or {}
    out = usage.get("output_tokens_details") or {}
    return Usage(
        input_tokens=as_int(usage.get("input_tokens")),
        output_tokens=as_int(usage.get("output_tokens")),
        cache_read_tokens=as_int(inp.get("cached_tokens")) if isinstance(inp, dict) else None,
        reasoning_tokens=as_int(out.get("reasoning_tokens")) if isinstance(out, dict) else None,
        model=model,
        usage_source="provider",
    )


PROVIDER = OpenAI()
