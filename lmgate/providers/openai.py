"""OpenAI's API: chat completions, Responses, embeddings, legacy completions.

Azure OpenAI and OpenAI-compatible servers speak the same wire format and
subclass this module.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from lmgate.providers.base import (
    ErrorKind,
    JsonPath,
    PromptTexts,
    Provider,
    add_leaves,
    add_parts,
    as_int,
    output_cap,
)
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
    default_upstream = "https://api.openai.com"
    price_sources = ("openai", "text-completion-openai")
    model_id_prefixes = ("openai/",)

    def usage_in_stream(self, path: str, body: dict | None) -> bool:
        if body is None or path.endswith("/responses"):
            return True  # the Responses API always ends with response.completed and its usage
        options = body.get("stream_options")
        return isinstance(options, dict) and options.get("include_usage") is True

    def max_output_tokens(self, path: str, body: dict, limit: int) -> int:
        """Chat: ``max_completion_tokens`` (or the older ``max_tokens``) per each of ``n`` choices;
        Responses: ``max_output_tokens``; legacy completions: ``max_tokens`` times ``best_of`` or ``n``."""
        # spelt out, not a generator over the names: asked on every /auth call with a budget hold
        get = body.get
        stated = get("max_completion_tokens")
        if stated is None:
            stated = get("max_tokens")
            if stated is None:
                stated = get("max_output_tokens")
        n, best_of = get("n"), get("best_of")
        if n is None and best_of is None:  # most requests: one choice
            return output_cap(stated, limit)
        choices = [c for c in (as_int(n), as_int(best_of)) if c is not None]
        return output_cap(stated, limit, max(choices, default=1))

    def prompt_fields(self, body: dict) -> PromptTexts:
        out: PromptTexts = []
        messages = body.get("messages")
        for i, m in enumerate(messages if isinstance(messages, list) else ()):  # chat completions
            if isinstance(m, dict):
                if len(m) == 2 and isinstance(m.get("content"), str):  # most messages: role and text
                    out.append((("messages", i, "content"), m["content"]))
                else:
                    _add_chat_message(out, m, ("messages", i))
        prediction = body.get("prediction")  # predicted output: text the model compares against
        if isinstance(prediction, dict):
            add_parts(out, prediction.get("content"), ("prediction", "content"))
        if isinstance(body.get("instructions"), str):  # Responses, speech
            out.append((("instructions",), body["instructions"]))
        _add_input(out, body.get("input"))
        prompt = body.get("prompt")
        if isinstance(prompt, dict):  # Responses: a stored prompt, filled in with these variables
            variables = prompt.get("variables")
            for name, value in variables.items() if isinstance(variables, dict) else ():
                if isinstance(value, str):
                    out.append((("prompt", "variables", name), value))
                elif isinstance(value, dict) and isinstance(value.get("text"), str):  # an input_text part
                    out.append((("prompt", "variables", name, "text"), value["text"]))
        else:  # legacy completions, images
            add_parts(out, prompt, ("prompt",), ())
        if isinstance(body.get("suffix"), str):  # legacy completions: text after the insertion point
            out.append((("suffix",), body["suffix"]))
        return out

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


#: keys of content parts (chat and Responses) whose string the model reads: text, a refusal it gave,
#: shell output, code interpreter logs
_PART_TEXT = frozenset(("text", "refusal", "stdout", "stderr", "logs"))


def _add_text_parts(out: PromptTexts, value: object, path: JsonPath) -> None:
    add_parts(out, value, path, _PART_TEXT)


#: Responses input items, whatever their type: the keys that hold what the model reads in every item type
#: that has them (messages; function, custom, MCP, shell and patch calls and their outputs; reasoning
#: summaries; code interpreter and file search calls), as content parts or as text/JSON read whole.
#: Ids, names, status and encoded files are not text.
_ITEM_TEXT = {
    **dict.fromkeys(("content", "output", "summary", "outputs", "results"), _add_text_parts),
    **dict.fromkeys(("text", "arguments", "input", "code", "queries", "operation", "action"), add_leaves),
}


def _add_chat_message(out: PromptTexts, message: dict, path: JsonPath) -> None:
    """A chat message's text: content (any role, tool results included), refusal, tool-call arguments."""
    content = message.get("content")
    if isinstance(content, str):
        out.append(((*path, "content"), content))
    elif content is not None:
        add_parts(out, content, (*path, "content"), _PART_TEXT)
    if isinstance(message.get("refusal"), str):
        out.append(((*path, "refusal"), message["refusal"]))
    calls = message.get("tool_calls")
    for j, call in enumerate(calls if isinstance(calls, list) else ()):
        for kind, field in (("function", "arguments"), ("custom", "input")):
            spec = call.get(kind) if isinstance(call, dict) else None
            if isinstance(spec, dict) and isinstance(spec.get(field), str):
                out.append(((*path, "tool_calls", j, kind, field), spec[field]))
    legacy = message.get("function_call")
    if isinstance(legacy, dict) and isinstance(legacy.get("arguments"), str):
        out.append(((*path, "function_call", "arguments"), legacy["arguments"]))


def _add_input(out: PromptTexts, value: object) -> None:
    """Responses ``input`` (a string or items), embeddings and moderation ``input`` (strings, text parts)."""
    if isinstance(value, str):
        out.append((("input",), value))
        return
    for i, item in enumerate(value if isinstance(value, list) else ()):
        if isinstance(item, str):  # embeddings, moderation: a list of strings
            out.append((("input", i), item))
        elif isinstance(item, dict) and "role" in item:  # a message (most items): its text is in content
            add_parts(out, item.get("content"), ("input", i, "content"), _PART_TEXT)
        elif isinstance(item, dict):
            for key, field in item.items():  # items have few keys: cheaper than looking up each text key
                add = _ITEM_TEXT.get(key)
                if add is not None:
                    add(out, field, ("input", i, key))
            if item.get("type") == "program_output" and isinstance(item.get("result"), str):
                out.append((("input", i, "result"), item["result"]))


def _chat_usage(usage: object, model: object) -> Usage:
    """Chat completions, legacy completions and embeddings share prompt/completion_tokens.

    ``prompt_tokens`` counts every prompt token; ``prompt_tokens_details`` says how many of them were
    cache hits (``cached_tokens``) and cache writes (``cache_write_tokens``), as ``Usage`` wants them.
    """
    model = model if isinstance(model, str) else None
    if not isinstance(usage, dict):
        return Usage(model=model)
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    output = _int(usage.get("completion_tokens"))
    # Positional (Usage's field order) and ``_int``: this runs once per request the gateway serves.
    return Usage(
        _int(usage.get("prompt_tokens")),  # input_tokens
        0 if output is None and "total_tokens" in usage else output,  # output_tokens (embeddings: none)
        _int(prompt.get("cached_tokens")) if isinstance(prompt, dict) else None,  # cache_read_tokens
        _int(prompt.get("cache_write_tokens")) if isinstance(prompt, dict) else None,  # cache_write_tokens
        _int(completion.get("reasoning_tokens")) if isinstance(completion, dict) else None,  # reasoning_tokens
        model,
        "provider",
    )


def _int(value: object) -> int | None:
    """``as_int`` with its common case first: a JSON integer."""
    return value if type(value) is int else as_int(value)


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
        cache_write_tokens=as_int(inp.get("cache_write_tokens")) if isinstance(inp, dict) else None,
        reasoning_tokens=as_int(out.get("reasoning_tokens")) if isinstance(out, dict) else None,
        model=model,
        usage_source="provider",
    )


PROVIDER = OpenAI()
