"""The DLP gates: each one's positive and near miss, the facts the phone gate rests on, and gated == ungated."""

from __future__ import annotations

import random
import re
import unicodedata

import pytest
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumbermatcher import (
    _BLOCK_LIMIT,
    _DIGIT_SEQUENCE,
    _LEAD_CLASS,
    _LEAD_LIMIT,
    _PATTERN,
    _PUNCTUATION,
)
from phonenumbers.phonenumberutil import (
    _ALPHA_PHONE_MAPPINGS,
    _EXTN_PATTERNS_FOR_MATCHING,
    _REGEX_FLAGS,
    _VALID_ALPHA_PHONE_PATTERN,
    COUNTRY_CODE_TO_REGION_CODE,
)
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from lmgate.config import DlpConfig
from lmgate.dlp import gates
from lmgate.dlp.analyzer import PATTERN_RECOGNIZERS, Detector, Finding
from lmgate.dlp.gates import GATES, LITERAL_GATES, PATTERN_GATES, any_possible, possible_entities
from lmgate.dlp.nlp import LANGUAGE
from lmgate.dlp.settings import DEFAULT_ENTITIES, OPTIONAL_ENTITIES
from tests.unit.dlp.corpus import FOUND_PHONES, PHONE_FORMATS, all_chars, corpus

ALL_PATTERN_ENTITIES = [e for e in (*DEFAULT_ENTITIES, *OPTIONAL_ENTITIES) if e in PATTERN_RECOGNIZERS]
FLAGS_MASK = re.IGNORECASE | re.MULTILINE | re.DOTALL

# entity -> (minimal text its gate passes, near miss it fails)
CASES = {
    "EMAIL_ADDRESS": ("a@b", "a at b"),
    "OPENAI_API_KEY": ("sk-x", "sk_x SK-x"),
    "ANTHROPIC_API_KEY": ("sk-ant-x", "sk-an-t SK-ANT-x"),
    "GOOGLE_API_KEY": ("AIza", "aiza AIZA"),
    "AWS_ACCESS_KEY": ("ASIA", "asia AKIa"),
    "PRIVATE_KEY": ("BEGIN PRIVATE KEY", "private key PRIVATE-KEY"),
    "JWT": ("eyJ", "eyj EYJ"),
    "CONNECTION_STRING_PASSWORD": ("a://b", "a:/ /b"),
    "CREDIT_CARD": ("4111 1111-1111 1", "4111 1111 1111, 4111  1111 1111 1111"),
    "US_SSN": ("536.90.4399", "536..90.4399, 53-69-0439"),
    "PHONE_NUMBER": ("+49 30 1", "p99 after 200 milliseconds, v1.2.3, 12 x"),
    "IP_ADDRESS": ("fe80::1", "so: v1. 2"),
    "CRYPTO": ("1" + "a" * 25, "1" + "a" * 24 + "_"),
    "IBAN_CODE": ("GB82", "gb82 Gb82 GB8"),
    "DATE_TIME": ("5", "five"),
    "MAC_ADDRESS": ("ab-cd", "ab cd abc.def0"),
    "MEDICAL_LICENSE": ("1234567", "123456 x"),
    "UK_NHS": ("123 456 7890", "123 456 789"),
    "US_BANK_NUMBER": ("12345678", "1234567 a"),
    "US_DRIVER_LICENSE": ("A1", "AB"),
    "US_ITIN": ("900", "899 9 00"),
    "US_PASSPORT": ("12345678", "1234567"),
}


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(DlpConfig(entities=ALL_PATTERN_ENTITIES, score_threshold=0.0))


@pytest.mark.parametrize("entity", sorted(CASES))
def test_gate_passes_its_minimal_positive_and_fails_its_near_miss(entity):
    positive, near_miss = CASES[entity]
    assert GATES[entity](positive)
    assert not GATES[entity](near_miss)


def test_every_pattern_entity_is_gated_except_url():
    assert set(GATES) == set(ALL_PATTERN_ENTITIES) - {"URL"}
    assert set(GATES) == set(LITERAL_GATES) | set(PATTERN_GATES)


def test_gates_compile_with_their_recognizers_flags():
    for entity, patterns in PATTERN_GATES.items():
        recognizer = PATTERN_RECOGNIZERS[entity]()
        for pattern in patterns:
            if entity == "PHONE_NUMBER":
                assert pattern.flags & FLAGS_MASK == _REGEX_FLAGS & FLAGS_MASK
            else:
                assert pattern.flags & FLAGS_MASK == recognizer.global_regex_flags, entity
    for entity in LITERAL_GATES:  # a substring test is case-sensitive: so must the recognizer be
        if entity != "EMAIL_ADDRESS":  # '@' has no other case
            assert not PATTERN_RECOGNIZERS[entity]().global_regex_flags & re.IGNORECASE, entity


def test_possible_entities_keeps_order_and_ungated_entities():
    entities = ["PHONE_NUMBER", "URL", "EMAIL_ADDRESS", "CREDIT_CARD"]
    assert possible_entities("mail a@b.com", entities) == ["URL", "EMAIL_ADDRESS"]
    assert possible_entities("no digits here", ["EMAIL_ADDRESS", "US_SSN"]) == []
    assert any_possible("plain", ["URL"]) and not any_possible("plain", ["EMAIL_ADDRESS", "JWT"])
    assert any_possible("a@b", DEFAULT_ENTITIES)


