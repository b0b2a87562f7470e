"""A fake Amazon Bedrock Runtime: checks SigV4 like AWS, answers the four inference operations.

Every request's signature is verified with botocore against the credentials
the fake was given (AWS's own 403 error shapes otherwise), so a test that gets
an answer has proven its signature. Answers are the recorded fixtures of
tests/fixtures/bedrock/: Converse JSON, ConverseStream and
InvokeModelWithResponseStream as binary ``application/vnd.amazon.eventstream``
messages (one per write, ``chunk_delay`` apart), InvokeModel as an Anthropic
Messages body with the token-count headers.

Knobs (reset by ``clear``): ``chunk_delay``, ``cache_read`` / ``cache_write``
(cached prompt tokens to report). A model id ``stream-N`` answers N text chunks;
``fail-NNN`` answers status NNN with Bedrock's recorded error. ``accounts`` holds more
access key id -> secret pairs the fake accepts (several AWS accounts, one endpoint).
"""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from urllib.parse import unquote

import orjson
from aiohttp import web
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.client import BaseClient
from botocore.credentials import Credentials

from tests.fakes import fixtures
from tests.fakes.fixtures import Answer
from tests.fakes.server import ThreadedFake
from tests.fakes.upstream import chunks_for, failure, prompt_tokens

PATH_RE = re.compile(r"^/model/(?P<model>[^/?]+)/(?P<op>converse|converse-stream|invoke|invoke-with-response-stream)$")
AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$")
BEDROCK_NS = "http://internal.amazon.com/coral/com.amazon.bedrock/"
CORAL_NS = "http://internal.amazon.com/coral/com.amazon.coral.service/"
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


def served_model(model_id: str) -> str:
    """The name Anthropic's native body carries: ``us.anthropic.claude-x-20240307-v1:0`` -> ``claude-x-20240307``."""
    name = model_id.rsplit("/", 1)[-1].rsplit(".", 1)[-1] if "anthropic." in model_id else model_id
    return re.sub(r"-v\d+(:\d+)?$", "", name)


