"""Cheap necessary conditions ("gates") per DLP entity, so presidio runs only recognizers that can find something.

A gate is false only when its entity's recognizer provably returns nothing for the
text: each is implied by the recognizer's own patterns, in the same regex dialect and
flags, so skipping a recognizer whose gate fails changes no result. Most prompts
cannot contain most types (no ``@``, no 13-digit run, no ``sk-``), and a gate costs
microseconds on a prompt where presidio's recognizers cost milliseconds (phonenumbers
alone scans the whole text once per region). tests/unit/dlp/test_gates.py checks
each gate against its recognizer.

Entities without a gate (URL, PERSON, LOCATION) always pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import regex
from phonenumbers.phonenumbermatcher import _EXTN_PATTERNS_FOR_MATCHING, _LEAD_CLASS_CHARS, _REGEX_FLAGS
from phonenumbers.phonenumberutil import _VALID_PUNCTUATION

Gate = Callable[[str], bool]

#: what presidio's PatternRecognizer compiles with (``regex`` module) unless a recognizer sets its own flags
PRESIDIO_FLAGS = regex.DOTALL | regex.MULTILINE | regex.IGNORECASE
#: IbanRecognizer's own flags: its pattern is case-sensitive
IBAN_FLAGS = regex.DOTALL | regex.MULTILINE

#: digits in the text of the shortest number phonenumbers accepts (leniency VALID) for presidio's default regions:
#: a national significant number of 4 digits (DE, written nationally); written internationally, 6 with the calling
#: code. tests/unit/dlp/test_gates.py derives it from the metadata, net of digits national-prefix rules add.
MIN_PHONE_DIGITS = 4
#: phonenumbers reads letters as keypad digits only when a number has this many (_VALID_ALPHA_PHONE_PATTERN)
KEYPAD_MIN_LETTERS = 3


def _contains(*needles: str) -> Gate:
    def gate(text: str) -> bool:
        return any(needle in text for needle in needles)

    return gate


def _searches(*patterns: regex.Pattern | re.Pattern) -> Gate:
    searches = [p.search for p in patterns]

    def gate(text: str) -> bool:
        return any(search(text) is not None for search in searches)

    return gate


def _presidio(source: str, flags: int = PRESIDIO_FLAGS) -> regex.Pattern:
    """A gate in presidio's dialect: the ``regex`` module's ``\\d`` knows more digits than ``re``'s."""
    return regex.compile(source, flags)


# PhoneRecognizer runs phonenumbers.PhoneNumberMatcher (leniency VALID), which reports substrings of matches of
# phonenumbermatcher._PATTERN: lead chars and digit blocks joined by _VALID_PUNCTUATION (it holds 'x'), then an
# optional extension right after a digit. Without one, every char there is a \d or a _PHONE_GAP char, and parse()
# takes the number's digits from the \d chars only, unless KEYPAD_MIN_LETTERS letters (all 'x') make it a keypad
# number. So a valid number needs a digit and an extension, or MIN_PHONE_DIGITS \d or KEYPAD_MIN_LETTERS 'x' in one
# run of those chars.
_PHONE_GAP = f"[{_VALID_PUNCTUATION}{_LEAD_CLASS_CHARS}]"
# one scan for both tests that start at a digit
_PHONE_DIGITS_OR_EXTENSION = re.compile(
    rf"\d(?:(?:{_PHONE_GAP}*+\d){{{MIN_PHONE_DIGITS - 1}}}|{_EXTN_PATTERNS_FOR_MATCHING})", _REGEX_FLAGS
)
_PHONE_KEYPAD = re.compile(rf"x(?:(?:\d|{_PHONE_GAP})*?x){{{KEYPAD_MIN_LETTERS - 1}}}", _REGEX_FLAGS)


def could_hold_a_phone_number(text: str) -> bool:
    """The phone gate: False only if phonenumbers finds no valid number in ``text``."""
    return _PHONE_DIGITS_OR_EXTENSION.search(text) is not None or _PHONE_KEYPAD.search(text) is not None


