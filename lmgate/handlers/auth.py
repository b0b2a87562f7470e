"""POST /auth: nginx's per-request question. Allow with a handoff, or refuse in the provider's shape.

nginx forwards the client's headers and body unchanged, plus ``X-Lmgate-Provider``
(the configured provider entry), ``X-Lmgate-Uri`` (the raw request URI) and
``X-Lmgate-Request-Id``. Any answer without ``X-Lmgate-Verdict`` makes nginx
fail closed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from functools import partial

from multidict import CIMultiDict

from lmgate.allowlist import KeyEntry
from lmgate.dlp.gate import DlpBlocked
from lmgate.errors import GateError, InvalidRequest, TooLarge, Unauthorized, render
from lmgate.fastpath import Reply, Settled
from lmgate.gateway import Gateway, Route
from lmgate.handoff import CTX_HEADER, MAX_ENDPOINT, MAX_MODEL, Handoff, client_text
from lmgate.judged import AmbiguousPath, judged_path, read_only
from lmgate.key_state import check_usable
from lmgate.keys import credential_places, describe_places, mask_key
from lmgate.lograte import RateLimitedLog
from lmgate.policies.base import TOO_MANY_PARALLEL, Decision, RequestFacts
from lmgate.policies.reservation import reservation_usd
from lmgate.providers.base import (
    ChecksClientSignature,
    ClientCredential,
    ErrorKind,
    SignatureRejected,
    SignedRequest,
)
from lmgate.request_json import AmbiguousJson, parse_object
from lmgate.rewrite import UpstreamRewrite
from lmgate.stats.build import refusal_record
from lmgate.stats.record import StatsRecord
from lmgate.tokens import count_tokens
from lmgate.upstream_auth import RequestView, with_client_keys

log = logging.getLogger("lmgate.auth")
_LATE = RateLimitedLog(log, logging.WARNING)
_UNDELIVERED = RateLimitedLog(log, logging.WARNING)
_UNDOING: set[asyncio.Future] = set()  # undo tasks of answers nginx never got, referenced until done

VERDICT_HEADER = "X-Lmgate-Verdict"
ASKED_HEADER = "X-Lmgate-Asked"  # nginx's $msec when it asked: the answer is late after sidecar.auth_timeout
LATE_MARGIN = 0.1  # of auth_timeout: an answer ready later than 90% of it gives no verdict
#: an answer without a verdict: nginx (if it still waits) fails closed with its 503 and writes the only line
NO_VERDICT: Reply = (504, {}, b"lmgate: answered after nginx stopped waiting")
BIG_BODY = 256 * 1024  # parse larger JSON bodies off the event loop
# count the prompt tokens of larger bodies off the event loop: ~0.3 ms of CPU per 16 KB of text (tiktoken
# releases the GIL); every request of a budgeted key counts them with budget_mode reserve
COUNT_INLINE_MAX = 16 * 1024


async def auth(gw: Gateway, headers: CIMultiDict, body: bytes, args: dict[str, str]) -> Reply | Settled:
    if _nginx_gave_up(gw, headers):  # e.g. a stalled sidecar's backlog: judge nothing, commit nothing
        return NO_VERDICT
    route = gw.routes.get(headers.get("X-Lmgate-Provider", ""))
    if route is None:  # nginx and sidecar rendered from different configs
        log.error("auth asked for unknown provider %r", headers.get("X-Lmgate-Provider"))
        return 500, {}, b"unknown provider"
    raw_uri = headers.get("X-Lmgate-Uri", "")
    upstream_uri = raw_uri[len(route.config.prefix) :]
    path, _, query = upstream_uri.partition("?")
    method = headers.get("X-Lmgate-Method", "POST")
    cred = route.api.client_credential(headers, query)
    handoff = Handoff(masked_key=mask_key(cred.key if cred else None), endpoint=client_text(path, MAX_ENDPOINT))
    try:
        _one_credential(headers, query)
        entry = _authenticate(gw, route, cred)
        handoff.key_id, handoff.owner = entry.id, entry.owner
        _check_signature(gw, route, headers, cred, entry, raw_uri, body)
        check_usable(entry, cred.key, time.time())  # disabled, expired: after the signature, which proves the key
        path = _judged_path(route, path)
        doc = await _json_body(body)
        model = route.api.model_from_request(path, doc)  # judged whole; the handoff keeps it cut
        handoff.model = None if model is None else client_text(model, MAX_MODEL)
        handoff.stream = route.api.stream_requested(path, doc)
        facts = RequestFacts(
            key_id=entry.id,
            owner=entry.owner,
            model=model,
            provider=route.name,
            now=time.time(),
            key_limits=entry.limits,
            owner_limits=gw.policies.owner_limits(entry.owner),
            request_id=headers.get("X-Lmgate-Request-Id", ""),
            read_only=read_only(method, headers, query),
        )
        verdict = gw.policies.precheck(facts)
        if verdict is not None:
            raise verdict.as_gate_error()
        # Every judgement that commits nothing (DLP, the upstream credential) comes before the one that
        # does, so a refused request consumes nothing: no rpm hit, no max_parallel slot, not even for a
        # moment (a refund could not promise that: a request meanwhile would see the slot taken). The
        # price: a key over its limits still has its prompt scanned before its 429 (only with DLP on for
        # it, and bounded by dlp.max_scan_ms); limits guard the provider account, which it never reaches.
        handoff.dlp, redacted = await gw.dlp.check(route.config.kind, entry, body, doc)
        if redacted is not None and len(redacted) > gw.config.server.max_body_size:
            # placeholders can be longer than what they replace; nginx fetches at most max_body_size
            raise TooLarge(
                f"lmgate: with its findings redacted the request body would be {len(redacted)} bytes, "
                f"over the gateway limit of {int(gw.config.server.max_body_size)}"
            )
        forwarded = body if redacted is None else redacted
        view = RequestView(method, forwarded, headers)
        rewrite = await gw.upstream.rewrite(route.name, route.config, entry, upstream_uri, view)
        if redacted is not None:  # a pass-through key keeps its own headers on the rewrite path
            rewrite = rewrite or with_client_keys(UpstreamRewrite(), headers)
            rewrite.body = redacted
        prompt_tokens = None
        if gw.policies.reserves(facts) and not facts.read_only:  # budget_mode reserve, and a budget applies
            prompt_tokens = await _prompt_tokens(route, doc, len(body)) if doc is not None else 0
            price = gw.prices.lookup(route.api.name, model)
            facts = dataclasses.replace(facts, reserve_usd=reservation_usd(route.api, path, doc, price, prompt_tokens))
        decision = await _decide(gw, facts)  # judges and commits the counted rules in one store call
        if decision.verdict is not None:
            raise decision.verdict.as_gate_error()
    except GateError as err:
        if isinstance(err, DlpBlocked):
            handoff.dlp = err.dlp
        return _refuse(gw, route, headers, handoff, err)
    handoff.lease = decision.lease_id
    try:
        if handoff.stream and doc is not None and not route.api.usage_in_stream(path, doc):
            handoff.prompt_estimate = (
                prompt_tokens if prompt_tokens is not None else await _prompt_tokens(route, doc, len(body))
            )
        reply = None if _nginx_gave_up(gw, headers) else allow_response(gw, handoff, rewrite)
    except BaseException:  # no answer nginx can use (a 500 is a 503 to the client): undo what was committed
        await gw.policies.undo(facts, decision)
        raise
    if reply is None:
        await gw.policies.undo(facts, decision)
        return NO_VERDICT
    if decision.lease_id is None:  # nothing committed, nothing to undo
        return reply
    return Settled(*reply, settle=partial(_settle_allow, gw, facts, decision, reply[1]))


async def _decide(gw: Gateway, facts: RequestFacts) -> Decision:
    decision = await gw.policies.decide(facts, prechecked=True)
    if _slot_taken(decision) and await gw.stats_intake.catch_up():
        # nginx logs a request before it reads the next one on that connection: a client sending one
        # request after another finds its previous request's slot in the spool, not yet read
        decision = await gw.policies.decide(facts, prechecked=True)
    return decision


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
    api = route.api
    if not isinstance(api, ChecksClientSignature):  # only such a provider reads a signed credential
        raise Unauthorized(f"lmgate: {route.name} does not take signed requests")
    method, host = headers.get("X-Lmgate-Method", "POST"), headers.get("X-Lmgate-Host")
    try:
        signed = SignedRequest(method, raw_uri, headers, body, host)
        api.check_client_signature(signed, lambda _key_id: gw.upstream.client_secret(entry), time.time())
    except SignatureRejected as e:
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
    if size > COUNT_INLINE_MAX:
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


def _refuse(gw: Gateway, route: Route, headers: CIMultiDict, handoff: Handoff, err: GateError) -> Reply | Settled:
    """The refusal in the provider's shape; its stats line is written once nginx has it (else nginx's 503
    line is the request's only one)."""
    if _nginx_gave_up(gw, headers):
        return NO_VERDICT
    status = route.api.error_status(err.kind, err.status)
    record = refusal_record(
        route=route.name,
        handoff=handoff,
        status=status,
        error_type=err.error_type,
        request_id=headers.get("X-Lmgate-Request-Id", ""),
        now=time.time(),
    )
    answer = {VERDICT_HEADER: "deny", "Content-Type": "application/json", **route.api.error_headers(err.kind)}
    answer.update(err.headers)
    return Settled(status, answer, render(route.api, err), partial(_settle_refusal, gw, record))


