"""Google's Gemini API (generativelanguage): the model is in the path, usage in ``usageMetadata``."""

from __future__ import annotations

import re
from collections.abc import Iterable

import orjson

from lmgate.providers.base import ErrorKind, JsonPath, PromptTexts, Provider, add_leaves, as_int, output_cap
from lmgate.streams import json_array_events, sse_events
from lmgate.usage import Usage

# google.rpc status names, which google-genai shows next to the code
_STATUS = {
    ErrorKind.INVALID_REQUEST: "INVALID_ARGUMENT",
    ErrorKind.AUTHENTICATION: "UNAUTHENTICATED",
    ErrorKind.PERMISSION: "PERMISSION_DENIED",
    ErrorKind.NOT_FOUND: "NOT_FOUND",
    ErrorKind.TOO_LARGE: "INVALID_ARGUMENT",
    ErrorKind.RATE_LIMIT: "RESOURCE_EXHAUSTED",
    ErrorKind.QUOTA: "RESOURCE_EXHAUSTED",
    ErrorKind.UNAVAILABLE: "UNAVAILABLE",
}
# /v1beta/models/gemini-2.0-flash:generateContent, /v1beta/tunedModels/x:generateContent
MODEL_IN_PATH = re.compile(r"/(?:models|tunedModels)/([^/:?]+)(?::([A-Za-z]+))?")


class Gemini(Provider):
    name = "gemini"
    key_sources = ("x-goog-api-key", "?key", "authorization")
    default_upstream = "https://generativelanguage.googleapis.com"
    key_header = ("x-goog-api-key", "")
    price_sources = ("gemini",)
    price_fallbacks = ("vertex",)  # the same Gemini models, the same list prices
    model_id_prefixes = ("gemini/", "google/")

    def model_from_request(self, path: str, body: dict | None) -> str | None:
        m = MODEL_IN_PATH.search(path)
        return m.group(1) if m else None

    def stream_requested(self, path: str, body: dict | None) -> bool:
        return ":streamGenerateContent" in path

    def max_output_tokens(self, path: str, body: dict, limit: int) -> int:
        """``generationConfig.maxOutputTokens`` per each of ``candidateCount`` candidates (either spelling)."""
        config = _field(body, "generationConfig")
        if not isinstance(config, dict):
            return limit
        return output_cap(_field(config, "maxOutputTokens"), limit, _field(config, "candidateCount"))

    def prompt_fields(self, body: dict) -> PromptTexts:
        out: PromptTexts = []
        _add_request(out, body, ())
        for key in _spellings("generateContentRequest"):  # countTokens with a whole request
            inner = body.get(key)
            if isinstance(inner, dict):
                _add_request(out, inner, (key,))
        requests = body.get("requests")  # batchEmbedContents
        for i, r in enumerate(requests if isinstance(requests, list) else ()):
            content = r.get("content") if isinstance(r, dict) else None
            if isinstance(content, dict):
                add_parts_text(out, content.get("parts"), ("requests", i, "content", "parts"))
        content = body.get("content")  # embedContent
        if isinstance(content, dict):
            add_parts_text(out, content.get("parts"), ("content", "parts"))
        return out

    def error_body(self, status: int, message: str, kind: ErrorKind) -> bytes:
        return orjson.dumps({"error": {"code": status, "message": message, "status": _STATUS[kind]}})

    def events(self, body: bytes) -> list[dict]:
        # alt=sse gives SSE; without it streamGenerateContent answers one JSON array
        if body.lstrip()[:1] == b"[":
            return list(json_array_events(body))
        return list(sse_events(body))

    def usage_from_json(self, body: dict) -> Usage:
        return _usage(body.get("usageMetadata"), body.get("modelVersion"))

    def usage_from_events(self, events: Iterable[dict]) -> Usage:
        """Each chunk repeats the running ``usageMetadata``; the last one holds the totals."""
        meta, model = None, None
        for event in events:
            model = event.get("modelVersion") or model
            if isinstance(event.get("usageMetadata"), dict):
                meta = event["usageMetadata"]
        return _usage(meta, model)

    def text_from_events(self, events: Iterable[dict]) -> str:
        out = []
        for event in events:
            for cand in event.get("candidates") or ():
                content = cand.get("content") if isinstance(cand, dict) else None
                for part in (content or {}).get("parts") or ():
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        out.append(part["text"])
        return "".join(out)


def _field(obj: dict, name: str) -> object:
    """``obj``'s value of ``name`` in either spelling (lowerCamel first), or None."""
    camel, snake = _spellings(name)
    value = obj.get(camel)
    return value if value is not None else obj.get(snake)


def _spellings(name: str) -> tuple[str, str]:
    """Google's JSON accepts a field by its lowerCamel and its snake_case name."""
    return name, re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), name)


#: parts fields the model reads besides ``text``, in either spelling -> the key inside them that holds it:
#: JSON it was given or produced (every string in it), code, code output
_PART_FIELDS = {
    spelling: inner
    for name, inner in (
        ("functionCall", "args"),
        ("functionResponse", "response"),
        ("toolCall", "args"),
        ("toolResponse", "response"),
        ("executableCode", "code"),
        ("codeExecutionResult", "output"),
    )
    for spelling in _spellings(name)
}


def _add_request(out: PromptTexts, body: dict, path: JsonPath) -> None:
    """A generateContent request's text: the system instruction and every content's parts."""
    for key in _spellings("systemInstruction"):
        instruction = body.get(key)
        if isinstance(instruction, dict):
            add_parts_text(out, instruction.get("parts"), (*path, key, "parts"))
    contents = body.get("contents")
    for i, c in enumerate(contents if isinstance(contents, list) else ()):
        if isinstance(c, dict):
            add_parts_text(out, c.get("parts"), (*path, "contents", i, "parts"))


def add_parts_text(out: PromptTexts, parts: object, path: JsonPath) -> None:
    """Text, function calls and responses, code and its output of a list of parts (blobs and files skipped)."""
    for i, part in enumerate(parts if isinstance(parts, list) else ()):
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "text":
                if isinstance(value, str):
                    out.append(((*path, i, "text"), value))
            elif key in _PART_FIELDS and isinstance(value, dict):
                inner = _PART_FIELDS[key]
                add_leaves(out, value.get(inner), (*path, i, key, inner))


def _usage(meta: object, model: object) -> Usage:
    """``candidatesTokenCount`` excludes thinking; thoughts are billed as output, so output adds them."""
    model = model if isinstance(model, str) else None
    if not isinstance(meta, dict):
        return Usage(model=model)
    candidates = as_int(meta.get("candidatesTokenCount"))
    thoughts = as_int(meta.get("thoughtsTokenCount"))
    prompt = as_int(meta.get("promptTokenCount"))
    output = None if candidates is None and thoughts is None else (candidates or 0) + (thoughts or 0)
    if output is None and prompt is not None:
        output = 0  # a prompt-only answer (embeddings, or nothing generated yet)
    return Usage(
        input_tokens=prompt,
        output_tokens=output,
        cache_read_tokens=as_int(meta.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
        model=model,
        usage_source="provider" if prompt is not None or output is not None else "none",
    )


PROVIDER = Gemini()
