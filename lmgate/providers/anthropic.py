"""Anthropic's Messages API (also served by Vertex AI for Claude models)."""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from lmgate.providers.base import ErrorKind, JsonPath, PromptTexts, Provider, add_leaves, as_int, output_cap
from lmgate.usage import Usage

_ERROR_TYPES = {
    ErrorKind.INVALID_REQUEST: "invalid_request_error",
    ErrorKind.AUTHENTICATION: "authentication_error",
    ErrorKind.PERMISSION: "permission_error",
    ErrorKind.NOT_FOUND: "not_found_error",
    ErrorKind.TOO_LARGE: "request_too_large",
    ErrorKind.RATE_LIMIT: "rate_limit_error",
    ErrorKind.QUOTA: "rate_limit_error",
    ErrorKind.UNAVAILABLE: "api_error",
}


class Anthropic(Provider):
    name = "anthropic"
    key_sources = ("x-api-key", "authorization")
    default_upstream = "https://api.anthropic.com"
    key_header = ("x-api-key", "")
    price_sources = ("anthropic",)
    model_id_prefixes = ("anthropic/",)

    def max_output_tokens(self, path: str, body: dict, limit: int) -> int:
        """``max_tokens`` (required by the Messages API)."""
        return output_cap(body.get("max_tokens"), limit)

    def prompt_fields(self, body: dict) -> PromptTexts:
        out: PromptTexts = []
        add_content_blocks(out, body.get("system"), ("system",))
        messages = body.get("messages")
        for i, m in enumerate(messages if isinstance(messages, list) else ()):
            if isinstance(m, dict):
                add_content_blocks(out, m.get("content"), ("messages", i, "content"))
        return out

    def error_body(self, status: int, message: str, kind: ErrorKind) -> bytes:
        return orjson.dumps({"type": "error", "error": {"type": _ERROR_TYPES[kind], "message": message}})

    def usage_from_json(self, body: dict) -> Usage:
        return _usage(body.get("usage"), body.get("model"))

    def usage_from_events(self, events: Iterable[dict]) -> Usage:
        """Input usage comes in ``message_start``, output in ``message_delta`` (cumulative)."""
        merged: dict = {}
        model = None
        for event in events:
            etype = event.get("type")
            if etype == "message_start" and isinstance(event.get("message"), dict):
                model = event["message"].get("model") or model
                merged.update(event["message"].get("usage") or {})
            elif etype == "message_delta" and isinstance(event.get("usage"), dict):
                # later API versions repeat input counts here; a null never replaces a number
                merged.update({k: v for k, v in event["usage"].items() if v is not None})
        return _usage(merged or None, model)

    def text_from_events(self, events: Iterable[dict]) -> str:
        out = []
        for event in events:
            delta = event.get("delta") if event.get("type") == "content_block_delta" else None
            if isinstance(delta, dict):
                for field in ("text", "partial_json", "thinking"):
                    if isinstance(delta.get(field), str):
                        out.append(delta[field])
        return "".join(out)


def add_content_blocks(out: PromptTexts, value: object, path: JsonPath) -> None:
    """A string, or content blocks: text; text documents (plain or content source, title, context);
    search results; tool calls' input; tool results (blocks again). Not scanned: images and PDFs
    (encoded), thinking blocks (signed: a changed one is refused), server tools' results."""
    if isinstance(value, str):
        out.append((path, value))
        return
    for j, block in enumerate(value if isinstance(value, list) else ()):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":  # most blocks
            if isinstance(block.get("text"), str):
                out.append(((*path, j, "text"), block["text"]))
        elif kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
            add_leaves(out, block.get("input"), (*path, j, "input"))
        elif kind in ("document", "search_result"):
            _add_document(out, block, (*path, j))
        elif kind in ("tool_result", "mcp_tool_result"):
            add_content_blocks(out, block.get("content"), (*path, j, "content"))


def _add_document(out: PromptTexts, block: dict, path: JsonPath) -> None:
    """A document (text or content source) or a search result (content blocks), with title and context."""
    for field in ("title", "context"):
        if isinstance(block.get(field), str):
            out.append(((*path, field), block[field]))
    source = block.get("source")
    if block.get("type") == "search_result":
        add_content_blocks(out, block.get("content"), (*path, "content"))
    elif isinstance(source, dict) and source.get("type") == "text" and isinstance(source.get("data"), str):
        out.append(((*path, "source", "data"), source["data"]))
    elif isinstance(source, dict) and source.get("type") == "content":
        add_content_blocks(out, source.get("content"), (*path, "source", "content"))


def _usage(usage: object, model: object) -> Usage:
    """Anthropic's ``input_tokens`` excludes cache reads and writes; ours counts every prompt token."""
    model = model if isinstance(model, str) else None
    if not isinstance(usage, dict):
        return Usage(model=model)
    fresh = as_int(usage.get("input_tokens"))
    cache_read = as_int(usage.get("cache_read_input_tokens"))
    cache_write = as_int(usage.get("cache_creation_input_tokens"))
    total = None if fresh is None else fresh + (cache_read or 0) + (cache_write or 0)
    return Usage(
        input_tokens=total,
        output_tokens=as_int(usage.get("output_tokens")),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        model=model,
        usage_source="provider" if total is not None or usage.get("output_tokens") is not None else "none",
    )


PROVIDER = Anthropic()
