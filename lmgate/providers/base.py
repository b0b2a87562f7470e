"""The small interface every provider module implements, and its optional capabilities.

A provider module knows one API's wire format: where the key and the model are,
which text the model will read, what its error JSON looks like, and where usage
sits in a response or a stream. It also holds every other fact about its
provider: the default upstream, its own config fields, the header a held key
goes in, its price tables and the response headers that carry usage. It does no
I/O; the sidecar handlers call it.

Abilities only some providers have are small optional interfaces a provider
class also derives from (as Envoy AI Gateway's optional translator interfaces):
``SignsUpstream`` (the gateway signs each forwarded request, Bedrock's SigV4)
and ``ChecksClientSignature`` (a client may sign instead of sending a key).
Generic code asks ``isinstance(api, SignsUpstream)``, never which provider it is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict

from lmgate.errors import ErrorKind  # provider modules take it from their interface
from lmgate.keys import extract_key
from lmgate.streams import Capture, json_array_events, sse_events
from lmgate.usage import Usage

if TYPE_CHECKING:
    from lmgate.credentials import SecretResolver
    from lmgate.rewrite import UpstreamRewrite

#: a location inside a JSON document: keys and list indexes from the root
JsonPath = tuple[str | int, ...]
#: the strings of a request the model reads, each with its location (``Provider.prompt_fields``);
#: built by appending, which costs less than nested generators on long conversations
PromptTexts = list[tuple[JsonPath, str]]


@dataclass(frozen=True, slots=True)
class ClientCredential:
    """What identifies the client: an API key, a bearer token, or a SigV4 access key id (signature to check)."""

    scheme: Literal["key", "bearer", "sigv4"]
    key: str


#: a ``price_fallbacks`` entry: the price tables of LiteLLM providers no registered provider claims (groq, ...)
OTHER_PRICE_TABLES = "*"


class ProviderSettings(BaseModel):
    """A provider's own fields of its config block, beside ``kind``, ``upstream`` and ``prefix``.

    A provider with fields of its own (Bedrock's ``region``) subclasses this and
    names the subclass in ``Provider.settings_model``; a field no model declares
    is an error, as everywhere in the config.
    """

    model_config = ConfigDict(extra="forbid")


class Provider:
    """Base class; subclasses override what their API does differently."""

    #: registry key, also the ``kind`` a config provider entry names
    name: str = ""
    #: the upstream of the entry the gateway has unless the config switches it off (``name: ~``);
    #: None: the provider is there only when the config names it (``default_entry``)
    default_upstream: str | None = None
    #: the provider's own config fields (``ProviderSettings``: none)
    settings_model: type[ProviderSettings] = ProviderSettings
    #: where the gateway puts a provider key it holds (a virtual key's ``upstream_key``): a lower-case
    #: header name (one of its ``key_sources``) and the text before the key; None for a provider that
    #: signs instead (``SignsUpstream``)
    key_header: tuple[str, str] | None = ("authorization", "Bearer ")
    #: content types of this API's streamed answers (a stream the request did not announce is still read as one)
    stream_content_types: tuple[str, ...] = ("text/event-stream",)
    #: response headers that carry usage (read by ``usage_from_headers``); nginx logs them to the spool
    usage_headers: tuple[str, ...] = ()
    #: LiteLLM ``litellm_provider`` values whose prices are this kind's own table; a trailing ``*``
    #: matches a prefix (``vertex_ai*``: ``vertex_ai-language-models`` and the rest)
    price_sources: tuple[str, ...] = ()
    #: other kinds' tables read after its own, in order (``OTHER_PRICE_TABLES``: unclaimed providers)
    price_fallbacks: tuple[str, ...] = ()
    #: prefixes LiteLLM ids and clients put before this provider's model ids (``azure/gpt-4o``)
    model_id_prefixes: tuple[str, ...] = ()
    #: where a client key may be, in the order this API's SDK sends it:
    #: a lower-case header name, or ``?key`` for the query parameter
    key_sources: tuple[str, ...] = ("authorization", "x-api-key", "api-key", "x-goog-api-key", "?key")
    #: whether a name in the path may hold an encoded ``/`` (Bedrock's model ARNs); see lmgate/judged.py
    slashes_in_names: bool = False

    def default_entry(self) -> dict[str, Any] | None:
        """The config entry the gateway has unless the config switches it off; None: no default entry."""
        return None if self.default_upstream is None else {"upstream": self.default_upstream}

    def upstream_for(self, entry: Mapping[str, Any]) -> str | None:
        """The upstream of a config entry that names none, from its own fields (Bedrock's region)."""
        return None

    def check_settings(self, settings: ProviderSettings, upstream: str) -> None:
        """Checks of the provider's fields against the upstream; a ValueError says what is wrong."""

    def key_headers(self, key: str) -> dict[str, str]:
        """The rewrite headers that carry a held provider ``key`` (an ``UpstreamRewrite.headers`` value)."""
        if self.key_header is None:
            raise ValueError(f"{self.name} requests are signed, not keyed")
        name, before = self.key_header
        return {name: before + key}

    def client_credential(self, headers: Mapping[str, str], query: str) -> ClientCredential | None:
        key = extract_key(headers, query, self.key_sources)
        return ClientCredential("key", key) if key else None

    def model_from_request(self, path: str, body: dict | None) -> str | None:
        """The model the request will run (body for OpenAI/Anthropic, path for Gemini); ``path`` is
        as the provider reads it (``lmgate.judged.judged_path``)."""
        if body is not None:
            model = body.get("model")
            if isinstance(model, str):
                return model
        return None

    def stream_requested(self, path: str, body: dict | None) -> bool:
        return bool(body is not None and body.get("stream") is True)

    def usage_in_stream(self, path: str, body: dict | None) -> bool:
        """Whether a streamed answer to this request will carry the provider's own usage."""
        return True

    def prompt_fields(self, body: dict) -> Iterable[tuple[JsonPath, str]]:
        """Every string of ``body`` the model reads as text, with its location (DLP, estimates)."""
        return ()

    def max_output_tokens(self, path: str, body: dict, limit: int) -> int:
        """The most output tokens the request lets the model write, all its choices together (budget holds,
        ``policies/reservation.py``). ``limit`` is the model's own output limit: the cap when the request
        states none, and the ceiling of one it states."""
        return limit

    def error_body(self, status: int, message: str, kind: ErrorKind) -> bytes:
        """JSON error in this API's shape, so its SDK raises its own error class."""
        raise NotImplementedError

    def error_headers(self, kind: ErrorKind, code: str | None = None) -> dict[str, str]:
        """Headers the SDK reads the error from besides the body (Bedrock's x-amzn-ErrorType)."""
        return {}

    def error_status(self, kind: ErrorKind, status: int) -> int:
        """The status this API uses for a gateway error (Bedrock answers a spent quota with 400)."""
        return status

    def usage_from_json(self, body: dict) -> Usage:
        raise NotImplementedError

    def usage_from_events(self, events: Iterable[dict]) -> Usage:
        raise NotImplementedError

    def usage_from_headers(self, headers: Mapping[str, str]) -> Usage | None:
        """Usage some APIs report in response headers only (``usage_headers``, as nginx logged them)."""
        return None

    def text_from_events(self, events: Iterable[dict]) -> str:
        """The generated text of a stream, for an estimate when the stream carries no usage."""
        return ""

    def events(self, body: bytes) -> list[dict]:
        """A streamed body's events (SSE by default)."""
        return list(sse_events(body))

    def rejoin(self, capture: Capture) -> bytes:
        """A capture with missing bytes made parseable: line-framed streams drop the cut lines."""
        return capture.lines_joined()

    def usage_from_body(self, body: bytes, stream: bool) -> Usage:
        """Usage from a whole (decoded) response body: JSON, or a stream when ``stream``."""
        if stream:
            return self.usage_from_events(self.events(body))
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Usage()
        return self.usage_from_json(doc) if isinstance(doc, dict) else Usage()


class UpstreamSigner(ABC):
    """Signs requests for one config entry, with the credentials its settings name."""

    @abstractmethod
    async def sign(self, owner: str, method: str, url: str, body: bytes) -> UpstreamRewrite:
        """The headers that authenticate this exact request upstream, for the key's ``owner``.

        Raises ``credentials.SecretError`` or ValueError when the credentials cannot be had.
        May do I/O (a credential chain refreshing), off the event loop.
        """


class SignsUpstream(ABC):
    """Optional capability: the gateway signs each forwarded request (no key header upstream)."""

    #: the headers a signature sets, or that must not reach the upstream beside it (removed when not set)
    signature_headers: tuple[str, ...] = ()

    @abstractmethod
    def upstream_signer(self, settings: ProviderSettings, secrets: SecretResolver) -> UpstreamSigner:
        """The signer of one config entry (``settings``: its ``settings_model`` instance)."""


class SignatureRejected(Exception):
    """A client signature that does not hold. ``message`` is safe to show; ``code`` goes to ``error_headers``."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A client's request as it signed it: the raw URI (prefix included), its headers and body as
    received, and its own Host when a proxy replaced that header."""

    method: str
    raw_uri: str
    headers: Mapping[str, str]
    body: bytes
    host: str | None


class ChecksClientSignature(ABC):
    """Optional capability: a client may sign its request with a secret the gateway issued
    (``ClientCredential.scheme == "sigv4"``) instead of sending a key."""

    @abstractmethod
    def check_client_signature(
        self, request: SignedRequest, secret_lookup: Callable[[str], str | None], now: float
    ) -> None:
        """Raise ``SignatureRejected`` unless ``request`` is signed with ``secret_lookup(key id)``."""


def as_int(value: object) -> int | None:
    """A token count from JSON, or None: providers send null, omit it, or (rarely) floats."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def output_cap(stated: object, limit: int, choices: object = 1) -> int:
    """A request's output tokens at most: its stated cap (``limit`` when absent, never above it) times
    the number of choices it asks for (OpenAI's ``n``, Gemini's ``candidateCount``)."""
    cap = as_int(stated)
    per_choice = limit if cap is None or cap < 0 else min(cap, limit)
    n = as_int(choices)
    return per_choice * n if n is not None and n > 1 else per_choice


def add_parts(out: PromptTexts, value: object, path: JsonPath, text_keys: Collection[str] = ("text",)) -> None:
    """A plain string, or a list of content parts whose ``text_keys`` hold text (images etc. skipped)."""
    if isinstance(value, str):
        out.append((path, value))
    elif isinstance(value, list):
        for i, part in enumerate(value):
            if isinstance(part, str):
                out.append(((*path, i), part))
            elif isinstance(part, dict):
                for key, text in part.items():  # a part has few keys: cheaper than looking up each text key
                    if key in text_keys and isinstance(text, str):
                        out.append(((*path, i, key), text))


def add_leaves(out: PromptTexts, value: object, path: JsonPath) -> None:
    """Every string inside a JSON value (object values, list items, or the value itself).

    For what a model reads as JSON: tool-call arguments, function results.
    Object keys are not added: redaction replaces string values only.
    """
    if isinstance(value, str):
        out.append((path, value))
    elif isinstance(value, dict):
        for key, item in value.items():
            add_leaves(out, item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            add_leaves(out, item, (*path, i))


__all__ = [
    "OTHER_PRICE_TABLES",
    "ChecksClientSignature",
    "ErrorKind",
    "JsonPath",
    "PromptTexts",
    "Provider",
    "ProviderSettings",
    "SignatureRejected",
    "SignedRequest",
    "SignsUpstream",
    "UpstreamSigner",
    "add_leaves",
    "add_parts",
    "as_int",
    "json_array_events",
]