#: entity -> substrings one of which its recognizer's patterns require (case-sensitive patterns, and '@')
LITERAL_GATES: dict[str, tuple[str, ...]] = {
    "EMAIL_ADDRESS": ("@",),  # a literal [@]: no character case-folds to '@'
    "OPENAI_API_KEY": ("sk-",),
    "ANTHROPIC_API_KEY": ("sk-ant-",),
    "GOOGLE_API_KEY": ("AIza",),
    "AWS_ACCESS_KEY": ("AKIA", "ASIA"),
    "PRIVATE_KEY": ("PRIVATE KEY",),  # both patterns start with the "-----BEGIN ... PRIVATE KEY" label
    "JWT": ("eyJ",),
    "CONNECTION_STRING_PASSWORD": ("://",),
}

#: entity -> patterns one of which matches wherever its recognizer's patterns match
PATTERN_GATES: dict[str, tuple[regex.Pattern | re.Pattern, ...]] = {
    # presidio's card pattern is 4, 3-4, 3-4 and 3-5 digits, at most one [- ] between groups; lmgate's Mastercard
    # 2-series is 16 digits with the same separators: either has 13 digits, at most one [- ] apart
    "CREDIT_CARD": (_presidio(r"\d(?:[- ]?\d){12}"),),
    # every SSN pattern (5-4, 3-6, 3-2-4, 9 and 3[- .]2[- .]4 digits) has 9 ASCII digits, at most one [- .] apart
    "US_SSN": (_presidio(r"[0-9](?:[- .]?[0-9]){8}"),),
    "PHONE_NUMBER": (_PHONE_DIGITS_OR_EXTENSION, _PHONE_KEYPAD),
    # IPv4 has octet '.' octet (an octet starts and ends with an ASCII digit); every IPv6 form (and the mapped,
    # embedded and unspecified ones) has a hex digit or a ':' before a ':' (the lookbehinds let the scan find ':')
    "IP_ADDRESS": (_presidio(r"\.(?<=[0-9]\.)[0-9]"), _presidio(r":(?<=[0-9A-Fa-f:]:)")),
    # (bc1|[13]) and then 25 to 59 of the class
    "CRYPTO": (_presidio(r"[13][a-zA-HJ-NP-Z0-9]{25}"),),
    # the IBAN pattern starts with two capitals and two digits, case-sensitive
    "IBAN_CODE": (_presidio(r"[A-Z]{2}[0-9]{2}", IBAN_FLAGS),),
    # opt-in entities. Every date pattern has a digit.
    "DATE_TIME": (_presidio(r"\d"),),
    # hex pairs joined by ':' or '-', or hex quads joined by '.'
    "MAC_ADDRESS": (
        _presidio(r"[:-](?<=[0-9A-Fa-f]{2}[:-])[0-9A-Fa-f]{2}"),
        _presidio(r"\.(?<=[0-9A-Fa-f]{4}\.)[0-9A-Fa-f]{4}"),
    ),
    "MEDICAL_LICENSE": (_presidio(r"\d{7}"),),  # both alternatives end in \d{7}
    "UK_NHS": (_presidio(r"[0-9](?:[- ]?[0-9]){9}"),),  # 3, 3 and 4 ASCII digits, at most one [- ] apart
    "US_BANK_NUMBER": (_presidio(r"[0-9]{8}"),),
    "US_DRIVER_LICENSE": (_presidio(r"[0-9]"),),  # every alternative of both patterns has an ASCII digit
    "US_ITIN": (_presidio(r"9\d{2}"),),  # every pattern starts with 9\d{2}
    "US_PASSPORT": (_presidio(r"[0-9]{8}"),),  # [0-9]{9} or [A-Z][0-9]{8}
}

GATES: dict[str, Gate] = {
    **{entity: _contains(*needles) for entity, needles in LITERAL_GATES.items()},
    **{entity: _searches(*patterns) for entity, patterns in PATTERN_GATES.items()},
}


def possible_entities(text: str, entities: Sequence[str]) -> list[str]:
    """The entities (in the given order) whose recognizers could find something in ``text``."""
    return [e for e in entities if (gate := GATES.get(e)) is None or gate(text)]


def any_possible(text: str, entities: Sequence[str]) -> bool:
    """Whether some entity could be found in ``text``; the substring gates go first, they cost least."""
    if any(e not in GATES for e in entities):
        return True
    return any(GATES[e](text) for e in sorted(entities, key=lambda e: e not in LITERAL_GATES))
