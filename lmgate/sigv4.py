"""AWS Signature V4 at the gateway, computed by botocore: check the client's, make the upstream's.

A boto3 client pointed at ``http://GW:8080/bedrock`` signs for the gateway's
host and for the path with the prefix; the gateway checks that signature over
exactly what the client sent, then signs a new one for the upstream host and
the path without the prefix.

Canonical URI: for every service but S3, SigV4 URI-encodes the path *as sent*
once more (``%3A`` in a model id becomes ``%253A``). botocore's ``SigV4Auth``
does that from a URL that holds the already-encoded path, so both directions
hand it the raw path, never a decoded one.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from urllib.parse import urlsplit

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials, ReadOnlyCredentials

from lmgate.keys import mask_key
from lmgate.rewrite import UpstreamRewrite

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = 15 * 60  # seconds; what AWS itself allows between x-amz-date and its clock
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+)\s*,\s*SignedHeaders=(?P<signed>[^,\s]+)\s*,"
    r"\s*Signature=(?P<sig>[0-9a-fA-F]{64})\s*$"
)
_UNSIGNED_PAYLOADS = ("UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")


class SignatureError(Exception):
    """The client's signature does not hold. ``message`` is safe to show (never a secret);
    ``code`` is the error code AWS would answer with."""

    def __init__(self, message: str, code: str = "InvalidSignatureException") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class SigV4Authorization:
    """The parts of an ``Authorization: AWS4-HMAC-SHA256 ...`` header."""

    access_key_id: str
    date: str  # YYYYMMDD
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str | None) -> SigV4Authorization | None:
    """The SigV4 fields of an Authorization header, or None when it is not a well-formed SigV4 one."""
    if not value:
        return None
    m = _AUTH_RE.match(value.strip())
    if not m:
        return None
    scope = m.group("cred").split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        return None
    signed = tuple(m.group("signed").lower().split(";"))
    if not all(signed):
        return None
    return SigV4Authorization(scope[0], scope[1], scope[2], scope[3], signed, m.group("sig").lower())


class _ClientSignature(SigV4Auth):
    """botocore's SigV4 over exactly the headers the client named, with the values it sent.

    The default ``headers_to_sign`` takes every header but a blocklist; here the
    set is the client's, whatever nginx added on the way.
    """

    def __init__(self, credentials: Credentials, service: str, region: str, signed: tuple[str, ...]) -> None:
        super().__init__(credentials, service, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        out = HTTPHeaders()
        for name in self._signed:
            for value in request.headers.get_all(name) or ():
                out[name] = value
        return out


def _header_values(headers: Mapping[str, str], name: str) -> list[str]:
    getall = getattr(headers, "getall", None)  # aiohttp's CIMultiDict keeps repeated headers
    if getall is not None:
        return list(getall(name, ()))
    value = next((v for k, v in headers.items() if k.lower() == name), None)
    return [] if value is None else [value]


def verify_client_signature(
    method: str,
    raw_uri: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_lookup: Callable[[str], str | None],
    now: float,
    service: str = "bedrock",
    host: str | None = None,
) -> str:
    """Check the client's SigV4 signature; return its access key id or raise ``SignatureError``.

    ``raw_uri`` is the request URI exactly as the client sent it (prefix included),
    ``headers`` the client's headers as received (its Host among them), ``body``
    its body. ``secret_lookup(access_key_id)`` gives the secret the gateway issued
    with that id, or None for an unknown id. ``host`` is the client's Host header
    when ``headers`` came through a proxy that replaced it.
    """
    auth = parse_authorization(_first(headers, "authorization"))
    if auth is None:
        raise SignatureError(
            "Authorization header requires a well-formed AWS4-HMAC-SHA256 Credential, SignedHeaders and Signature",
            "IncompleteSignatureException",
        )
    masked = mask_key(auth.access_key_id)
    if auth.service != service:
        raise SignatureError(f"Credential should be scoped to the service {service!r}, not {auth.service!r}")
    for required in ("host", "x-amz-date"):
        if required not in auth.signed_headers:
            raise SignatureError(f"SignedHeaders must include {required}", "IncompleteSignatureException")
    amz_date = _first(headers, "x-amz-date") or ""
    try:
        signed_at = datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise SignatureError(
            "X-Amz-Date must be a YYYYMMDD'T'HHMMSS'Z' timestamp", "IncompleteSignatureException"
        ) from None
    if abs(now - signed_at) > MAX_SKEW:
        raise SignatureError(
            f"Signature expired or not yet valid: X-Amz-Date {amz_date} is more than 15 minutes from the gateway's "
            "clock; check the client's clock"
        )
    if amz_date[:8] != auth.date:
        raise SignatureError("Credential date does not match X-Amz-Date")
    secret = secret_lookup(auth.access_key_id)
    if secret is None:
        raise SignatureError(
            f"lmgate: access key {masked} is not on this gateway's allow-list", "UnrecognizedClientException"
        )

    request = AWSRequest(method=method.upper(), url="http://lmgate.invalid" + raw_uri, data=body)
    for name in auth.signed_headers:
        values = [host] if name == "host" and host is not None else _header_values(headers, name)
        if not values:
            raise SignatureError(f"signed header {name!r} is missing from the request")
        for value in values:
            request.headers[name] = value
    # a signed X-Amz-Content-SHA256 is taken as the body's hash by botocore: it must be the real one
    declared = _first(headers, "x-amz-content-sha256") if "x-amz-content-sha256" in auth.signed_headers else None
    if declared is not None and (declared in _UNSIGNED_PAYLOADS or declared.lower() != sha256(body).hexdigest()):
        raise SignatureError("X-Amz-Content-SHA256 must be the SHA-256 of the request body")
    request.context["timestamp"] = amz_date

    signer = _ClientSignature(Credentials(auth.access_key_id, secret), service, auth.region, auth.signed_headers)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, auth.signature):
        raise SignatureError(
            f"lmgate: the request signature does not match for access key {masked}: check the secret access key "
            "and that nothing between the client and the gateway rewrites the request"
        )
    return auth.access_key_id


def _first(headers: Mapping[str, str], name: str) -> str | None:
    values = _header_values(headers, name)
    return values[0] if values else None


def upstream_host(url: str) -> str:
    """The Host value signed for ``url``: lower-case host, with the port only when not the scheme's default.

    nginx must send exactly this as the upstream Host header.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def sign_upstream(
    method: str,
    url: str,
    body: bytes,
    credentials: Credentials | ReadOnlyCredentials,
    region: str,
    service: str = "bedrock",
) -> UpstreamRewrite:
    """Sign the request nginx will send upstream, as ``UpstreamRewrite`` headers.

    ``url`` is the upstream base + the raw path after the prefix + the raw query,
    ``body`` the exact bytes sent. The signature covers only headers nginx sets
    exactly (host, x-amz-date, x-amz-security-token), so the client's other
    headers travel on unsigned.
    """
    creds = Credentials(credentials.access_key, credentials.secret_key, credentials.token)
    request = AWSRequest(method=method.upper(), url=url, data=body, headers={"host": upstream_host(url)})
    SigV4Auth(creds, service, region).add_auth(request)  # adds X-Amz-Date (+ token) and Authorization
    headers = {"authorization": request.headers["Authorization"], "x-amz-date": request.headers["X-Amz-Date"]}
    if creds.token:
        headers["x-amz-security-token"] = creds.token
    return UpstreamRewrite(headers=headers)
