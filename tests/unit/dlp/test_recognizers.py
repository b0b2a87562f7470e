"""Each secret recognizer on real-format positives and on look-alikes that must not fire."""

from __future__ import annotations

import pytest
from presidio_analyzer.predefined_recognizers import IpRecognizer

from lmgate.dlp.analyzer import Detector
from lmgate.dlp.recognizers import OfflineEmailRecognizer
from tests.unit.dlp import samples as s


def found(detector: Detector, text: str) -> list[tuple[str, str]]:
    return [(f.entity, text[f.start : f.end]) for f in detector.find(text)]


@pytest.mark.parametrize(
    ("entity", "value", "sentence"),
    [
        ("OPENAI_API_KEY", s.OPENAI_LEGACY, "my key is {} can you check why it fails"),
        ("OPENAI_API_KEY", s.OPENAI_PROJECT, "OPENAI_API_KEY={}\nexport it first"),
        ("OPENAI_API_KEY", "sk-svcacct-" + s.rand(60), "service account: {}"),
        ("ANTHROPIC_API_KEY", s.ANTHROPIC, 'client = Anthropic(api_key="{}")'),
        ("GOOGLE_API_KEY", s.GOOGLE, "curl '...?key={}'"),
        ("AWS_ACCESS_KEY", s.AWS, "aws_access_key_id = {}"),
        ("AWS_ACCESS_KEY", s.AWS_TEMPORARY, "temporary creds ({}) expire soon"),
        ("AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE", "the docs use {}"),
        ("PRIVATE_KEY", s.PRIVATE_KEY, "here is the key:\n{}\nwhy does ssh reject it?"),
        ("JWT", s.JWT, "Authorization: Bearer {}"),
        (
            "CONNECTION_STRING_PASSWORD",
            s.DB_PASSWORD,
            f"DATABASE_URL={s.CONNECTION_STRING.replace(s.DB_PASSWORD, '{}')}",
        ),
        ("CONNECTION_STRING_PASSWORD", "hunter2", "redis://:{}@cache:6379/0"),
        ("CONNECTION_STRING_PASSWORD", "p%40ss", "amqp://guest:{}@rabbit.local/vhost"),
        ("EMAIL_ADDRESS", s.EMAIL, "write to {} please"),
    ],
)
def test_positive(detector, entity, value, sentence):
    assert (entity, value) in found(detector, sentence.format(value))


@pytest.mark.parametrize(
    "number", ["2223 0031 2200 3222", "2720992593319364", "5555 5555 5555 4444", "4111111111111111"]
)
def test_cards_including_mastercard_2_series(detector, number):
    assert found(detector, f"card {number} please") == [("CREDIT_CARD", number)]


@pytest.mark.parametrize("number", ["2223 0031 2200 3223", "2800000000000000", "1234 5678 9012 3456"])
def test_card_numbers_failing_luhn_or_range_are_not_cards(detector, number):
    assert "CREDIT_CARD" not in [e for e, _ in found(detector, f"ref {number}")]


def test_private_key_cut_before_end_still_counts(detector):
    text = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + s.PEM_BODY + "\n(rest omitted) thanks"
    hits = found(detector, text)
    assert [e for e, _ in hits] == ["PRIVATE_KEY"]
    assert s.PEM_BODY in hits[0][1] and "thanks" not in hits[0][1]


def test_connection_string_finding_is_the_password_only(detector):
    text = f"connect with {s.CONNECTION_STRING} now"
    (hit,) = [h for h in found(detector, text) if h[0] == "CONNECTION_STRING_PASSWORD"]
    assert hit[1] == s.DB_PASSWORD