class FakeBedrock(ThreadedFake):
    name = "fake bedrock"

    def __init__(
        self,
        access_key_id: str = "AKIAFAKEBEDROCK00001",
        secret_access_key: str = "fake/bedrock+secret/key0000000000000000",
        region: str = "us-east-1",
        session_token: str | None = None,
        accounts: dict[str, str] | None = None,
    ) -> None:
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.accounts = dict(accounts or {})
        self.region = region
        self.session_token = session_token
        super().__init__()
        self.clear()

    def clear(self) -> None:
        self.received = []
        self.chunk_delay = 0.05
        self.cache_read = 0
        self.cache_write = 0

    # --- routing
    async def _dispatch(self, request: web.Request, body: bytes) -> web.StreamResponse:
        refusal = self._check_signature(request, body)
        if refusal is not None:
            return refusal
        m = PATH_RE.match(request.raw_path.partition("?")[0])
        if request.method != "POST" or m is None:
            return self._error(404, "UnknownOperationException", None, CORAL_NS)
        model, op = unquote(m.group("model")), m.group("op")
        endpoint = op.replace("-", "_")
        if (status := failure(model)) is not None:
            return self._answer(fixtures.error("bedrock", endpoint, status, {}))
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self._error(400, "ValidationException", "Malformed input request, please reformat your input")
        if op.startswith("invoke") and "anthropic_version" not in doc:
            return self._error(400, "ValidationException", "Malformed input request: anthropic_version is required")
        words = chunks_for(model.rsplit("/", 1)[-1])
        values = self._values(model, words, prompt_tokens(body))
        if op in ("converse", "invoke"):
            return self._answer(fixtures.response("bedrock", endpoint, values))
        answer = fixtures.stream("bedrock", endpoint, values, words, "stream.events.json")
        return await self.stream(request, answer.headers, answer.frames)

    # --- SigV4, checked as AWS does
    def _check_signature(self, request: web.Request, body: bytes) -> web.Response | None:
        header = request.headers.get("Authorization")
        if not header:
            return self._error(403, "MissingAuthenticationTokenException", "Missing Authentication Token", CORAL_NS)
        m = AUTH_RE.match(header)
        if m is None:
            return self._error(400, "IncompleteSignatureException", "Authorization header is malformed", CORAL_NS)
        scope, signed, signature = m.group(1).split("/"), m.group(2).split(";"), m.group(3)
        token = request.headers.get("X-Amz-Security-Token")
        secrets = {**self.accounts, self.access_key_id: self.secret_access_key}
        if len(scope) != 5 or scope[0] not in secrets or token != self.session_token:
            return self._error(
                403, "UnrecognizedClientException", "The security token included in the request is invalid.", CORAL_NS
            )
        if scope[2:] != [self.region, "bedrock", "aws4_request"]:
            return self._error(403, "InvalidSignatureException", "Credential should be scoped correctly.", CORAL_NS)
        amz_date = request.headers.get("X-Amz-Date", "")
        try:
            at = datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=UTC).timestamp()
        except ValueError:
            return self._error(400, "IncompleteSignatureException", "X-Amz-Date is missing or malformed", CORAL_NS)
        if abs(time.time() - at) > 15 * 60:
            return self._error(403, "InvalidSignatureException", f"Signature expired: {amz_date}", CORAL_NS)
        # botocore's own signer, over the headers the request says it signed, with their received values
        aws_request = AWSRequest(
            method=request.method,
            url=f"http://{request.host}{request.raw_path}",
            data=body,
            headers={name: request.headers.get(name, "") for name in signed},
        )
        aws_request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(scope[0], secrets[scope[0]], token), "bedrock", self.region)
        to_sign = signer.headers_to_sign(aws_request)
        canonical = signer.canonical_request(aws_request)
        expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
        if signer.signed_headers(to_sign) != ";".join(signed) or expected != signature or scope[1] != amz_date[:8]:
            return self._error(403, "InvalidSignatureException", BAD_SIGNATURE, CORAL_NS)
        return None

    # --- answers: the recorded fixtures (tests/fixtures/bedrock/)
    def _error(self, status: int, code: str, message: str | None, namespace: str = BEDROCK_NS) -> web.Response:
        """The fake's own refusals (its signature check): Bedrock's error shape, as in errors.json."""
        headers = {"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": f"{code}:{namespace}"}
        headers["Content-Type"] = "application/json"
        return web.Response(status=status, body=orjson.dumps({"message": message}), headers=headers)

    def _values(self, model: str, words: list[str], fresh: int) -> dict[str, int | str]:
        return {
            "prompt": fresh,
            "output": len(words),
            "cache_read": self.cache_read,
            "cache_write": self.cache_write,
            "model": served_model(model),
            "text": "".join(words),
        }

    def _answer(self, answer: Answer) -> web.Response:
        return web.Response(body=answer.body, status=answer.status, headers=answer.headers)


class _Raw(io.BytesIO):
    """The raw body botocore's AWSResponse reads from: ``read`` for blobs, ``stream`` for the rest."""

    def stream(self, **kwargs: object) -> Iterator[bytes]:
        yield self.read()


def intercept(
    client: BaseClient,
    answer: Callable[[AWSPreparedRequest], tuple[int, dict[str, str], bytes]] | None = None,
) -> list[AWSPreparedRequest]:
    """Stop a boto3 client at the wire: record each signed request, answer with ``answer(request)``
    (default: 200 ``{}``). No network; the client parses the answer as it would a real one."""
    sent: list[AWSPreparedRequest] = []

    def before_send(request: AWSPreparedRequest, **kwargs: object) -> AWSResponse:
        sent.append(request)
        status, headers, body = answer(request) if answer else (200, {"Content-Type": "application/json"}, b"{}")
        return AWSResponse(request.url, status, headers, _Raw(body))

    client.meta.events.register("before-send.bedrock-runtime", before_send)
    return sent
