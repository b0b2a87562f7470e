"""Amazon Bedrock Runtime: Converse, ConverseStream, InvokeModel and InvokeModelWithResponseStream.

Paths are ``/model/{modelId}/{operation}`` with the model id URL-encoded (ARNs
carry ``%3A`` and ``%2F``). Clients authenticate with SigV4 (an access key pair
the gateway issued) or a Bedrock API key as a bearer token; the gateway always
re-signs upstream (``lmgate.sigv4``): the ``SignsUpstream`` and
``ChecksClientSignature`` capabilities, with this module's own config fields
(``region``, ``aws``, ``owner_aws``). Streams are AWS event streams, decoded by
botocore's ``EventStreamBuffer``. InvokeModel bodies are the model's native
format; for Anthropic models that is the Messages API.

Token counts: Bedrock's ``inputTokens`` (Converse), ``inputTokenCount``
(invocation metrics) and the ``x-amzn-bedrock-input-token-count`` header count
only the prompt tokens that were neither read from nor written to the cache
(as Anthropic's ``input_tokens``); ``Usage.input_tokens`` adds both back.
``Usage.model`` stays None: the model id of the path is what Bedrock bills and
prices, not the vendor's name in a native body.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import re
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import orjson
from botocore.eventstream import DecodeUtils, EventStreamBuffer, EventStreamMessage, ParserError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lmgate.credentials import AwsCredentialSource, SecretResolver, is_ref, parse_ref
from lmgate.keys import extract_key
from lmgate.providers import anthropic
from lmgate.providers.base import (
    ChecksClientSignature,
    ClientCredential,
    ErrorKind,
    JsonPath,
    PromptTexts,
    Provider,
    ProviderSettings,
    SignatureRejected,
    SignedRequest,
    SignsUpstream,
    UpstreamSigner,
    add_leaves,
    add_parts,
    as_int,
    output_cap,
)
from lmgate.rewrite import UpstreamRewrite
from lmgate.sigv4 import SignatureError, parse_authorization, sign_upstream, verify_client_signature
from lmgate.streams import Capture
from lmgate.usage import Usage

OPERATION_RE = re.compile(r"^/model/(?P<model>[^/?]+)/(?P<op>[A-Za-z-]+)/?$")
STREAM_OPERATIONS = frozenset({"converse-stream", "invoke-with-response-stream"})
# ARNs whose resource id is a model or a system inference profile id, which is what pricing knows;
# other ARNs (application inference profiles, provisioned or custom models) are opaque and kept whole
_ARN_MODEL_RE = re.compile(r"^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:(?:foundation-model|inference-profile)/(?P<id>.+)$")

EVENTSTREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
_PRELUDE = 12
_SMALLEST_MESSAGE = 16  # prelude + message CRC
# a message starts with its big-endian total length, which botocore caps below 2**25: its first byte is 0 or 1,
# so a resync jumps between such bytes instead of trying every offset
_LENGTH_START = re.compile(b"[\x00\x01]")
_NOT_A_MESSAGE = (ParserError, struct.error, KeyError, IndexError, ValueError, UnicodeDecodeError)

_BEDROCK_NS = "http://internal.amazon.com/coral/com.amazon.bedrock/"
_CORAL_NS = "http://internal.amazon.com/coral/com.amazon.coral.service/"
# the codes Bedrock answers with; botocore raises ClientError with them (modelled ones as client.exceptions.X)
_ERROR_CODES: dict[ErrorKind, tuple[str, str]] = {
    ErrorKind.INVALID_REQUEST: ("ValidationException", _BEDROCK_NS),
    ErrorKind.AUTHENTICATION: ("UnrecognizedClientException", _CORAL_NS),  # AWS's answer to an unknown key
    ErrorKind.PERMISSION: ("AccessDeniedException", _BEDROCK_NS),
    ErrorKind.NOT_FOUND: ("ResourceNotFoundException", _BEDROCK_NS),
    ErrorKind.TOO_LARGE: ("ValidationException", _BEDROCK_NS),
    ErrorKind.RATE_LIMIT: ("ThrottlingException", _BEDROCK_NS),  # botocore retries these with backoff
    ErrorKind.QUOTA: ("ServiceQuotaExceededException", _BEDROCK_NS),  # not retried: a spent budget stays spent
    ErrorKind.UNAVAILABLE: ("ServiceUnavailableException", _BEDROCK_NS),
}


SERVICE = "bedrock"  # the SigV4 service name
#: InvokeModel's usage, in response headers only
USAGE_HEADERS = (
    "x-amzn-bedrock-input-token-count",
    "x-amzn-bedrock-output-token-count",
    "x-amzn-bedrock-cache-read-input-token-count",
    "x-amzn-bedrock-cache-write-input-token-count",
)
_RUNTIME_HOST = re.compile(r"bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com")


class AwsCredentialsConfig(BaseModel):
    """The gateway's own AWS credentials for signing Bedrock requests; all unset: botocore's standard chain."""

    model_config = ConfigDict(extra="forbid")

    access_key_id: str | None = Field(None, description="the key id, or env:NAME / file:PATH")
    secret_access_key: str | None = Field(None, description="env:NAME or file:PATH (never the secret itself)")
    session_token: str | None = Field(None, description="env:NAME or file:PATH")
    profile: str | None = Field(None, description="a shared-config profile")

    @field_validator("secret_access_key", "session_token")
    @classmethod
    def _ref(cls, v: str | None) -> str | None:
        if v is not None:
            parse_ref(v)
        return v

    @field_validator("access_key_id")
    @classmethod
    def _akid(cls, v: str | None) -> str | None:
        if v is not None and is_ref(v):
            parse_ref(v)
        return v

    @model_validator(mode="after")
    def _together(self) -> AwsCredentialsConfig:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("access_key_id and secret_access_key go together")
        if self.session_token and not self.access_key_id:
            raise ValueError("session_token needs access_key_id and secret_access_key")
        if self.profile and self.access_key_id:
            raise ValueError("give either a profile or explicit keys")
        return self

    def source(self, resolver: SecretResolver) -> AwsCredentialSource:
        secret = parse_ref(self.secret_access_key) if self.secret_access_key else None
        token = parse_ref(self.session_token) if self.session_token else None
        return AwsCredentialSource(resolver, self.access_key_id, secret, token, self.profile)


class BedrockSettings(ProviderSettings):
    """A bedrock entry's own fields."""

    region: str = Field(pattern=r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$", description="the AWS region, e.g. us-east-1")
    aws: AwsCredentialsConfig = Field(default_factory=AwsCredentialsConfig, description="Bedrock signing credentials")
    owner_aws: dict[str, AwsCredentialsConfig] = Field(
        default_factory=dict, description="Bedrock: per-owner signing credentials (team accounts)"
    )


class _Signer(UpstreamSigner):
    """One entry's signing credentials: the default ones and the per-owner ones (team accounts)."""

    def __init__(self, settings: BedrockSettings, secrets: SecretResolver) -> None:
        self.region = settings.region
        self.default = settings.aws.source(secrets)
        self.per_owner = {owner: c.source(secrets) for owner, c in settings.owner_aws.items()}

    async def sign(self, owner: str, method: str, url: str, body: bytes) -> UpstreamRewrite:
        source = self.per_owner.get(owner, self.default)
        # the standard chain may refresh over the network: keep it off the loop
        creds = await asyncio.to_thread(source.get) if source.uses_chain else source.get()
        return sign_upstream(method, url, body, creds, self.region, SERVICE)


def parse_operation(path: str) -> tuple[str, str] | None:
    """``(model id, operation)`` of ``/model/{modelId}/{operation}``, the id URL-decoded."""
    m = OPERATION_RE.match(path)
    if not m:
        return None
    return unquote(m.group("model")), m.group("op")


class Bedrock(Provider, SignsUpstream, ChecksClientSignature):
    name = "bedrock"
    #: bearer tokens only (Bedrock API keys); a SigV4 Authorization is read by ``client_credential``
    key_sources = ("authorization",)
    slashes_in_names = True  # ARNs travel in one segment, their '/' as %2F
    settings_model = BedrockSettings
    key_header = None  # the gateway signs every request upstream
    # x-amz-content-sha256: removed, as a client's may not match the body sent (a DLP redaction)
    signature_headers = ("authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256")
    usage_headers = USAGE_HEADERS
    stream_content_types = (EVENTSTREAM_CONTENT_TYPE,)
    price_sources = ("bedrock", "bedrock_converse")
    price_fallbacks = ("anthropic",)  # Claude on Bedrock bills Anthropic's list prices
    model_id_prefixes = ("bedrock/", "bedrock_converse/")

    def default_entry(self) -> dict[str, Any] | None:
        return {"region": "us-east-1"}  # upstream: bedrock-runtime.<region>.amazonaws.com

    def upstream_for(self, entry: Mapping[str, Any]) -> str | None:
        region = entry.get("region")
        return f"https://bedrock-runtime.{region}.amazonaws.com" if isinstance(region, str) and region else None

    def check_settings(self, settings: ProviderSettings, upstream: str) -> None:
        region = cast(BedrockSettings, settings).region
        m = _RUNTIME_HOST.fullmatch(urlsplit(upstream).hostname or "")
        if m and m.group(1) != region:
            raise ValueError(f"upstream is in {m.group(1)} but region is {region}: signatures would fail")

    def upstream_signer(self, settings: ProviderSettings, secrets: SecretResolver) -> UpstreamSigner:
        return _Signer(cast(BedrockSettings, settings), secrets)

    def check_client_signature(
        self, request: SignedRequest, secret_lookup: Callable[[str], str | None], now: float
    ) -> None:
        r = request
        try:
            verify_client_signature(r.method, r.raw_uri, r.headers, r.body, secret_lookup, now, SERVICE, host=r.host)
        except SignatureError as e:
            raise SignatureRejected(e.message, e.code) from None

    def client_credential(self, headers: Mapping[str, str], query: str = "") -> ClientCredential | None:
        """The SigV4 access key id of ``Authorization: AWS4-HMAC-SHA256 Credential=AKID/...``, or a bearer token."""
        value = _get(headers, "authorization")
        if value and value.lstrip().upper().startswith("AWS4-HMAC-SHA256"):
            auth = parse_authorization(value)
            return ClientCredential("sigv4", auth.access_key_id) if auth else None
        token = extract_key(_lower(headers), query, self.key_sources)
        return ClientCredential("bearer", token) if token else None

    def model_from_request(self, path: str, body: dict | None) -> str | None:
        op = parse_operation(path)
        if op is None:
            return None
        m = _ARN_MODEL_RE.match(op[0])
        return m.group("id") if m else op[0]

    def stream_requested(self, path: str, body: dict | None) -> bool:
        op = parse_operation(path)
        return op is not None and op[1] in STREAM_OPERATIONS

    def max_output_tokens(self, path: str, body: dict, limit: int) -> int:
        """Converse's ``inferenceConfig.maxTokens``, or the native body's own field: Anthropic's and
        Mistral's, Cohere's ``max_tokens``, Nova's ``inferenceConfig.max_new_tokens``, Llama's
        ``max_gen_len``, Titan's ``textGenerationConfig.maxTokenCount``."""
        if "anthropic_version" in body:
            return anthropic.PROVIDER.max_output_tokens(path, body, limit)
        inference = body.get("inferenceConfig")
        titan = body.get("textGenerationConfig")
        for container, field in (
            (inference, "maxTokens"),
            (inference, "max_new_tokens"),
            (titan, "maxTokenCount"),
            (body, "max_gen_len"),
            (body, "max_tokens"),
        ):
            if isinstance(container, dict) and container.get(field) is not None:
                return output_cap(container[field], limit)
        return limit

    def prompt_fields(self, body: dict) -> PromptTexts:
        """Converse (and Nova's native body): system and message content blocks, prompt variables;
        other native bodies by shape (Anthropic's Messages, OpenAI-style messages, prompt strings, Cohere)."""
        if "anthropic_version" in body:
            return anthropic.PROVIDER.prompt_fields(body)
        out: PromptTexts = []
        _add_blocks(out, body.get("system"), ("system",))
        messages = body.get("messages")
        for i, m in enumerate(messages if isinstance(messages, list) else ()):
            if isinstance(m, dict):
                _add_blocks(out, m.get("content"), ("messages", i, "content"))
        variables = body.get("promptVariables")  # a managed prompt, filled in with these
        for name, value in variables.items() if isinstance(variables, dict) else ():
            if isinstance(value, dict) and isinstance(value.get("text"), str):
                out.append((("promptVariables", name, "text"), value["text"]))
        for field in ("prompt", "inputText", "message"):  # Llama, Mistral, DeepSeek; Titan; Cohere
            if isinstance(body.get(field), str):
                out.append(((field,), body[field]))
        history = body.get("chat_history")  # Cohere
        for i, turn in enumerate(history if isinstance(history, list) else ()):
            if isinstance(turn, dict) and isinstance(turn.get("message"), str):
                out.append((("chat_history", i, "message"), turn["message"]))
        add_parts(out, body.get("texts"), ("texts",), ())  # Cohere embeddings
        return out

    def error_body(self, status: int, message: str, kind: ErrorKind) -> bytes:
        """Bedrock's ``{"message": ...}``; ``__type`` too, so botocore finds the code without the header."""
        return orjson.dumps({"message": message, "__type": _ERROR_CODES[kind][0]})

    def error_headers(self, kind: ErrorKind, code: str | None = None) -> dict[str, str]:
        """``x-amzn-ErrorType``, where botocore reads the error code first; ``code`` overrides the kind's."""
        default, namespace = _ERROR_CODES[kind]
        return {"x-amzn-ErrorType": f"{code or default}:{namespace}"}

    def error_status(self, kind: ErrorKind, status: int) -> int:
        """The status to answer with: Bedrock sends ServiceQuotaExceededException as 400, and botocore
        retries any 429, which a spent budget would only prolong."""
        return 400 if kind is ErrorKind.QUOTA else status

    def usage_from_json(self, body: dict) -> Usage:
        """Converse's ``usage``, or an InvokeModel native body (Anthropic, Nova, Llama, Titan, OpenAI-style)."""
        usage = body.get("usage")
        if isinstance(usage, dict):
            if "inputTokens" in usage or "outputTokens" in usage:  # Converse; Nova's native body
                return _counts(
                    usage.get("inputTokens"),
                    usage.get("outputTokens"),
                    usage.get("cacheReadInputTokens", usage.get("cacheReadInputTokenCount")),
                    usage.get("cacheWriteInputTokens", usage.get("cacheWriteInputTokenCount")),
                )
            if "input_tokens" in usage or "output_tokens" in usage:  # Anthropic Messages
                return dataclasses.replace(anthropic.PROVIDER.usage_from_json(body), model=None)
            if "prompt_tokens" in usage or "completion_tokens" in usage:  # OpenAI-style natives
                return _counts(usage.get("prompt_tokens"), usage.get("completion_tokens"), None, None)
        if "prompt_token_count" in body or "generation_token_count" in body:  # Llama
            return _counts(body.get("prompt_token_count"), body.get("generation_token_count"), None, None)
        if "inputTextTokenCount" in body:  # Titan Text
            results = body.get("results")
            outs = (
                [as_int(r.get("tokenCount")) for r in results if isinstance(r, dict)]
                if isinstance(results, list)
                else []
            )
            out = sum(o for o in outs if o is not None) if any(o is not None for o in outs) else None
            return _counts(body.get("inputTextTokenCount"), out, None, None)
        metrics = body.get("amazon-bedrock-invocationMetrics")
        return _metrics_usage(metrics) if isinstance(metrics, dict) else Usage()

    def usage_from_headers(self, headers: Mapping[str, str]) -> Usage | None:
        """InvokeModel's ``x-amzn-bedrock-*-token-count`` response headers, or None when absent (AI21, Cohere)."""
        h = _lower(headers)
        fresh, output, cache_read, cache_write = (_header_int(h, name) for name in USAGE_HEADERS)
        if fresh is None and output is None:
            return None
        return _counts(fresh, output, cache_read, cache_write)

    def events(self, body: bytes) -> list[dict]:
        """The whole messages of a (possibly cut) event stream, as dicts.

        Each is ``{"event": name, "message_type": "event"|"exception"|"error", "data": payload}``;
        a ``chunk`` (InvokeModelWithResponseStream) also has ``"native"``: the model's own
        event, decoded from ``data.bytes``.
        """
        return [_event(m) for m in _messages(body)]

    def rejoin(self, capture: Capture) -> bytes:
        """Binary frames are not lines: keep the bytes as they are, ``events`` skips to the
        first whole message after each gap (each message carries its length and CRCs)."""
        return capture.data

    def usage_from_events(self, events: Iterable[dict]) -> Usage:
        """ConverseStream's ``metadata``; else a chunk's ``amazon-bedrock-invocationMetrics`` (the last one);
        else, for a cut stream, what the model's native events said (Anthropic's ``message_start``)."""
        metadata = None
        natives: list[dict] = []
        for e in events:
            if e.get("event") == "metadata" and isinstance(e["data"].get("usage"), dict):
                metadata = e["data"]["usage"]
            elif isinstance(e.get("native"), dict):
                natives.append(e["native"])
        if metadata is not None:
            return self.usage_from_json({"usage": metadata})
        for native in reversed(natives):
            metrics = native.get("amazon-bedrock-invocationMetrics")
            if isinstance(metrics, dict):
                return _metrics_usage(metrics)
        if any(n.get("type") == "message_start" for n in natives):
            return dataclasses.replace(anthropic.PROVIDER.usage_from_events(natives), model=None)
        for native in reversed(natives):  # Nova's native stream repeats Converse's metadata
            if isinstance(native.get("metadata"), dict) and isinstance(native["metadata"].get("usage"), dict):
                return self.usage_from_json(native["metadata"])
        return Usage()

    def text_from_events(self, events: Iterable[dict]) -> str:
        out: list[str] = []
        natives: list[dict] = []
        for e in events:
            if e.get("event") == "contentBlockDelta" and isinstance(e["data"].get("delta"), dict):
                delta = e["data"]["delta"]
                tool = delta.get("toolUse")
                reasoning = delta.get("reasoningContent")
                for value in (
                    delta.get("text"),
                    tool.get("input") if isinstance(tool, dict) else None,
                    reasoning.get("text") if isinstance(reasoning, dict) else None,
                ):
                    if isinstance(value, str):
                        out.append(value)
            elif isinstance(e.get("native"), dict):
                natives.append(e["native"])
        if natives:
            out.append(anthropic.PROVIDER.text_from_events(natives))
            for native in natives:  # Llama / Titan / Claude text completions
                for field in ("generation", "outputText", "completion"):
                    if isinstance(native.get(field), str):
                        out.append(native[field])
        return "".join(out)


def _add_blocks(out: PromptTexts, value: object, path: JsonPath) -> None:
    """A string, or Converse content blocks: text, guarded text, text documents, search results,
    tool calls' input, tool results (text, JSON, documents). Not scanned: images, video, documents
    sent as bytes (encoded), reasoning (signed), citations (the model's own output)."""
    if isinstance(value, str):
        out.append((path, value))
        return
    for j, block in enumerate(value if isinstance(value, list) else ()):
        if isinstance(block, dict):
            for key, field in block.items():
                add = _BLOCK_TEXT.get(key)
                if add is not None:
                    add(out, field, (*path, j, key))


def _add_text(out: PromptTexts, value: object, path: JsonPath) -> None:
    if isinstance(value, str):
        out.append((path, value))


def _add_guarded(out: PromptTexts, value: object, path: JsonPath) -> None:
    text = value.get("text") if isinstance(value, dict) else None  # {"text": {"text": ..., "qualifiers": [...]}}
    if isinstance(text, dict) and isinstance(text.get("text"), str):
        out.append(((*path, "text", "text"), text["text"]))


def _add_document(out: PromptTexts, value: object, path: JsonPath) -> None:
    if not isinstance(value, dict):
        return
    _add_text(out, value.get("context"), (*path, "context"))
    source = value.get("source")
    if isinstance(source, dict):
        _add_text(out, source.get("text"), (*path, "source", "text"))
        add_parts(out, source.get("content"), (*path, "source", "content"))


def _add_search_result(out: PromptTexts, value: object, path: JsonPath) -> None:
    if isinstance(value, dict):
        _add_text(out, value.get("title"), (*path, "title"))
        add_parts(out, value.get("content"), (*path, "content"))


def _add_tool_use(out: PromptTexts, value: object, path: JsonPath) -> None:
    if isinstance(value, dict):
        add_leaves(out, value.get("input"), (*path, "input"))


def _add_tool_result(out: PromptTexts, value: object, path: JsonPath) -> None:
    if isinstance(value, dict):
        _add_blocks(out, value.get("content"), (*path, "content"))


#: content block member -> what the model reads in it (``json``: a tool result's JSON, every string)
_BLOCK_TEXT = {
    "text": _add_text,
    "guardContent": _add_guarded,
    "document": _add_document,
    "searchResult": _add_search_result,
    "toolUse": _add_tool_use,
    "toolResult": _add_tool_result,
    "json": add_leaves,
}


def _counts(fresh: object, output: object, cache_read: object, cache_write: object) -> Usage:
    """Bedrock's counts -> Usage; its input count excludes the cached prompt tokens, ours includes them."""
    fresh_n, out_n = as_int(fresh), as_int(output)
    read_n, write_n = as_int(cache_read), as_int(cache_write)
    total = None if fresh_n is None else fresh_n + (read_n or 0) + (write_n or 0)
    return Usage(
        input_tokens=total,
        output_tokens=out_n,
        cache_read_tokens=read_n,
        cache_write_tokens=write_n,
        usage_source="provider" if total is not None or out_n is not None else "none",
    )


def _metrics_usage(metrics: dict) -> Usage:
    return _counts(
        metrics.get("inputTokenCount"),
        metrics.get("outputTokenCount"),
        metrics.get("cacheReadInputTokenCount"),
        metrics.get("cacheWriteInputTokenCount"),
    )


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _get(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers[name].strip())
    except (KeyError, ValueError):
        return None


# --- event streams: botocore decodes and checks CRCs; here only where a message starts


def _messages(body: bytes) -> Iterator[EventStreamMessage]:
    """Every whole, CRC-valid message. Bytes where none starts (a capture that dropped its middle,
    a message cut by the end of the capture) are skipped until a message decodes again."""
    pos = 0
    while len(body) - pos >= _SMALLEST_MESSAGE:
        message = _message_at(body, pos)
        if message is not None:
            yield message
            pos += message.prelude.total_length
            continue
        candidate = _LENGTH_START.search(body, pos + 1)
        if candidate is None:
            return
        pos = candidate.start()


def _message_at(body: bytes, pos: int) -> EventStreamMessage | None:
    (total, headers_length, _), _ = DecodeUtils.unpack_prelude(body[pos : pos + _PRELUDE])
    if not _SMALLEST_MESSAGE <= total <= len(body) - pos or headers_length > total - _SMALLEST_MESSAGE:
        return None  # cannot be a whole message: random bytes almost always stop here, before any copy
    buf = EventStreamBuffer()
    buf.add_data(body[pos : pos + total])
    try:
        return next(buf)  # botocore checks the prelude and message CRCs and parses the headers
    except (StopIteration, *_NOT_A_MESSAGE):
        return None


def _event(message: EventStreamMessage) -> dict:
    h = message.headers
    name = h.get(":event-type") or h.get(":exception-type") or h.get(":error-code") or ""
    try:
        data = orjson.loads(message.payload) if message.payload else {}
    except orjson.JSONDecodeError:
        data = {}
    event = {
        "event": name,
        "message_type": h.get(":message-type", "event"),
        "data": data if isinstance(data, dict) else {},
    }
    if name == "chunk" and isinstance(event["data"].get("bytes"), str):
        native = _native(event["data"]["bytes"])
        if native is not None:
            event["native"] = native
    return event


def _native(b64: str) -> dict | None:
    """A chunk's ``bytes``: base64 of the model's own JSON event."""
    try:
        doc = orjson.loads(base64.b64decode(b64, validate=True))
    except (binascii.Error, ValueError):  # orjson.JSONDecodeError is a ValueError
        return None
    return doc if isinstance(doc, dict) else None


PROVIDER = Bedrock()
