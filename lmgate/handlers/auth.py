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
from dataclasses import dataclass
from functools import partial

from multidict import CIMultiDict

from lmgate.allowlist import KeyEntry
from lmgate.errors import (
    ErrorKind,
    GateError,
    InvalidRequest,
    QuotaExceeded,
    TooLarge,
    TooManyParallel,
    Unauthorized,
    render,
)
from lmgate.fastpath import Reply, Settled
from lmgate.gateway import Gateway, Route
from lmgate.handoff import CTX_HEADER, MAX_ENDPOINT, MAX_MODEL, Handoff, client_text
from lmgate.judged import AmbiguousPath, judged_path, read_only
from lmgate.key_state import check_usable
from lmgate.keys import credential_places, describe_places, mask_key
from lmgate.lograte import RateLimitedLog
from lmgate.policies.base import Decision, RequestFacts
from lmgate.policies.reservation import reservation_usd
from lmgate.providers.base import ChecksClientSignature, ClientCredential, SignatureRejected, SignedRequest
from lmgate.request_json import AmbiguousJson, parse_object
from lmgate.rewrite import UpstreamRewrite
from lmgate.stats.build import refusal_record
from lmgate.stats.record import StatsRecord
from lmgate.tokens import count_tokens
from lmgate.tokens import ready as tokens_ready
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
# releases the GIL); counted for streams without usage, and for budget holds near their budget
COUNT_INLINE_MAX = 16 * 1024


@dataclass(slots=True)
class AuthRequest:
    """One /auth question and what the steps learn about it, in the order they learn it."""

    gw: Gateway
    route: Route
    headers: CIMultiDict
    body: bytes
    raw_uri: str
    upstream_uri: str  # the raw URI without the provider's prefix
    path: str  # then as the provider reads it (``_read``)
    query: str
    cred: ClientCredential | None
    handoff: Handoff
    asked: float | None  # nginx's clock when it asked (``_asked``)
    entry: KeyEntry | None = None
    doc: dict | None = None
    facts: RequestFacts | None = None
    redacted: bytes | None = None  # the body DLP redacted, to forward instead
    rewrite: UpstreamRewrite | None = None
    prompt_tokens: int | None = None  # counted for a budget hold near its budget (``_hold_and_decide``)
    decision: Decision | None = None  # its lease_id: what the counted rules committed
    kept: bool = False  # the answer carries the decision: nginx will report or undo it


async def auth(gw: Gateway, headers: CIMultiDict, body: bytes, args: dict[str, str]) -> Reply | Settled:
    """The lifecycle of DEVELOPMENT.md: every judgement that commits nothing first, the counted rules last.

    A refused request consumes nothing: no rpm hit, no max_parallel slot, not even for a moment (a
    refund could not promise that: a request meanwhile would see the slot taken). The price: a key over
    its limits still has its prompt scanned before its 429 (only with DLP on for it, and bounded by
    dlp.max_scan_ms); limits guard the provider account, which it never reaches.
    """
    asked = _asked(headers)  # read once: the answer is checked against it again before it goes out
    if _nginx_gave_up(gw, asked):  # e.g. a stalled sidecar's backlog: judge nothing, commit nothing
        return NO_VERDICT
    req = _request(gw, headers, body, asked)
    if req is None:  # nginx and sidecar rendered from different configs
        log.error("auth asked for unknown provider %r", headers.get("X-Lmgate-Provider"))
        return 500, {}, b"unknown provider"
    try:
        _identify(req)  # one credential, on the allow-list, its signature, not disabled or expired
        req.path = _judged_path(req.route, req.path)  # as the provider will read it
        _read(req, _json(body) if len(body) <= BIG_BODY else await asyncio.to_thread(_json, body))  # model, stream
        _precheck(req)  # the pure policies (models)
        if gw.dlp.mode_for(req.entry) != "off":  # type: ignore[arg-type]
            await _scan(req)  # DLP, a step like the policies: block, redact or pass
        await _upstream_credential(req)  # the key the provider gets (virtual key, SigV4)
        if gw.policies.reserves(req.facts) and not req.facts.read_only:  # type: ignore[arg-type,union-attr]
            await _hold_and_decide(req)  # budget_mode reserve: the most it can cost, held against its budgets
        else:
            await _decide(req)  # the counted rules, judged and committed in one store call
        if _estimate_wanted(req):
            req.handoff.prompt_estimate = (
                req.prompt_tokens
                if req.prompt_tokens is not None
                else await _prompt_tokens(req.route, req.doc, len(body))  # type: ignore[arg-type]
            )
        return _allow(req)
    except GateError as err:
        return _refuse(req, err)
    finally:
        if req.decision is not None and req.decision.lease_id is not None and not req.kept:
            await gw.policies.undo(req.facts, req.decision)  # type: ignore[arg-type]  # the one place /auth gives back