@pytest.mark.parametrize(
    "text",
    [
        # OpenAI look-alikes
        "pip install scikit-learn; sk-learn is its nickname",
        "see sk-this-is-not-a-real-key-but-long-enough-to-match",
        "task-1234567890abcdefghijABCDEFGH is a ticket id",
        "sk-12345",
        # Anthropic look-alikes
        "sk-ant-short",
        "sk-ant-a-long-description-with-no-digits-whatsoever",
        # Google look-alikes
        "AIza" + "x" * 34 + " is one character short",
        "AIza" + "y" * 36 + " is one character too long",
        "AIzaSy is how the keys start",
        # AWS look-alikes
        "AKIA123456789012345 is fifteen after the prefix",
        "akiaiosfodnn7example in lower case",
        "XAKIAIOSFODNN7EXAMPLE inside a longer word",
        "AKIAIOSFODNN7EXAMPLE2 one too many",
        # private key look-alikes
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBa\n-----END CERTIFICATE-----",
        "the file starts with BEGIN RSA PRIVATE KEY, what format is that?",
        # JWT look-alikes
        "eyJhbGciOi.not.json",
        "eyJabcdefghij.klmnopqrstu.vwxyz0123",
        "version 1.2.3 and build 4.5.6",
        # connection string look-alikes
        "https://example.com:8080/path?x=1",
        "postgres://user@db.example.com/app",
        "postgres://user:${PGPASSWORD}@db.example.com/app",
        "mysql://root:<password>@localhost/db",
        "redis://default:****@cache:6379",
        "git@git.example.com:org/repo.git",
    ],
)
def test_look_alike_is_not_a_secret(detector, text):
    secrets = {
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GOOGLE_API_KEY",
        "AWS_ACCESS_KEY",
        "PRIVATE_KEY",
        "JWT",
        "CONNECTION_STRING_PASSWORD",
    }
    assert [h for h in found(detector, text) if h[0] in secrets] == []


@pytest.mark.parametrize("text", ["ssh admin@localhost then sudo", "the decorator @property and foo@bar"])
def test_address_without_a_public_suffix_is_not_an_email(detector, text):
    assert found(detector, text) == []


def test_anthropic_key_is_not_also_an_openai_key(detector):
    assert [e for e, _ in found(detector, f"key {s.ANTHROPIC}")] == ["ANTHROPIC_API_KEY"]


def test_secret_patterns_are_case_sensitive(detector):
    assert found(detector, s.AWS.lower()) == []
    assert found(detector, "aiza" + s.GOOGLE[4:]) == []


def test_email_domain_check_uses_the_bundled_suffix_list():
    rec = OfflineEmailRecognizer()
    assert rec._TLDS.suffix_list_urls == ()
    assert rec.validate_result("ada@example.co.uk") is True
    assert rec.validate_result("ada@intranet") is False


#: addresses no one's machine has, each found by presidio's own IP recognizer: lmgate leaves them (deliberately)
NOBODYS_ADDRESSES = [
    "0.0.0.0",
    "0.0.0.0/0",
    "127.0.0.1",
    "::1",
    "::1/128",
    "169.254.169.254",
    "fe80::1ff:fe23:4567:890a",
    "224.0.0.251",
    "ff02::1:2:3",
    "255.255.255.255",
    "255.255.255.0",
    "192.0.2.10",
    "198.51.100.7",
    "203.0.113.9",
    "2001:db8:85a3::8a2e:370:7334",
    "::ffff:127.0.0.1",
    "14::",
    "ace::",
    "1::2",
    "2002::/16",
    "::ffff:0:0/96",
    "1.2.5.1",
    "8.8.8.8",
]
#: addresses that can name a person's (or an organisation's) machine: still found
ADDRESSES = [
    "81.2.69.160",
    "10.1.2.3",
    "192.168.1.20",
    "172.16.5.4",
    "100.64.1.2",
    "2a02:8108:1240:2c00:a1b2:c3d4:e5f6:7890",
    "2a02:8108::1",
    "::ffff:81.2.69.160",
]


@pytest.mark.parametrize("address", NOBODYS_ADDRESSES)
def test_addresses_that_name_no_one_are_not_findings(detector, address):
    text = f"bind it to {address} please"
    assert ("IP_ADDRESS", address) in [(r.entity_type, text[r.start : r.end]) for r in IpRecognizer().analyze(text, [])]
    assert found(detector, text) == []


@pytest.mark.parametrize("address", ADDRESSES)
def test_addresses_that_can_name_someone_are_found(detector, address):
    assert found(detector, f"the server at {address} refuses connections") == [("IP_ADDRESS", address)]


@pytest.mark.parametrize("text", ["version 4.19.0.12", "Build 16.3.1.3 is out", "rev. 10.2.3.4", "v 2.11.3.40"])
def test_versions_are_not_addresses(detector, text):
    assert found(detector, text) == []
    assert found(detector, text.replace(text.split()[0], "host")) != []  # the same number after another word is
