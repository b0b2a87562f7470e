"""Recognizers for secrets people paste into prompts, plus an offline e-mail recognizer.

Each is a small presidio ``PatternRecognizer``. Secret formats are case-sensitive,
so these compile without presidio's default IGNORECASE. Where a format has a
check (a JWT header is JSON naming ``alg``) ``validate_result`` applies it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import ClassVar

import orjson
import tldextract
from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import CreditCardRecognizer, EmailRecognizer, IpRecognizer

CASE_SENSITIVE = re.DOTALL | re.MULTILINE
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]{16,}")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[A-Za-z]")


def _looks_random(token: str) -> bool:
    """Real keys have a long run of mixed letters and digits; kebab-case prose does not."""
    return bool(_ALNUM_RUN.search(token) and _DIGIT.search(token) and _LETTER.search(token))


class _SecretRecognizer(PatternRecognizer):
    ENTITY = ""
    PATTERNS: ClassVar[tuple[Pattern, ...]] = ()

    def __init__(self) -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            name=type(self).__name__,
            patterns=list(self.PATTERNS),
            global_regex_flags=CASE_SENSITIVE,
        )


class OpenAIKeyRecognizer(_SecretRecognizer):
    """``sk-…`` (legacy, 48 chars), ``sk-proj-…``, ``sk-svcacct-…``, ``sk-admin-…``; not Anthropic's ``sk-ant-``."""

    ENTITY = "OPENAI_API_KEY"
    PATTERNS = (Pattern("openai key", r"(?<![\w-])sk-(?!ant-)[A-Za-z0-9_-]{20,}(?![\w-])", 0.85),)

    def validate_result(self, pattern_text: str) -> bool | None:
        return None if _looks_random(pattern_text.removeprefix("sk-")) else False


class AnthropicKeyRecognizer(_SecretRecognizer):
    """``sk-ant-api03-…``, ``sk-ant-admin01-…`` and other ``sk-ant-`` keys."""

    ENTITY = "ANTHROPIC_API_KEY"
    PATTERNS = (Pattern("anthropic key", r"(?<![\w-])sk-ant-[A-Za-z0-9_-]{20,}(?![\w-])", 0.9),)

    def validate_result(self, pattern_text: str) -> bool | None:
        return None if _looks_random(pattern_text.removeprefix("sk-ant-")) else False


class GoogleApiKeyRecognizer(_SecretRecognizer):
    """Google API keys: ``AIza`` and exactly 35 more characters."""

    ENTITY = "GOOGLE_API_KEY"
    PATTERNS = (Pattern("google api key", r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])", 0.85),)


class AwsAccessKeyRecognizer(_SecretRecognizer):
    """AWS access key ids: ``AKIA`` (long-term) or ``ASIA`` (temporary) and 16 upper-case letters or digits."""

    ENTITY = "AWS_ACCESS_KEY"
    PATTERNS = (Pattern("aws access key id", r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])", 0.85),)


class PrivateKeyRecognizer(_SecretRecognizer):
    """PEM/OpenSSH private key blocks, BEGIN to END; a pasted block cut before END still counts."""

    ENTITY = "PRIVATE_KEY"
    _LABEL = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----"
    PATTERNS = (
        Pattern(
            "private key block",
            _LABEL + r"[\s\S]{0,16384}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----",
            1.0,
        ),
        # a paste cut before END: the header, optional PEM headers, then lines of key material
        Pattern(
            "private key header",
            _LABEL + r"(?:\s*(?:Proc-Type|DEK-Info):[^\n]*)*(?:\s+[A-Za-z0-9+/=]{16,}){1,400}",
            0.85,
        ),
    )