def _settle_refusal(gw: Gateway, record: StatsRecord, delivered: bool) -> None:
    if delivered:
        gw.writer.write(record)
    else:
        _UNDELIVERED.event("a refusal found nginx gone (it stopped waiting, or its client left): no stats line")


def _settle_allow(
    gw: Gateway, facts: RequestFacts, decision: Decision, headers: dict[str, str], delivered: bool
) -> None:
    if delivered:
        return
    _UNDELIVERED.event("an allow found nginx gone (it stopped waiting, or its client left): its counts undone")
    body_id = headers.get("X-Lmgate-Body")
    if body_id is not None:
        gw.bodies.take(body_id)
    task = asyncio.ensure_future(gw.policies.undo(facts, decision))
    _UNDOING.add(task)
    task.add_done_callback(_UNDOING.discard)


def _nginx_gave_up(gw: Gateway, headers: CIMultiDict) -> bool:
    """Whether nginx has stopped waiting for this answer, or may have: ``X-Lmgate-Asked`` (nginx's clock
    when it asked, the same machine's) is more than ``sidecar.auth_timeout`` minus a margin ago. The
    margin is for the answer's way back: one racing the timeout errs on the side of no verdict."""
    asked = headers.get(ASKED_HEADER)
    if not asked:
        return False
    try:
        waited = time.time() - float(asked)
    except ValueError:
        return False
    if not waited > gw.config.sidecar.auth_timeout * (1 - LATE_MARGIN):  # "not >": a NaN is no deadline
        return False
    _LATE.event(
        "/auth asked %.3f s ago, past sidecar.auth_timeout (nginx and the sidecar share a clock): "
        "no verdict, nothing kept",
        waited,
    )
    return True
