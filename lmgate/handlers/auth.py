"""POST /auth: nginx's per-request question. Allow with a handoff, or refuse in the provider's shape.

nginx forwards the client's headers and body unchanged, plus ``X-Lmgate-Provider``
(the configured provider entry), ``X-Lmgate-Uri`` (the raw request URI) and
``X-Lmgate-Request-Id``. Any answer without ``X-Lmgate-Verdict`` makes nginx
fail closed.
"""

from __future__ import annotations

import asyncio
import logging
import time

from multidict import CIMultiDict

from lmgate.allowlist import KeyEntry
from lmgate.dlp.gate import DlpBlocked
from lmgate.errors import GateError, InvalidRequest, Unauthorized, render
from lmgate.fastpath import Reply
from lmgate.gateway import Gateway, Route
from lmgate.handoff import CTX_HEADER, Handoff
from lmgate.judged import AmbiguousPath, judged_path, read_only
from lmgate.keys import credential_places, describe_places, mask_key
from lmgate.policies.base import TOO_MANY_PARALLEL, Decision, RequestFacts
from lmgate.providers.base import ClientCredential, ErrorKind
from lmgate.request_json import AmbiguousJson, parse_object
from lmgate.rewrite import UpstreamRewrite
from lmgate.sigv4 import SignatureError, verify_client_signature
from lmgate.stats.build import refusal_record
from lmgate.tokens import count_tokens
from lmgate.upstream_auth import RequestView, with_client_keys

log = logging.getLogger("lmgate.auth")

VERDICT_HEADER = "X-Lmgate-Verdict"
BIG_BODY = 256 * 1024  # parse larger JSON bodies off the event loop


async def auth(gw: Gateway, headers: CIMultiDict, body: bytes, args: dict[str, str]) -> Reply:
    route = gw.routes.get(headers.get("X-Lmgate-Provider", ""))
    if route is None:  # nginx and sidecar rendered from different configs
        log.error("auth asked for unknown provider %r", headers.get("X-Lmgate-Provider"))
        return 500, {}, b"unknown provider"
    raw_uri = headers.get("X-Lmgate-Uri", "")
    upstream_uri = raw_uri[len(route.config.prefix) :]
    path, _, query = upstream_uri.partition("?")
    method = headers.get("X-Lmgate-Method", "POST")
    cred = route.api.client_credential(headers, query)
    handoff = Handoff(masked_key=mask_key(cred.key if cred else None), endpoint=path)
    try:
        _one_credential(headers, query)
        entry = _authenticate(gw, route, cred)
        handoff.key_id, handoff.owner = entry.id, entry.owner
        _check_signature(gw, route, headers, cred, entry, raw_uri, body)
        path = _judged_path(route, path)
        doc = await _json_body(body)
        handoff.model = route.api.model_from_request(path, doc)
        handoff.stream = route.api.stream_requested(path, doc)
        facts = RequestFacts(
            key_id=entry.id,
            owner=entry.owner,
            model=handoff.model,
            provider=route.name,
            now=time.time(),
            key_limits=entry.limits,
            owner_limits=gw.policies.owner_limits(entry.owner),
            request_id=headers.get("X-Lmgate-Request-Id", ""),
            read_only=read_only(method, headers, query),
        )
        decision = await gw.policies.decide(facts)
        if _slot_taken(decision) and await gw.stats_intake.catch_up():
            # nginx logs a request before it reads the next one on that connection: a client sending one
            # request after another finds its previous request's slot in the spool, not yet read
            decision = await gw.policies.decide(facts)
        if decision.verdict is not None:
            raise decision.verdict.as_gate_error()
        handoff.lease = decision.lease_id
        try:
            if handoff.stream and doc is not None and not route.api.usage_in_stream(path, doc):
                handoff.prompt_estimate = await _prompt_tokens(route, doc, len(body))
            handoff.dlp, redacted = await gw.dlp.check(route.config.kind, entry, body, doc)
            forwarded = body if redacted is None else redacted
            view = RequestView(method, forwarded, headers)
            rewrite = await gw.upstream.rewrite(route.name, route.config, entry, upstream_uri, view)
            if redacted is not None:  # a pass-through key keeps its own headers on the rewrite path
                rewrite = rewrite or with_client_keys(UpstreamRewrite(), headers)
                rewrite.body = redacted
        except GateError:
            if decision.lease_id:  # refused after the policies counted it: give the slot back
                await gw.policies.release(decision.lease_id, entry.id, entry.owner)
            raise
    except GateError as err:
        if isinstance(err, DlpBlocked):
            handoff.dlp = err.dlp
        return _refuse(gw, route, headers, handoff, err)
    return allow_response(gw, handoff, rewrite)


def _slot_taken(decision: Decision) -> bool:
    return decision.verdict is not None and decision.verdict.error_type == TOO_MANY_PARALLEL


