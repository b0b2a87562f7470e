"""Deterministic fake secrets in the real formats (none of them is a live credential)."""

from __future__ import annotations

import base64
import random
import string

import orjson

_RNG = random.Random(1234)
ALNUM = string.ascii_letters + string.digits


def rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


def b64url(doc: dict) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(doc)).rstrip(b"=").decode()


OPENAI_LEGACY = "sk-" + rand(20) + "T3BlbkFJ" + rand(20)
OPENAI_PROJECT = "sk-proj-" + rand(74, ALNUM + "_-") + "T3BlbkFJ" + rand(74, ALNUM + "_-")
ANTHROPIC = "sk-ant-api03-" + rand(93, ALNUM + "_-") + "AA"
GOOGLE = "AIza" + rand(35, ALNUM + "_-")
AWS = "AKIA" + rand(16, string.ascii_uppercase + "234567")
AWS_TEMPORARY = "ASIA" + rand(16, string.ascii_uppercase + string.digits)
JWT = ".".join((b64url({"alg": "HS256", "typ": "JWT"}), b64url({"sub": "1234567890", "iat": 1516239022}), rand(43)))
PEM_BODY = "\n".join(rand(64, ALNUM + "+/") for _ in range(6)) + "\n" + rand(20, ALNUM + "+/") + "=="
PRIVATE_KEY = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"
DB_PASSWORD = "S3cr3t-" + rand(10)
CONNECTION_STRING = f"postgres://admin:{DB_PASSWORD}@db.internal.example.com:5432/app"
EMAIL = "ada.lovelace@example.com"
CARD = "4111 1111 1111 1111"
IBAN = "GB82 WEST 1234 5698 7654 32"
SSN = "536-90-4399"

#: every sample value, for "never appears in output" assertions
ALL_VALUES = (
    OPENAI_LEGACY,
    OPENAI_PROJECT,
    ANTHROPIC,
    GOOGLE,
    AWS,
    AWS_TEMPORARY,
    JWT,
    PEM_BODY,
    DB_PASSWORD,
    EMAIL,
    CARD,
    IBAN,
    SSN,
)