def _request(gw: Gateway, headers: CIMultiDict, body: bytes, asked: float | None) -> AuthRequest | None:
    route = gw.routes.get(headers.get("X-Lmgate-Provider", ""))
    if route is None:
        return None
    raw_uri = headers.get("X-Lmgate-Uri", "")
    upstream_uri = raw_uri[len(route.config.prefix) :]
    path, _, query = upstream_uri.partition("?")
    cred = route.api.client_credential(headers, query)
    handoff = Handoff(masked_key=mask_key(cred.key if cred else None), endpoint=client_text(path, MAX_ENDPOINT))
    return AuthRequest(gw, route, headers, body, raw_uri, upstream_uri, path, query, cred, handoff, asked)


def _identify(req: AuthRequest) -> None:
    _one_credential(req.headers, req.query)
    entry = req.entry = _authenticate(req.gw, req.route, req.cred)
    req.handoff.key_id, req.handoff.owner = entry.id, entry.owner
    _check_signature(req.gw, req.route, req.headers, req.cred, entry, req.raw_uri, req.body)  # type: ignore[arg-type]
    check_usable(entry, req.cred.key, time.time())  # type: ignore[union-attr]  # after the signature: it proves the key


def _read(req: AuthRequest, doc: dict | None) -> None:
    api, headers, entry, path = req.route.api, req.headers, req.entry, req.path
    assert entry is not None
    req.doc = doc
    model = api.model_from_request(path, doc)  # judged whole; the handoff keeps it cut
    req.handoff.model = None if model is None else client_text(model, MAX_MODEL)
    req.handoff.stream = api.stream_requested(path, doc)
    req.facts = RequestFacts(
        key_id=entry.id,
        owner=entry.owner,
        model=model,
        provider=req.route.name,
        now=time.time(),
        key_limits=entry.limits,
        owner_limits=req.gw.policies.owner_limits(entry.owner),
        request_id=headers.get("X-Lmgate-Request-Id", ""),
        read_only=read_only(headers.get("X-Lmgate-Method", "POST"), headers, req.query),
    )


def _precheck(req: AuthRequest) -> None:
    refusal = req.gw.policies.precheck(req.facts)  # type: ignore[arg-type]
    if refusal is not None:
        raise refusal


async def _scan(req: AuthRequest) -> None:
    req.handoff.dlp, redacted = await req.gw.dlp.check(req.route.config.kind, req.entry, req.body, req.doc)  # type: ignore[arg-type]
    if redacted is not None and len(redacted) > req.gw.config.server.max_body_size:
        # placeholders can be longer than what they replace; nginx fetches at most max_body_size
        raise TooLarge(
            f"lmgate: with its findings redacted the request body would be {len(redacted)} bytes, "
            f"over the gateway limit of {int(req.gw.config.server.max_body_size)}"
        )
    req.redacted = redacted


async def _upstream_credential(req: AuthRequest) -> None:
    gw, route, redacted = req.gw, req.route, req.redacted
    forwarded = req.body if redacted is None else redacted
    view = RequestView(req.headers.get("X-Lmgate-Method", "POST"), forwarded, req.headers)
    rewrite = await gw.upstream.rewrite(route.name, route.config, req.entry, req.upstream_uri, view)  # type: ignore[arg-type]
    if redacted is not None:  # a pass-through key keeps its own headers on the rewrite path
        rewrite = rewrite or with_client_keys(UpstreamRewrite(), req.headers)
        rewrite.body = redacted
    req.rewrite = rewrite


async def _hold_and_decide(req: AuthRequest) -> None:
    """``_decide`` with a budget hold. The hold's prompt tokens are first bounded by the body's bytes (an
    o200k token is at least a byte, and every prompt character is in the body), which costs nothing; only a
    request that bound would refuse has its prompt counted (tiktoken: ~50 µs for a 2 KB prompt, more than
    the rest of /auth) and is judged again with the count. A refusal commits nothing, so judging twice is
    safe. The price: requests in flight hold up to ~4x their prompt's input cost (their output cap usually
    weighs more), which can refuse a request near the end of a budget that exact holds would have let in."""
    _reserve(req, len(req.body))
    try:
        await _decide(req)
    except QuotaExceeded:
        counted = await _prompt_tokens(req.route, req.doc, len(req.body)) if req.doc is not None else 0
        if counted >= len(req.body):  # no tighter than the bound (a tiny body): the refusal stands
            raise
        req.prompt_tokens = counted
        _reserve(req, counted)
        await _decide(req)