class JwtRecognizer(_SecretRecognizer):
    """JWTs: three base64url parts whose header is a JSON object naming ``alg``."""

    ENTITY = "JWT"
    PATTERNS = (Pattern("jwt", r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*(?![\w-])", 0.5),)

    def validate_result(self, pattern_text: str) -> bool:
        header = pattern_text.partition(".")[0]
        try:
            doc = orjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
        except (binascii.Error, ValueError):
            return False
        return isinstance(doc, dict) and "alg" in doc


class ConnectionStringPasswordRecognizer(_SecretRecognizer):
    """The password of ``scheme://user:password@host``; the finding is the password only."""

    ENTITY = "CONNECTION_STRING_PASSWORD"
    _URL = r"\b[A-Za-z][A-Za-z0-9+.-]{1,30}://[^\s:/@?#\"'<>]{0,128}:(?P<pw>[^\s@/?#\"'<>]{1,256})@[A-Za-z0-9\[]"
    PATTERNS = (Pattern("url with password", _URL, 0.9),)
    _PARTS = re.compile(_URL)
    # templates and masks people write instead of a password
    _NOT_A_PASSWORD = re.compile(
        r"^(?:\$\{?\w*\}?|\{\{?[^}]*\}\}?|<[^>]*>|%\w*|\*+|x+|\.+|password|pass|pwd|secret)$", re.I
    )

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None, regex_flags=None) -> list[RecognizerResult]:
        return self.refine(text, super().analyze(text, entities, nlp_artifacts, regex_flags))

    def refine(self, text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
        """The password part of each URL match (windowed.py calls this after its own pattern loop)."""
        kept = []
        for r in results:
            m = self._PARTS.match(text, r.start, r.end)
            if m is None or self._NOT_A_PASSWORD.match(m["pw"]):
                continue
            r.start, r.end = m.span("pw")
            kept.append(r)
        return kept


class CardRecognizer(CreditCardRecognizer):
    """presidio's Luhn-checked card recognizer, plus Mastercard's 2221-2720 range that its pattern lacks."""

    PATTERNS: ClassVar[list[Pattern]] = [
        *CreditCardRecognizer.PATTERNS,
        Pattern("Mastercard 2-series (weak)", r"\b2[2-7]\d{2}[- ]?\d{4}[- ]?\d{4}[- ]?\d{4}\b", 0.3),
    ]


#: ranges no one's machine has an address in: RFC 5737 and RFC 3849/9637 documentation examples, IPv6 site-local
NOBODYS_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20", "fec0::/10")
)
_VERSION_WORD = re.compile(r"(?:\b(?:version|ver|build|release|revision|rev)[.:]?|\bv)\s*$", re.IGNORECASE)


def names_no_one(text: str) -> bool:
    """Whether a (valid) IP address, as written, is one no person's machine has: not personal data.

    Unspecified (0.0.0.0, ::), loopback, link-local, multicast and reserved (240/4, with the broadcast address and
    netmasks) addresses, documentation ranges; IPv6 written with fewer than three groups (``14::``, ``a::b``:
    slices, C++ scopes and prefixes in code and config); and IPv4 with four one-digit parts, which text uses for
    versions and section numbers (1.2.5.1) and which are otherwise public resolvers (1.1.1.1, 8.8.8.8).
    """
    address = ipaddress.ip_interface(text).ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif "." not in text and len([g for g in text.split("%")[0].split("/")[0].split(":") if g]) < 3:
            return True
    if isinstance(address, ipaddress.IPv4Address):
        if address.is_reserved or address in ipaddress.IPv4Network("0.0.0.0/8"):
            return True
        if all(len(part) == 1 for part in str(address).split(".")):
            return True
    return (
        address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or any(address in network for network in NOBODYS_NETWORKS if network.version == address.version)
    )


class PersonalIpRecognizer(IpRecognizer):
    """presidio's IP recognizer without the addresses that name no one (``names_no_one``), nor versions
    ("version 4.19.0.12", "Build 16.3.1.3")."""

    def invalidate_result(self, pattern_text: str) -> bool:
        return bool(super().invalidate_result(pattern_text)) or names_no_one(pattern_text)

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None, regex_flags=None) -> list[RecognizerResult]:
        return self.refine(text, super().analyze(text, entities, nlp_artifacts, regex_flags))

    def refine(self, text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
        """Drop what a version word comes right before (windowed.py calls this after its own pattern loop)."""
        return [r for r in results if not _VERSION_WORD.search(text, max(0, r.start - 16), r.start)]


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's e-mail recognizer, checking the domain against tldextract's bundled suffix list.

    The stock one calls ``tldextract.extract``, which fetches the Public Suffix List
    over the network on first use; a gateway must never reach out at run time.
    ``password@host`` inside a URL is credentials, not an address: left to
    CONNECTION_STRING_PASSWORD, so the host stays readable after redaction.
    """

    _TLDS = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    _IN_URL_AUTHORITY = re.compile(r"://[^\s/@]*$")

    def validate_result(self, pattern_text: str) -> bool:
        return self._TLDS(pattern_text).fqdn != ""

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None, regex_flags=None) -> list[RecognizerResult]:
        return self.refine(text, super().analyze(text, entities, nlp_artifacts, regex_flags))

    def refine(self, text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
        """Drop addresses inside a URL's authority (windowed.py calls this after its own pattern loop)."""
        return [r for r in results if not self._IN_URL_AUTHORITY.search(text, max(0, r.start - 256), r.start)]


SECRET_RECOGNIZERS: dict[str, type[PatternRecognizer]] = {
    r.ENTITY: r
    for r in (
        OpenAIKeyRecognizer,
        AnthropicKeyRecognizer,
        GoogleApiKeyRecognizer,
        AwsAccessKeyRecognizer,
        PrivateKeyRecognizer,
        JwtRecognizer,
        ConnectionStringPasswordRecognizer,
    )
}
