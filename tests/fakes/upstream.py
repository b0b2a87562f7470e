"""A fake provider upstream: the only stand-in in the tests.

It answers in each provider's real wire format (JSON bodies, SSE streams with
their real event sequences, JSON-array Gemini streams, provider error JSON and
headers) and records every request byte for byte. Streams are written chunk by
chunk with ``chunk_delay`` between them, so tests can see that the gateway does
not buffer.

Knobs (attributes, reset by ``clear``): ``chunk_delay``, ``gzip`` (compress JSON
answers for clients that accept it), ``cache_read`` / ``cache_write`` (cached
prompt tokens to report), ``thoughts`` (reasoning tokens to report),
``stall_before`` / ``stall_s`` (a stream pauses that long before that frame),
``hangup_before`` (a stream's connection is dropped before that frame),
``answer_delay`` (seconds before any answer). A model named ``stream-N``
streams N text chunks; ``fail-NNN`` answers status NNN in the provider's error
JSON.
"""

from __future__ import annotations

import gzip
import itertools
import time
import uuid

import orjson
from aiohttp import web

from tests.fakes.server import ThreadedFake

WORDS = ["Hello", " from", " the", " fake", " upstream", ",", " one", " token", " per", " chunk", "."]
DATED = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
}


def prompt_tokens(body: bytes) -> int:
    """Deterministic stand-in for a tokenizer: one token per 4 bytes of request body."""
    return max(1, len(body) // 4)


def chunks_for(model: str) -> list[str]:
    n = int(model.split("-", 1)[1]) if model.startswith("stream-") else 5
    return [WORDS[i % len(WORDS)] for i in range(n)]


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

    # --- routing
    async def _dispatch(self, request: web.Request, body: bytes) -> web.StreamResponse:
        path = request.path
        doc = orjson.loads(body) if body[:1] == b"{" else {}
        if path.startswith("/v1/messages") or ":rawPredict" in path or ":streamRawPredict" in path:
            return await self._anthropic(request, body, doc)
        if ":generateContent" in path or ":streamGenerateContent" in path:
            return await self._gemini(request, body, path)
        if path == "/v1/models" and request.method == "GET":
            return web.json_response(
                {"object": "list", "data": [{"id": "gpt-4o", "object": "model", "created": 0, "owned_by": "openai"}]},
                headers=self._openai_headers(),
            )
        if path.endswith("/chat/completions") or path.endswith("/completions"):
            return await self._openai_chat(request, body, doc, legacy=not path.endswith("/chat/completions"))
        if path.endswith("/responses"):
            return await self._openai_responses(request, body, doc)
        if path.endswith("/embeddings"):
            return self._json(request, self._openai_embeddings(body, doc), self._openai_headers())
        return web.json_response(
            {"error": {"message": f"fake: no route {path}", "type": "invalid_request_error"}}, status=404
        )

    # --- helpers
    def _json(self, request: web.Request, doc: dict, headers: dict[str, str], status: int = 200) -> web.Response:
        data = orjson.dumps(doc)
        headers = {**headers, "Content-Type": "application/json"}
        if self.gzip and "gzip" in request.headers.get("Accept-Encoding", ""):
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=data, status=status, headers=headers)

    async def _stream(self, request: web.Request, headers: dict[str, str], frames: list[bytes]) -> web.StreamResponse:
        return await self.stream(request, {**headers, "Content-Type": "text/event-stream; charset=utf-8"}, frames)

    @staticmethod
    def _sse(doc: dict, event: str | None = None) -> bytes:
        head = f"event: {event}\n".encode() if event else b""
        return head + b"data: " + orjson.dumps(doc) + b"\n\n"

    def _failure(self, model: str | None) -> int | None:
        if model and model.startswith("fail-"):
            return int(model[5:])
        return None

    # --- OpenAI (and Azure, and OpenAI-compatible servers)
    def _openai_headers(self) -> dict[str, str]:
        return {
            "x-request-id": f"req_{uuid.uuid4().hex}",
            "openai-processing-ms": "42",
            "x-ratelimit-limit-requests": "10000",
            "x-ratelimit-remaining-requests": "9999",
            "x-ratelimit-reset-requests": "6ms",
        }

    def _openai_usage(self, body: bytes, completion: int) -> dict:
        prompt = prompt_tokens(body)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion + self.thoughts,
            "total_tokens": prompt + completion + self.thoughts,
            "prompt_tokens_details": {
                "cached_tokens": self.cache_read,
                "cache_write_tokens": self.cache_write,
                "audio_tokens": 0,
            },
            "completion_tokens_details": {
                "reasoning_tokens": self.thoughts,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def _openai_error(self, request: web.Request, status: int) -> web.Response:
        types = {400: "invalid_request_error", 401: "invalid_request_error", 429: "rate_limit_exceeded"}
        doc = {
            "error": {
                "message": f"fake failure {status}",
                "type": types.get(status, "server_error"),
                "param": None,
                "code": None,
            }
        }
        return self._json(request, doc, self._openai_headers(), status)

    async def _openai_chat(self, request: web.Request, body: bytes, doc: dict, legacy: bool) -> web.StreamResponse:
        model = doc.get("model") or request.match_info["tail"].split("/deployments/")[-1].split("/")[0]
        if (status := self._failure(model)) is not None:
            return self._openai_error(request, status)
        # Azure answers with the deployed model's real name, whatever the deployment is called
        served = "gpt-4o-mini-2024-07-18" if "/deployments/" in request.path else DATED.get(model, model)
        words = chunks_for(model)
        cid = f"chatcmpl-{next(self._ids)}"
        created = int(time.time())
        obj = "text_completion" if legacy else "chat.completion"
        if not doc.get("stream"):
            choice = (
                {"index": 0, "text": "".join(words), "logprobs": None, "finish_reason": "stop"}
                if legacy
                else {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(words), "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            )
            answer = {
                "id": cid,
                "object": obj,
                "created": created,
                "model": served,
                "choices": [choice],
                "usage": self._openai_usage(body, len(words)),
                "service_tier": "default",
                "system_fingerprint": "fp_fake",
            }
            return self._json(request, answer, self._openai_headers())
        include_usage = (doc.get("stream_options") or {}).get("include_usage") is True
        base = {"id": cid, "object": obj + ".chunk" if not legacy else obj, "created": created, "model": served}
        if include_usage:
            base["usage"] = None
        frames = []
        if not legacy:
            first = {"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None}, "finish_reason": None}
            frames.append(self._sse({**base, "choices": [first]}))
        for w in words:
            choice = (
                {"index": 0, "text": w, "logprobs": None, "finish_reason": None}
                if legacy
                else {"index": 0, "delta": {"content": w}, "logprobs": None, "finish_reason": None}
            )
            frames.append(self._sse({**base, "choices": [choice]}))
        last = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
        if legacy:
            last = {"index": 0, "text": "", "logprobs": None, "finish_reason": "stop"}
        frames.append(self._sse({**base, "choices": [last]}))
        if include_usage:
            frames.append(self._sse({**base, "choices": [], "usage": self._openai_usage(body, len(words))}))
        frames.append(b"data: [DONE]\n\n")
        return await self._stream(request, self._openai_headers(), frames)

    async def _openai_responses(self, request: web.Request, body: bytes, doc: dict) -> web.StreamResponse:
        model = doc.get("model", "")
        if (status := self._failure(model)) is not None:
            return self._openai_error(request, status)
        words = chunks_for(model)
        prompt = prompt_tokens(body)
        usage = {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": self.cache_read, "cache_write_tokens": self.cache_write},
            "output_tokens": len(words) + self.thoughts,
            "output_tokens_details": {"reasoning_tokens": self.thoughts},
            "total_tokens": prompt + len(words) + self.thoughts,
        }
        rid, mid = f"resp_{next(self._ids)}", f"msg_{next(self._ids)}"
        text = "".join(words)
        message = {
            "type": "message",
            "id": mid,
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
        response = {
            "id": rid,
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": DATED.get(model, model),
            "output": [message],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": usage,
        }
        if not doc.get("stream"):
            return self._json(request, response, self._openai_headers())
        pending = {**response, "status": "in_progress", "output": [], "usage": None}
        seq = itertools.count()
        events = [
            ("response.created", {"response": pending}),
            ("response.in_progress", {"response": pending}),
            (
                "response.output_item.added",
                {"output_index": 0, "item": {**message, "status": "in_progress", "content": []}},
            ),
            (
                "response.content_part.added",
                {
                    "item_id": mid,
                    "output_index": 0,
                    "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": []},
                },
            ),
            *[
                ("response.output_text.delta", {"item_id": mid, "output_index": 0, "content_index": 0, "delta": w})
                for w in words
            ],
            ("response.output_text.done", {"item_id": mid, "output_index": 0, "content_index": 0, "text": text}),
            (
                "response.content_part.done",
                {"item_id": mid, "output_index": 0, "content_index": 0, "part": message["content"][0]},
            ),
            ("response.output_item.done", {"output_index": 0, "item": message}),
            ("response.completed", {"response": response}),
        ]
        frames = [self._sse({"type": name, "sequence_number": next(seq), **data}, event=name) for name, data in events]
        return await self._stream(request, self._openai_headers(), frames)

    def _openai_embeddings(self, body: bytes, doc: dict) -> dict:
        inputs = doc.get("input")
        count = len(inputs) if isinstance(inputs, list) else 1
        prompt = prompt_tokens(body)
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": [0.1, -0.2, 0.3]} for i in range(count)],
            "model": doc.get("model"),
            "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
        }

    # --- Anthropic (and Claude on Vertex)
    def _anthropic_headers(self) -> dict[str, str]:
        return {
            "request-id": f"req_{uuid.uuid4().hex}",
            "anthropic-ratelimit-requests-limit": "4000",
            "anthropic-ratelimit-requests-remaining": "3999",
        }

    async def _anthropic(self, request: web.Request, body: bytes, doc: dict) -> web.StreamResponse:
        model = doc.get("model") or request.path.rsplit("/models/", 1)[-1].split(":")[0]
        if (status := self._failure(model)) is not None:
            etype = {400: "invalid_request_error", 429: "rate_limit_error", 529: "overloaded_error"}.get(
                status, "api_error"
            )
            err = {"type": "error", "error": {"type": etype, "message": f"fake failure {status}"}}
            return self._json(request, err, self._anthropic_headers(), status)
        words = chunks_for(model)
        fresh = prompt_tokens(body)
        usage = {
            "input_tokens": fresh,
            "cache_creation_input_tokens": self.cache_write,
            "cache_read_input_tokens": self.cache_read,
            "output_tokens": len(words),
            "service_tier": "standard",
        }
        message = {
            "id": f"msg_{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": DATED.get(model, model),
            "content": [{"type": "text", "text": "".join(words)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        if not doc.get("stream"):
            return self._json(request, message, self._anthropic_headers())
        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        frames = [
            self._sse({"type": "message_start", "message": start}, "message_start"),
            self._sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            ),
            self._sse({"type": "ping"}, "ping"),
            *[
                self._sse(
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
                    "content_block_delta",
                )
                for w in words
            ],
            self._sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            self._sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": len(words)},
                },
                "message_delta",
            ),
            self._sse({"type": "message_stop"}, "message_stop"),
        ]
        return await self._stream(request, self._anthropic_headers(), frames)

    # --- Gemini API and Vertex AI
    async def _gemini(self, request: web.Request, body: bytes, path: str) -> web.StreamResponse:
        model = path.rsplit("/models/", 1)[-1].split(":")[0]
        if (status := self._failure(model)) is not None:
            names = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED"}
            err = {
                "error": {"code": status, "message": f"fake failure {status}", "status": names.get(status, "INTERNAL")}
            }
            return self._json(request, err, {}, status)
        words = chunks_for(model)
        prompt = prompt_tokens(body)
        full = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": len(words),
            "totalTokenCount": prompt + len(words) + self.thoughts,
        }
        full["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
        if self.cache_read:
            full["cachedContentTokenCount"] = self.cache_read
        if self.thoughts:
            full["thoughtsTokenCount"] = self.thoughts

        def chunk(parts: list[str], last: bool, meta: dict) -> dict:
            cand = {"content": {"parts": [{"text": "".join(parts)}], "role": "model"}, "index": 0}
            if last:
                cand["finishReason"] = "STOP"
            return {
                "candidates": [cand],
                "usageMetadata": meta,
                "modelVersion": model,
                "responseId": f"r{next(self._ids)}",
            }

        if ":generateContent" in path:
            return self._json(request, chunk(words, True, full), {})
        running = {"promptTokenCount": prompt, "totalTokenCount": prompt}
        docs = [chunk([w], i == len(words) - 1, full if i == len(words) - 1 else running) for i, w in enumerate(words)]
        if request.query.get("alt") == "sse":
            return await self._stream(request, {}, [b"data: " + orjson.dumps(d) + b"\r\n\r\n" for d in docs])
        return await self._json_array_stream(request, docs)

    async def _json_array_stream(self, request: web.Request, docs: list[dict]) -> web.StreamResponse:
        frames = [(b"[" if i == 0 else b",\r\n") + orjson.dumps(d) for i, d in enumerate(docs)] + [b"]"]
        return await self.stream(request, {"Content-Type": "application/json; charset=UTF-8"}, frames)
