"""A fake provider upstream: the only stand-in in the tests.

It answers with the recorded fixtures of each provider (tests/fixtures/, rendered by
fixtures.py): JSON bodies, SSE streams with their real event sequences, JSON-array
Gemini streams, provider error JSON and headers. It records every request byte for
byte. Streams are written frame by frame with ``chunk_delay`` between them, so tests
can see that the gateway does not buffer.

Knobs (attributes, reset by ``clear``): ``chunk_delay``, ``gzip`` (compress JSON
answers for clients that accept it), ``cache_read`` / ``cache_write`` (cached prompt
tokens to report), ``thoughts`` (reasoning tokens to report), ``stall_before`` /
``stall_s`` (a stream pauses that long before that frame), ``hangup_before`` (a
stream's connection is dropped before that frame), ``answer_delay`` (seconds before
any answer). A model named ``stream-N`` streams N text chunks; ``fail-NNN`` answers status NNN in the provider's
error JSON.
"""

from __future__ import annotations

import copy
import gzip

import orjson
from aiohttp import web

from tests.fakes import fixtures
from tests.fakes.fixtures import Answer
from tests.fakes.server import ThreadedFake

WORDS = ["Hello", " from", " the", " fake", " upstream", ",", " one", " token", " per", " chunk", "."]
DATED = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
}
# Azure answers with the deployed model's name, whatever the deployment is called
AZURE_DEPLOYED = "gpt-4o-mini-2024-07-18"
# models an OpenAI-compatible server (vLLM, Groq, ...) serves rather than OpenAI: answered in openai_compat's format
COMPAT_MODELS = ("llama", "meta-llama/", "mistral", "mixtral", "qwen", "deepseek", "gemma")


def prompt_tokens(body: bytes) -> int:
    """Deterministic stand-in for a tokenizer: one token per 4 bytes of request body."""
    return max(1, len(body) // 4)


def chunks_for(model: str) -> list[str]:
    n = int(model.split("-", 1)[1]) if model.startswith("stream-") else 5
    return [WORDS[i % len(WORDS)] for i in range(n)]


def failure(model: str) -> int | None:
    """The status a ``fail-NNN`` model asks for."""
    name = model.rsplit("/", 1)[-1]
    if name.startswith("fail-") and name[5:].isdigit():
        return int(name[5:])
    return None


class FakeUpstream(ThreadedFake):
    name = "fake upstream"

    def __init__(self) -> None:
        super().__init__()
        self.clear()

    def clear(self) -> None:
        self.received = []
        self.chunk_delay = 0.05
        self.gzip = False
        self.cache_read = 0
        self.cache_write = 0
        self.thoughts = 0
        self.stall_before = None
        self.stall_s = 0.0
        self.hangup_before = None
        self.answer_delay = 0.0

    # --- routing: which provider's fixtures answer this request
    async def _dispatch(self, request: web.Request, body: bytes) -> web.StreamResponse:
        path = request.path
        doc = orjson.loads(body) if body[:1] == b"{" else {}
        if path == "/v1/models" and request.method == "GET":
            model = {"id": "gpt-4o", "object": "model", "created": 0, "owned_by": "openai"}
            listing = orjson.dumps({"object": "list", "data": [model]})
            return self._send(request, Answer(200, fixtures.headers("openai", "", {}, "application/json"), [listing]))
        route = _route(path, doc)
        if route is None:
            return web.json_response(
                {"error": {"message": f"fake: no route {path}", "type": "invalid_request_error"}}, status=404
            )
        provider, endpoint, model, served = route
        values = self._values(body, model, served)
        if (status := failure(model)) is not None:
            return self._send(request, fixtures.error(provider, endpoint, status, values))
        streamed = _stream_file(provider, endpoint, request, doc)
        if streamed is not None:
            answer = fixtures.stream(provider, endpoint, values, chunks_for(model), streamed)
            return await self.stream(request, answer.headers, answer.frames)
        if endpoint == "embeddings":
            return self._send(request, _embeddings(values, doc))
        return self._send(request, fixtures.response(provider, endpoint, values))

    def _values(self, body: bytes, model: str, served: str) -> dict[str, int | str]:
        words = chunks_for(model.rsplit("/", 1)[-1])
        return {
            "prompt": prompt_tokens(body),
            "output": len(words),
            "cache_read": self.cache_read,
            "cache_write": self.cache_write,
            "thoughts": self.thoughts,
            "model": served,
            "text": "".join(words),
        }

    def _send(self, request: web.Request, answer: Answer) -> web.Response:
        data, headers = answer.body, dict(answer.headers)
        if self.gzip and "gzip" in request.headers.get("Accept-Encoding", ""):
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=data, status=answer.status, headers=headers)


