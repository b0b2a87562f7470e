"""presidio's recognizers run on segments (``candidates.py``) instead of the whole text, with the same results.

Each function here is the loop of the presidio (or phonenumbers) code it names,
with one change: the regex scans from a segment's start to its end (plus a few
characters for lookaheads) instead of from 0 to the end of the text. Validation
(Luhn, IBAN and Bitcoin checksums, parsing an address), invalidation and scores
are presidio's own methods, called on the same matched text. A match reaching
past its segment would mean the alphabet missed a character: ``OutsideSegment``
then hands the text to presidio's recognizer whole, so such a gap costs time,
never a finding.
"""

from __future__ import annotations

from collections.abc import Iterator

import regex
from phonenumbers import Leniency
from phonenumbers.phonenumbermatcher import _PATTERN as PHONE_CANDIDATE
from phonenumbers.phonenumbermatcher import PhoneNumberMatcher
from phonenumbers.phonenumberutil import _SECOND_NUMBER_START_PATTERN
from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import IbanRecognizer, PhoneRecognizer

from lmgate.dlp.candidates import Segment
from lmgate.dlp.gates import could_hold_a_phone_number

#: characters after a segment that the regex may read: the patterns' lookaheads and \b read at most 14 past a
#: match's start or 2 past its end, and a match ends inside its segment
LOOKAHEAD = 16
MIN_SCORE = EntityRecognizer.MIN_SCORE
MAX_SCORE = EntityRecognizer.MAX_SCORE


class OutsideSegment(Exception):
    """A match reached past its segment: the alphabet is missing a character, so the segments prove nothing."""


def _matches(rx: regex.Pattern, text: str, segments: list[Segment]) -> Iterator[regex.Match]:
    end_of_text = len(text)
    for start, end in segments:
        for m in rx.finditer(text, start, min(end_of_text, end + LOOKAHEAD)):
            if m.start() >= end:
                break  # the next segment's, or cut short by the lookahead window
            if m.end() > end:
                raise OutsideSegment
            yield m


def _scored(recognizer: PatternRecognizer, score: float, matched: str) -> float:
    """PatternRecognizer.__analyze_patterns: a validation sets the score to max or min, an invalidation to min."""
    validation = recognizer.validate_result(matched)
    if validation is not None:
        score = MAX_SCORE if validation else MIN_SCORE
    invalidation = recognizer.invalidate_result(matched)
    if invalidation is not None and invalidation:
        score = MIN_SCORE
    return score


