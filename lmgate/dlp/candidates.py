"""Where in a text an entity can be: seeds found by its gate, grown into segments.

A segment is a maximal run of the characters its recognizer's matches can
consist of (the entity's alphabet). No match can contain a character outside
the alphabet, so a match never crosses a segment's edge, and presidio's
left-to-right scan over the whole text finds inside a segment exactly what a
scan of that segment alone finds (lookarounds still see the text around it).
Every match contains a match of the entity's gate (``gates.py``), so a segment
without a seed holds no match: recognizers need to run on seeded segments only.
Most prompts have no seed for most entities, and the seeded segments are short
(a word, a number with its separators).

tests/unit/dlp/test_candidates.py checks, over all of Unicode, that every
character a pattern can match is in its alphabet; that anchored seeds find a
match wherever a search does; and that every match presidio reports lies in a
seeded segment.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

import regex
from phonenumbers.phonenumbermatcher import _LEAD_CLASS_CHARS
from phonenumbers.phonenumberutil import _VALID_PUNCTUATION

from lmgate.dlp.gates import IBAN_FLAGS, LITERAL_GATES, PATTERN_GATES, PRESIDIO_FLAGS
from lmgate.dlp.recognizers import CASE_SENSITIVE

Segment = tuple[int, int]


class Alphabet:
    """A character class; ``segment`` gives the maximal run of its characters around a position."""

    def __init__(self, char_class: str, flags: int) -> None:
        self.char_class = char_class
        self.flags = flags
        self._forward = regex.compile(f"{char_class}*", flags)
        self._backward = regex.compile(f"{char_class}*", flags | regex.REVERSE)

    def segment(self, text: str, at: int) -> Segment:
        # at least the seed itself, so a seed outside the alphabet still gets looked at
        return self._backward.match(text, 0, at).start(), max(self._forward.match(text, at).end(), at + 1)


#: anchor characters looked up per text; with more, the seed patterns search the text instead
ANCHOR_LIMIT = 48
DIGITS = "digits"  # Seed.anchors: every digit
_DIGIT = regex.compile(r"\d")  # the regex module's \d: every digit re's \d knows, and newer ones
_ASCII_DIGIT = regex.compile(r"[0-9]")  # the same on ASCII text, and faster


class Text:
    """One text and what its seed searches share: where its digits (or other anchors) are."""

    __slots__ = ("_anchors", "ascii", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.ascii = text.isascii()
        self._anchors: dict[str, list[int] | None] = {}

    def anchors(self, chars: str) -> list[int] | None:
        """Positions of ``chars`` (or of every digit: DIGITS) in order, or None when there are over ANCHOR_LIMIT."""
        if chars not in self._anchors:
            if chars == DIGITS:
                digit = _ASCII_DIGIT if self.ascii else _DIGIT
                found = [m.start() for m in islice(digit.finditer(self.text), ANCHOR_LIMIT + 1)]
            else:
                found = sorted(at for char in chars for at in _positions(self.text, char, ANCHOR_LIMIT + 1))
            self._anchors[chars] = found if len(found) <= ANCHOR_LIMIT else None
        return self._anchors[chars]


def digits_at_most(texts: list[str], most: int) -> bool:
    """Whether the texts hold at most ``most`` digits together (``most`` < ANCHOR_LIMIT)."""
    total = 0
    for text in texts:
        digits = Text(text).anchors(DIGITS)
        total += ANCHOR_LIMIT + 1 if digits is None else len(digits)
        if total > most:
            return False
    return True


def _positions(text: str, char: str, limit: int) -> Iterator[int]:
    at = text.find(char)
    while at != -1 and limit > 0:
        yield at
        limit -= 1
        at = text.find(char, at + 1)


@dataclass(frozen=True, slots=True)
class Seed:
    """A gate pattern as a seed finder. With ``anchors`` (DIGITS or characters), every match starts ``offset``
    from one of them, so one ``match`` per anchor finds them all: cheaper than a search while anchors are few."""

    pattern: regex.Pattern | re.Pattern
    anchors: str | None = None
    offset: int = 0

    def starts(self, text: Text) -> Iterator[int]:
        """Where matches start, in order; after a yield, the caller sends the position to go on from."""
        pattern, string = self.pattern, text.text
        anchors = text.anchors(self.anchors) if self.anchors is not None else None
        if anchors is not None:
            pos = 0
            for anchor in anchors:
                at = anchor + self.offset
                if at >= pos and at >= 0 and pattern.match(string, at) is not None:
                    sent = yield at
                    pos = at + 1 if sent is None else sent
            return
        m = pattern.search(string)
        while m is not None:
            sent = yield m.start()
            m = pattern.search(string, m.start() + 1 if sent is None else sent)


@dataclass(frozen=True, slots=True)
class Where:
    """An entity's seeds (its gate's literals or patterns) and alphabet; no alphabet: the whole text."""

    alphabet: Alphabet | None
    literals: tuple[str, ...] = ()
    seeds: tuple[Seed, ...] = ()

    def segments(self, text: Text) -> list[Segment]:
        """The seeded segments of the text, in order."""
        string = text.text
        if self.alphabet is None:
            seeded = any(needle in string for needle in self.literals) or any(
                next(seed.starts(text), None) is not None for seed in self.seeds
            )
            return [(0, len(string))] if seeded else []
        found: set[Segment] = set()
        segment = self.alphabet.segment
        for needle in self.literals:
            at = string.find(needle)
            while at != -1:
                found.add(seg := segment(string, at))
                at = string.find(needle, seg[1])  # a later occurrence inside this segment adds nothing
        for seed in self.seeds:
            starts = seed.starts(text)
            at = next(starts, None)
            while at is not None:
                found.add(seg := segment(string, at))
                at = _send(starts, seg[1])
        return sorted(found)


def _send(starts: Iterator[int], pos: int) -> int | None:
    try:
        return starts.send(pos)  # type: ignore[attr-defined]
    except StopIteration:
        return None


class AnySeed:
    """Whether a text could hold a seed of any of ``wheres``: their literals and anchor characters (substring tests,
    which cost far less than a regex scan), digits, and unanchored seed patterns. Most short prompts (a system
    prompt) have none of them."""

    def __init__(self, wheres: list[Where]) -> None:
        needles: set[str] = set()
        self.digits = False
        self.patterns: list[regex.Pattern | re.Pattern] = []
        for where in wheres:
            needles.update(where.literals)
            for seed in where.seeds:
                if seed.anchors == DIGITS:
                    self.digits = True
                elif seed.anchors is not None:
                    needles.update(seed.anchors)
                else:
                    self.patterns.append(seed.pattern)
        self.needles = sorted(needles, key=len)

    def search(self, text: str) -> bool:
        if any(needle in text for needle in self.needles):
            return True
        if self.digits and (
            any(digit in text for digit in "0123456789") if text.isascii() else _DIGIT.search(text) is not None
        ):
            return True
        return any(pattern.search(text) is not None for pattern in self.patterns)


def _presidio(char_class: str) -> Alphabet:
    return Alphabet(char_class, PRESIDIO_FLAGS)


def _case_sensitive(char_class: str) -> Alphabet:
    return Alphabet(char_class, CASE_SENSITIVE)


def _phone_alphabet() -> Alphabet:
    """Every character phonenumbers' candidate pattern can match: digits, punctuation, lead characters and the
    extension words' letters and separators. In the ``regex`` dialect, whose ``\\d`` holds every digit ``re``'s does."""
    # ó also written as o + U+0301; re's IGNORECASE matches ı and İ for i, ſ for s
    extension = "".join(sorted(set("ext=ensió\u0301ｅｘｔｎдобanexo;:.．\t ,-#＃~～xｘintｉｎｔ\xa0ıİſ")))
    # phonenumbers' own class contents (ranges in them stay ranges), as its patterns use them
    escaped = regex.escape(extension, special_only=False)
    return Alphabet(rf"[{_VALID_PUNCTUATION}{_LEAD_CLASS_CHARS}{escaped}\d]", regex.IGNORECASE)


def _digit_seed(entity: str) -> Seed:
    (gate,) = PATTERN_GATES[entity]
    return Seed(gate, DIGITS)


_SECRET_KEY = _case_sensitive(r"[A-Za-z0-9_-]")
# the gates, and where their matches start relative to a character every match holds: card, SSN and phone matches
# start with a digit, crypto's with [13], the keypad's with an 'x' (or 'X'), an IBAN's two capitals before a digit,
# IPv4's '.' after one
(_CARD,) = PATTERN_GATES["CREDIT_CARD"]
(_SSN,) = PATTERN_GATES["US_SSN"]
_IPV4, _IPV6 = PATTERN_GATES["IP_ADDRESS"]
(_CRYPTO,) = PATTERN_GATES["CRYPTO"]
(_IBAN,) = PATTERN_GATES["IBAN_CODE"]
_PHONE, _KEYPAD = PATTERN_GATES["PHONE_NUMBER"]

#: entity -> where its recognizer can find something; entities missing here run presidio's recognizer whole
WHERE: dict[str, Where] = {
    "EMAIL_ADDRESS": Where(_presidio(r"[!#$%&'*+\-/=?^_`{|}~.\w@]"), LITERAL_GATES["EMAIL_ADDRESS"]),
    "OPENAI_API_KEY": Where(_SECRET_KEY, LITERAL_GATES["OPENAI_API_KEY"]),
    "ANTHROPIC_API_KEY": Where(_SECRET_KEY, LITERAL_GATES["ANTHROPIC_API_KEY"]),
    "GOOGLE_API_KEY": Where(_SECRET_KEY, LITERAL_GATES["GOOGLE_API_KEY"]),
    "AWS_ACCESS_KEY": Where(_case_sensitive(r"[A-Z0-9]"), LITERAL_GATES["AWS_ACCESS_KEY"]),
    "JWT": Where(_case_sensitive(r"[A-Za-z0-9_.-]"), LITERAL_GATES["JWT"]),
    # a key block spans lines and spaces: the whole text, when the label is in it
    "PRIVATE_KEY": Where(None, LITERAL_GATES["PRIVATE_KEY"]),
    "CONNECTION_STRING_PASSWORD": Where(_case_sensitive(r"""[^\s"'<>]"""), LITERAL_GATES["CONNECTION_STRING_PASSWORD"]),
    "CREDIT_CARD": Where(_presidio(r"[\d -]"), seeds=(Seed(_CARD, DIGITS),)),
    "US_SSN": Where(_presidio(r"[0-9 .-]"), seeds=(Seed(_SSN, DIGITS),)),
    # the zone of fe80::1%eth0 is letters and digits, a prefix length is digits after '/'
    "IP_ADDRESS": Where(_presidio(r"[\d0-9A-Za-z:.%/]"), seeds=(Seed(_IPV4, DIGITS, 1), Seed(_IPV6))),
    "CRYPTO": Where(_presidio(r"[A-Za-z0-9]"), seeds=(Seed(_CRYPTO, "13"),)),
    "IBAN_CODE": Where(Alphabet(r"[A-Z0-9 -]", IBAN_FLAGS), seeds=(Seed(_IBAN, DIGITS, -2),)),
    "PHONE_NUMBER": Where(_phone_alphabet(), seeds=(Seed(_PHONE, DIGITS), Seed(_KEYPAD, "xX"))),
    # opt-in entities; their gates' matches start at a digit, but MAC's
    "DATE_TIME": Where(_presidio(r"[\dA-Za-z:./+-]"), seeds=(_digit_seed("DATE_TIME"),)),
    "MAC_ADDRESS": Where(_presidio(r"[0-9A-Fa-f:.-]"), seeds=tuple(Seed(p) for p in PATTERN_GATES["MAC_ADDRESS"])),
    "MEDICAL_LICENSE": Where(_presidio(r"[\dA-Za-z]"), seeds=(_digit_seed("MEDICAL_LICENSE"),)),
    "UK_NHS": Where(_presidio(r"[0-9 -]"), seeds=(_digit_seed("UK_NHS"),)),
    "US_BANK_NUMBER": Where(_presidio(r"[0-9]"), seeds=(_digit_seed("US_BANK_NUMBER"),)),
    # one of its alternatives is presidio's typo "A-Z]{2}": a literal '-' and ']'
    "US_DRIVER_LICENSE": Where(_presidio(r"[A-Za-z0-9\]-]"), seeds=(_digit_seed("US_DRIVER_LICENSE"),)),
    "US_ITIN": Where(_presidio(r"[\d -]"), seeds=(_digit_seed("US_ITIN"),)),
    "US_PASSPORT": Where(_presidio(r"[A-Za-z0-9]"), seeds=(_digit_seed("US_PASSPORT"),)),
}