def _route(path: str, doc: dict) -> tuple[str, str, str, str] | None:
    """(provider, endpoint, requested model, served model) of a request, or None."""
    body_model = doc.get("model") if isinstance(doc.get("model"), str) else ""
    path_model = path.rsplit("/models/", 1)[-1].split(":")[0]
    if path == "/v1/generate":  # the toy provider of tests/e2e/toy_provider.py
        return "toy", "generate", body_model, body_model
    if path.startswith("/v1/messages"):
        return "anthropic", "messages", body_model, DATED.get(body_model, body_model)
    for verb, endpoint in (
        (":streamRawPredict", "stream_raw_predict"),
        (":rawPredict", "raw_predict"),
        (":streamGenerateContent", "stream_generate_content"),
        (":generateContent", "generate_content"),
        (":embedContent", "embed_content"),
    ):
        if verb in path:
            provider = "vertex" if "/projects/" in path else "gemini"
            return provider, endpoint, path_model, path_model
    if "/deployments/" in path and path.endswith("/chat/completions"):
        return "azure", "chat_completions", path.split("/deployments/")[1].split("/")[0], AZURE_DEPLOYED
    if path.startswith("/openai/v1/") and path.endswith("/chat/completions"):
        return "azure", "v1_chat_completions", body_model, AZURE_DEPLOYED
    if path.endswith("/chat/completions"):
        provider = "openai_compat" if body_model.lower().startswith(COMPAT_MODELS) else "openai"
        return provider, "chat_completions", body_model, DATED.get(body_model, body_model)
    for endpoint in ("completions", "responses", "embeddings"):
        if path.endswith("/" + endpoint):
            return "openai", endpoint, body_model, DATED.get(body_model, body_model)
    return None


def _stream_file(provider: str, endpoint: str, request: web.Request, doc: dict) -> str | None:
    """The fixture a streamed answer replays, or None for a JSON answer."""
    if endpoint in ("stream_generate_content", "stream_raw_predict"):
        return "stream.sse" if endpoint == "stream_raw_predict" or request.query.get("alt") == "sse" else "stream.json"
    if doc.get("stream") is not True:
        return None
    if provider in ("anthropic", "toy") or endpoint == "responses":  # these always end with their usage
        return "stream.sse"
    include_usage = (doc.get("stream_options") or {}).get("include_usage") is True
    return "stream.sse" if include_usage else "stream-without-usage.sse"


def _embeddings(values: dict, doc: dict) -> Answer:
    """One embedding per input, as base64 when the SDK asks for it (the OpenAI SDK does by default)."""
    name = "response-base64.json" if doc.get("encoding_format") == "base64" else "response.json"
    answer = fixtures.response("openai", "embeddings", values, name)
    reply = answer.json()
    inputs = doc.get("input")
    count = len(inputs) if isinstance(inputs, list) and not all(isinstance(i, int) for i in inputs) else 1
    reply["data"] = [{**copy.deepcopy(reply["data"][0]), "index": i} for i in range(count)]
    answer.frames = [orjson.dumps(reply, option=orjson.OPT_INDENT_2)]
    return answer