class WindowedRecognizer:
    """One entity's presidio recognizer, run on segments."""

    def __init__(self, recognizer: EntityRecognizer) -> None:
        self.recognizer = recognizer
        self.entity = recognizer.supported_entities[0]
        if isinstance(recognizer, PatternRecognizer):
            self.compiled = [
                (p.score, regex.compile(p.regex, recognizer.global_regex_flags)) for p in recognizer.patterns
            ]

    @staticmethod
    def supports(recognizer: EntityRecognizer) -> bool:
        """Recognizers whose ``analyze`` is one of the loops below (lmgate's may refine the results after it)."""
        if type(recognizer) in (IbanRecognizer, PhoneRecognizer):
            return True
        return isinstance(recognizer, PatternRecognizer) and (
            type(recognizer).analyze is PatternRecognizer.analyze or hasattr(recognizer, "refine")
        )

    def analyze(self, text: str, segments: list[Segment]) -> list[RecognizerResult]:
        """What ``recognizer.analyze(text, [entity])`` returns (scores before context)."""
        try:
            if isinstance(self.recognizer, PhoneRecognizer):
                return self._phone(text, segments)
            if isinstance(self.recognizer, IbanRecognizer):
                return self._iban(text, segments)
            results = self._patterns(text, segments)
        except OutsideSegment:
            return self.recognizer.analyze(text, [self.entity])
        refine = getattr(self.recognizer, "refine", None)
        return refine(text, results) if refine is not None else results

    def _result(self, start: int, end: int, score: float) -> RecognizerResult:
        return RecognizerResult(self.entity, start, end, score)

    def _patterns(self, text: str, segments: list[Segment]) -> list[RecognizerResult]:
        """PatternRecognizer.__analyze_patterns."""
        results = []
        for pattern_score, rx in self.compiled:
            for m in _matches(rx, text, segments):
                start, end = m.span()
                if start == end:
                    continue
                score = _scored(self.recognizer, pattern_score, text[start:end])
                if score > MIN_SCORE:
                    results.append(self._result(start, end, score))
        return EntityRecognizer.remove_duplicates(results)

    def _iban(self, text: str, segments: list[Segment]) -> list[RecognizerResult]:
        """IbanRecognizer.__analyze_patterns: the longest group-ending prefix of a match that validates."""
        results = []
        for pattern_score, rx in self.compiled:
            for m in _matches(rx, text, segments):
                start = m.start()
                for group in reversed(range(1, len(m.groups()) + 1)):
                    end = m.end(group) if m.end(group) > 0 else m.end()
                    matched = text[start:end]
                    if matched == "":
                        continue
                    score = pattern_score
                    validation = self.recognizer.validate_result(matched)
                    if validation is not None:
                        score = MAX_SCORE if validation else MIN_SCORE
                    if score > MIN_SCORE:
                        results.append(self._result(start, end, score))
                        break
        return results

    def _phone(self, text: str, segments: list[Segment]) -> list[RecognizerResult]:
        """PhoneRecognizer.analyze over PhoneNumberMatcher._find per region, each search ending at the segment.

        phonenumbers' candidate pattern has no lookaround, so a search cut at a character it cannot match finds
        what the uncut search finds. The matcher object still holds the whole text: its checks of the characters
        around a candidate (a letter before, a time-stamp after) see what they always see. Unlike the whole-text
        run, candidates in segments without a seed, candidates no number can be in (``_phone_in``) and repeated ones
        do not count against ``max_tries`` (65,535 failed candidates before it gives up on a text): past that many,
        this finds numbers the whole-text run no longer would.
        """
        recognizer: PhoneRecognizer = self.recognizer  # type: ignore[assignment]
        results = []
        for region in recognizer.supported_regions:
            matcher = PhoneNumberMatcher(text, region, leniency=recognizer.leniency)
            for start, end in segments:
                index = start
                while matcher._max_tries > 0:
                    m = PHONE_CANDIDATE.search(text, index, end)
                    if m is None:
                        break
                    at = m.start()
                    candidate = matcher._trim_after_first_match(_SECOND_NUMBER_START_PATTERN, text[at : m.end()])
                    if len(candidate) >= matcher._min_candidate_length:
                        span = _phone_in(matcher, candidate, at)
                        if span is not None:
                            results.append(self._result(at + span[0], at + span[1], recognizer.SCORE))
                            index = at + span[1]
                            continue
                        matcher._max_tries -= 1
                    index = at + len(candidate)
        return EntityRecognizer.remove_duplicates(results)


#: what PhoneNumberMatcher._extract_match found in a candidate (its span in the candidate, or None), by region,
#: candidate, the character before it and the three after it: at leniency VALID it reads nothing else of the text
#: (a letter or currency sign next to the number, a ":ss" after a time stamp). Logs and tables repeat candidates.
_PHONE_SPANS: dict[tuple[str, str, str, str], tuple[int, int] | None] = {}
PHONE_SPANS_KEPT = 4096


def _phone_in(matcher: PhoneNumberMatcher, candidate: str, at: int) -> tuple[int, int] | None:
    """matcher._extract_match(candidate, at), as a span relative to ``at``, remembered for the same surroundings."""
    if not could_hold_a_phone_number(candidate):
        return None  # what it returns is part of the candidate, and a valid number passes the phone gate
    text, after = matcher.text, at + len(candidate)
    key = (matcher.preferred_region, candidate, text[at - 1 : at], text[after : after + 3])
    if matcher.leniency == Leniency.VALID and key in _PHONE_SPANS:
        return _PHONE_SPANS[key]
    found = matcher._extract_match(candidate, at)
    span = None if found is None else (found.start - at, found.end - at)
    if matcher.leniency == Leniency.VALID:
        if len(_PHONE_SPANS) >= PHONE_SPANS_KEPT:
            _PHONE_SPANS.clear()
        _PHONE_SPANS[key] = span
    return span