def _reserve(req: AuthRequest, prompt_tokens: int) -> None:
    route, facts = req.route, req.facts
    assert facts is not None
    price = req.gw.prices.lookup(route.api.name, facts.model)
    facts.reserve_usd = reservation_usd(route.api, req.path, req.doc, price, prompt_tokens)


async def _decide(req: AuthRequest) -> None:
    gw, facts = req.gw, req.facts
    assert facts is not None
    decision = req.decision = await gw.policies.decide(facts, prechecked=True)
    if isinstance(decision.verdict, TooManyParallel) and await gw.stats_intake.catch_up():
        # nginx logs a request before it reads the next one on that connection: a client sending one
        # request after another finds its previous request's slot in the spool, not yet read
        decision = req.decision = await gw.policies.decide(facts, prechecked=True)
    if decision.verdict is not None:
        raise decision.verdict


def _estimate_wanted(req: AuthRequest) -> bool:
    """A stream that will not report usage: the prompt's tokens are counted now, for the stats line."""
    return req.handoff.stream and req.doc is not None and not req.route.api.usage_in_stream(req.path, req.doc)


def _allow(req: AuthRequest) -> Reply | Settled:
    """204 + the handoff, unless nginx stopped waiting; what was committed rides with the answer."""
    gw, handoff, decision = req.gw, req.handoff, req.decision
    assert decision is not None
    handoff.lease = decision.lease_id
    if _nginx_gave_up(gw, req.asked):
        return NO_VERDICT  # the finally of auth() undoes the commit
    reply = allow_response(gw, handoff, req.rewrite)
    req.kept = True
    if decision.lease_id is None:  # nothing committed, nothing to undo
        return reply
    return Settled(*reply, settle=partial(_settle_allow, gw, req.facts, decision, reply[1]))


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
    if size > COUNT_INLINE_MAX or not tokens_ready():  # the first count builds the encoding (~0.5 s)
        return await asyncio.to_thread(lambda: sum(count_tokens(t) for t in texts))
    return sum(count_tokens(t) for t in texts)


def _json(body: bytes) -> dict | None:
    """The body's JSON object, None when it is none (the provider answers malformed JSON itself); larger
    bodies than BIG_BODY are parsed off the event loop.

    A repeated key is refused: the provider's parser might act on the copy the rules did not judge.
    """
    try:
        return parse_object(body)
    except AmbiguousJson as err:
        raise InvalidRequest(f"lmgate: the JSON body repeats a key in one object ({err}); send each key once") from None


def _refuse(req: AuthRequest, err: GateError) -> Reply | Settled:
    """The refusal in the provider's shape; its stats line is written once nginx has it (else nginx's 503
    line is the request's only one)."""
    gw, route, headers = req.gw, req.route, req.headers
    if _nginx_gave_up(gw, req.asked):
        return NO_VERDICT
    if err.dlp is not None:  # what DLP found: types and counts, never values
        req.handoff.dlp = err.dlp
    status = route.api.error_status(err.kind, err.status)
    record = refusal_record(
        route=route.name,
        handoff=req.handoff,
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


def _asked(headers: CIMultiDict) -> float | None:
    """``X-Lmgate-Asked``: nginx's clock when it asked (the same machine's), None when absent or no number."""
    asked = headers.get(ASKED_HEADER)
    if not asked:
        return None
    try:
        return float(asked)
    except ValueError:
        return None


def _nginx_gave_up(gw: Gateway, asked: float | None) -> bool:
    """Whether nginx has stopped waiting for this answer, or may have: it asked (``_asked``) more than
    ``sidecar.auth_timeout`` minus a margin ago. The margin is for the answer's way back: one racing the
    timeout errs on the side of no verdict."""
    if asked is None:
        return False
    waited = time.time() - asked
    if not waited > gw.config.sidecar.auth_timeout * (1 - LATE_MARGIN):  # "not >": a NaN is no deadline
        return False
    _LATE.event(
        "/auth asked %.3f s ago, past sidecar.auth_timeout (nginx and the sidecar share a clock): "
        "no verdict, nothing kept",
        waited,
    )
    return True