def _check_signature(
    gw: Gateway, route: Route, headers: CIMultiDict, cred: ClientCredential, entry: KeyEntry, raw_uri: str, body: bytes
) -> None:
    """A SigV4 request must be signed with the secret issued for its key id; that key id may sign only."""
    issued = "client_secret" in entry.extra
    if cred.scheme != "sigv4":
        if issued:  # the key id travels in clear in every signed request: it is no bearer secret
            raise Unauthorized("lmgate: this access key id must sign its requests (AWS SigV4)")
        return
    if not issued:
        raise Unauthorized("lmgate: this key is not a SigV4 access key; send it as a bearer token")
    try:
        verify_client_signature(
            headers.get("X-Lmgate-Method", "POST"),
            raw_uri,
            headers,
            body,
            lambda _key_id: gw.upstream.client_secret(entry),
            time.time(),
            host=headers.get("X-Lmgate-Host"),
        )
    except SignatureError as e:
        raise Unauthorized(e.message, headers=route.api.error_headers(ErrorKind.AUTHENTICATION, e.code)) from None


def allow_response(gw: Gateway, handoff: Handoff, rewrite: UpstreamRewrite | None) -> Reply:
    """204 + the handoff; with a rewrite, the replacement headers, URI and body for nginx to use."""
    headers = {VERDICT_HEADER: "allow", CTX_HEADER: handoff.encode()}
    if rewrite is not None:
        headers["X-Lmgate-Rewrite"] = "1"
        for name, value in rewrite.headers.items():
            headers["X-Lmgate-Set-" + name] = value
        if rewrite.uri is not None:
            headers["X-Lmgate-Upstream-Uri"] = rewrite.uri
        if rewrite.body is not None:
            headers["X-Lmgate-Body"] = gw.bodies.put(rewrite.body)
    return 204, headers, b""


def replacement_body(gw: Gateway, headers: CIMultiDict, body: bytes, args: dict[str, str]) -> Reply:
    """GET /body?id=…: a replacement body, handed out once."""
    data = gw.bodies.take(args.get("id", ""))
    if data is None:
        return 404, {}, b"no such body (expired or already taken)"
    return 200, {"Content-Type": "application/octet-stream"}, data


def _authenticate(gw: Gateway, route: Route, cred: ClientCredential | None) -> KeyEntry:
    if cred is None:
        raise Unauthorized(
            f"lmgate: no API key in the request; send your key as the {route.name} SDK does "
            f"({_where(route.api.key_sources)})"
        )
    entry = gw.allowlist.current.lookup(cred.key)
    if entry is None:
        raise Unauthorized(f"lmgate: API key {mask_key(cred.key)} is not on this gateway's allow-list")
    return entry


def _one_credential(headers: CIMultiDict, query: str) -> None:
    """nginx forwards every credential the client sent, and only one is checked: a second one would
    ride along unchecked, so a request with more than one is refused whole."""
    places = credential_places(headers, query)
    if len(places) > 1:
        raise Unauthorized(
            f"lmgate: the request carries more than one credential ({describe_places(places)}); "
            "send exactly one key, once"
        )


def _judged_path(route: Route, path: str) -> str:
    """The path as the provider will read it, which the rules judge; one it may read otherwise is refused."""
    try:
        return judged_path(path, slashes_in_names=route.api.slashes_in_names)
    except AmbiguousPath as e:
        raise InvalidRequest(f"lmgate: the request path {e}; send the path the provider should act on") from None


def _where(sources: tuple[str, ...]) -> str:
    names = {"authorization": "Authorization: Bearer", "?key": "?key= query parameter"}
    return ", ".join(names.get(s, s + " header") for s in sources[:2])


async def _prompt_tokens(route: Route, doc: dict, size: int) -> int:
    """Tokens of the prompt text, for a stream that will not report usage (counted off the loop if large)."""
    texts = [text for _, text in route.api.prompt_fields(doc)]
    if size > BIG_BODY:
        return await asyncio.to_thread(lambda: sum(count_tokens(t) for t in texts))
    return sum(count_tokens(t) for t in texts)


async def _json_body(body: bytes) -> dict | None:
    """The body's JSON object, None when it is none (the provider answers malformed JSON itself).

    A repeated key is refused: the provider's parser might act on the copy the rules did not judge.
    """
    try:
        return await asyncio.to_thread(parse_object, body) if len(body) > BIG_BODY else parse_object(body)
    except AmbiguousJson as err:
        raise InvalidRequest(f"lmgate: the JSON body repeats a key in one object ({err}); send each key once") from None


def _refuse(gw: Gateway, route: Route, headers: CIMultiDict, handoff: Handoff, err: GateError) -> Reply:
    status = route.api.error_status(err.kind, err.status)
    gw.writer.write(
        refusal_record(
            route=route.name,
            handoff=handoff,
            status=status,
            error_type=err.error_type,
            request_id=headers.get("X-Lmgate-Request-Id", ""),
            now=time.time(),
        )
    )
    answer = {VERDICT_HEADER: "deny", "Content-Type": "application/json", **route.api.error_headers(err.kind)}
    answer.update(err.headers)
    return status, answer, render(route.api, err)