# --- the phone gate's premises ---------------------------------------------------------------------------------


def test_phonenumbers_candidate_pattern_is_lead_digit_blocks_and_an_extension():
    expected = (
        f"(?:{_LEAD_CLASS}{_PUNCTUATION}){_LEAD_LIMIT}{_DIGIT_SEQUENCE}(?:{_PUNCTUATION}{_DIGIT_SEQUENCE}){_BLOCK_LIMIT}"
        f"(?:{_EXTN_PATTERNS_FOR_MATCHING})?"
    )
    assert expected == _PATTERN.pattern
    assert _PATTERN.flags & FLAGS_MASK == _REGEX_FLAGS & FLAGS_MASK


def test_phone_gap_chars_never_become_digits():
    gap = set(re.findall(gates._PHONE_GAP, all_chars(), _REGEX_FLAGS))
    assert {"(", "+", "-", " ", "x", "X", "～"} <= gap
    for char in gap:
        assert re.match(r"\d", char) is None and unicodedata.digit(char, None) is None, hex(ord(char))
        letter = re.match("[A-Za-z]", char, _REGEX_FLAGS) is not None  # what counts toward a keypad number
        assert letter == (char in "xX") and (char.upper() in _ALPHA_PHONE_MAPPINGS) == (char in "xX"), hex(ord(char))
    assert "{3}" in _VALID_ALPHA_PHONE_PATTERN.pattern and gates.KEYPAD_MIN_LETTERS == 3


def _metadata(cc: int, region: str) -> PhoneMetadata:
    if region == "001":
        return PhoneMetadata.metadata_for_nongeo_region(cc)
    return PhoneMetadata.metadata_for_region(region)


def _shortest_nsn(md: PhoneMetadata) -> int:
    lengths = [n for n in md.general_desc.possible_length if n > 0]
    assert lengths, md.id  # is_valid_number checks these lengths
    return min(lengths)


def _added_digits(md: PhoneMetadata) -> int:
    """Digits a national-prefix transform rule writes itself (not copied from the number): '268\\1' adds 3."""
    rule = md.national_prefix_transform_rule or ""
    return len(re.findall(r"\d", re.sub(r"\\\d", "", rule)))


def test_min_phone_digits_holds_for_every_valid_number():
    by_cc = {cc: [_metadata(cc, r) for r in regions] for cc, regions in COUNTRY_CODE_TO_REGION_CODE.items()}
    # written nationally: the calling code of one of presidio's regions, that region's prefix rules
    national = []
    for region in PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS:
        own = PhoneMetadata.metadata_for_region(region)
        national += [_shortest_nsn(md) - _added_digits(own) for md in by_cc[own.country_code]]
    # written internationally: the calling code is in the text too
    international = [
        len(str(cc)) + min(_shortest_nsn(md) for md in mds) - max(_added_digits(md) for md in mds)
        for cc, mds in by_cc.items()
    ]
    assert min(national) == gates.MIN_PHONE_DIGITS  # exact: a tighter gate would be wrong, a looser one wasteful
    assert min(international) >= gates.MIN_PHONE_DIGITS


def test_phone_recognizer_finds_nothing_where_the_phone_gate_fails():
    recognizer, rng = PhoneRecognizer(), random.Random(5)
    pieces = [*"0123456789١２", *"xX -.()[]+/~#,:;", " ext ", " x ", "ab", "\t", "\u3000", "ー"]
    checked = 0
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(2, 14)))
        if not GATES["PHONE_NUMBER"](text):
            checked += 1
            assert recognizer.analyze(text, ["PHONE_NUMBER"]) == [], text
    assert checked > 5000
    for text in PHONE_FORMATS:
        assert GATES["PHONE_NUMBER"](text), text


# --- gated == ungated --------------------------------------------------------------------------------------------


def ungated(detector: Detector, text: str) -> list[Finding]:
    """presidio's whole pipeline with every configured recognizer: what the gates and the fast path must equal."""
    results = detector.engine.analyze(text, language=LANGUAGE, entities=detector.entities, score_threshold=0.0)
    return sorted(Finding(r.entity_type, r.start, r.end, r.score) for r in results)


@pytest.mark.filterwarnings("ignore:non-integer arguments to randrange:DeprecationWarning")  # dlp_eval's
def test_gated_presidio_finds_exactly_what_the_ungated_engine_finds(detector):
    assert detector.entities == ALL_PATTERN_ENTITIES
    texts = [text for text in corpus() if text.strip()]
    found = skipped = 0
    for text in texts:
        expected = ungated(detector, text)
        assert detector.find_with_presidio(text) == expected, text
        found += bool(expected)
        skipped += len(possible_entities(text, detector.entities)) < len(detector.entities)
    assert found > 400 and skipped > 400  # the corpus has findings, and the gates did skip recognizers
    for text in FOUND_PHONES:  # real phone numbers were among them
        assert any(f.entity == "PHONE_NUMBER" for f in ungated(detector, f"call {text} now")), text
