"""Seeds and segments: every character a pattern can match is in its alphabet, anchored seeds find what a search
finds, and every match presidio's recognizers report lies inside a seeded segment."""

from __future__ import annotations

import random
import re
import re._constants as sre
import re._parser as sre_parse
from collections.abc import Iterator
from functools import cache

import pytest
import regex
from phonenumbers.phonenumbermatcher import _PATTERN as PHONE_CANDIDATE
from phonenumbers.phonenumberutil import _REGEX_FLAGS

from lmgate.dlp.analyzer import PATTERN_RECOGNIZERS
from lmgate.dlp.candidates import ANCHOR_LIMIT, WHERE, AnySeed, Seed, Text
from tests.unit.dlp.corpus import all_chars, corpus, random_texts

CATEGORIES = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
}

#: texts dense in what the alphabets end at: separators, letters next to digits, seeds of every entity
EDGE_PIECES = [
    *"0123456789",
    "4111",
    "１２",
    "٣",
    *" -.:/%@_'\"<>()+#,;=\n\t",
    "::",
    "x",
    "X",
    "ext",
    "a",
    "Z",
    "é",
    "ſ",
    "sk-",
    "sk-ant-",
    "AIza",
    "AKIA",
    "eyJ",
    "://",
    "GB82",
    "WEST",
    "bc1q",
    "1Bo",
    "fe80",
    "ffff",
    "255",
    "example.com",
    "user:pw@",
]


def edge_texts(rng: random.Random, n: int) -> list[str]:
    return random_texts(rng, n, EDGE_PIECES, longest=24)


def _atoms(items: sre_parse.SubPattern | list) -> Iterator[str]:
    """Each character-consuming atom of a parsed pattern, as a one-character class (lookarounds consume none)."""
    for op, av in items:
        if op in (sre.ASSERT, sre.ASSERT_NOT, sre.AT, sre.GROUPREF):
            continue  # a backreference repeats characters its group's atoms already give
        if op is sre.LITERAL:
            yield f"[{regex.escape(chr(av), special_only=False)}]"
        elif op is sre.NOT_LITERAL:
            yield f"[^{regex.escape(chr(av), special_only=False)}]"
        elif op is sre.ANY:
            yield "."
        elif op is sre.IN:
            yield "[" + "".join(_class_item(item) for item in av) + "]"
        elif op is sre.BRANCH:
            for branch in av[1]:
                yield from _atoms(branch)
        elif op is sre.SUBPATTERN:
            yield from _atoms(av[3])
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            yield from _atoms(av[2])
        elif op is sre.ATOMIC_GROUP:
            yield from _atoms(av)
        else:
            raise AssertionError(f"no rule for {op}")


def _class_item(item: tuple) -> str:
    op, av = item
    if op is sre.NEGATE:
        return "^"
    if op is sre.LITERAL:
        return regex.escape(chr(av), special_only=False)
    if op is sre.RANGE:
        return f"{regex.escape(chr(av[0]), special_only=False)}-{regex.escape(chr(av[1]), special_only=False)}"
    if op is sre.CATEGORY:
        return CATEGORIES[av]
    raise AssertionError(f"no rule for {op} in a class")


@cache
def _matched_by(atom: str, flags: int, module_name: str) -> str:
    module = regex if module_name == "regex" else re
    return "".join(sorted(set(module.findall(atom, all_chars(), flags))))


def _patterns(entity: str) -> list[tuple[str, int, str]]:
    """(source, flags, module) of each pattern the entity's recognizer runs."""
    if entity == "PHONE_NUMBER":
        return [(PHONE_CANDIDATE.pattern, _REGEX_FLAGS, "re")]
    recognizer = PATTERN_RECOGNIZERS[entity]()
    return [(p.regex, recognizer.global_regex_flags, "regex") for p in recognizer.patterns]


@pytest.mark.parametrize("entity", sorted(e for e, where in WHERE.items() if where.alphabet is not None))
def test_every_character_a_pattern_can_match_is_in_the_alphabet(entity):
    alphabet = WHERE[entity].alphabet
    assert alphabet is not None
    run = regex.compile(f"{alphabet.char_class}*", alphabet.flags)
    checked = 0
    for source, flags, module in _patterns(entity):
        for atom in set(_atoms(sre_parse.parse(source, flags & ~re.IGNORECASE))):
            chars = _matched_by(atom, flags & (re.IGNORECASE | re.DOTALL), module)
            missing = [hex(ord(c)) for c in chars if not run.fullmatch(c)]
            assert not missing, f"{entity}: {atom} matches {missing[:10]}, outside the alphabet"
            checked += 1
    assert checked


def test_only_x_and_capital_x_match_the_keypad_anchor():
    assert re.findall("x", all_chars(), _REGEX_FLAGS) == ["X", "x"]


def _seeds() -> list[tuple[str, Seed]]:
    return [(entity, seed) for entity, where in WHERE.items() for seed in where.seeds if seed.anchors is not None]


@pytest.mark.filterwarnings("ignore:non-integer arguments to randrange:DeprecationWarning")  # dlp_eval's
@pytest.mark.parametrize(("entity", "seed"), _seeds(), ids=[f"{e}-{s.pattern.pattern[:12]}" for e, s in _seeds()])
def test_an_anchored_seed_finds_a_match_wherever_a_search_does(entity, seed):
    texts = edge_texts(random.Random(3), 4000) + random_texts(random.Random(4), 2000) + corpus()
    texts += ["".join(random.Random(i).choice("0123456789 -.x") for _ in range(ANCHOR_LIMIT * 3)) for i in range(50)]
    found = 0
    for text in texts:
        starts = list(seed.starts(Text(text)))  # without sends: every match start an anchor finds
        assert all(seed.pattern.match(text, at) for at in starts), text
        assert bool(starts) == (seed.pattern.search(text) is not None), text
        found += bool(starts)
    assert found > 20  # the keypad form is the rarest


@pytest.mark.filterwarnings("ignore:non-integer arguments to randrange:DeprecationWarning")  # dlp_eval's
def test_every_match_presidio_reports_lies_in_a_seeded_segment():
    texts = corpus() + edge_texts(random.Random(5), 3000)
    seen: dict[str, int] = dict.fromkeys(WHERE, 0)
    for entity, where in WHERE.items():
        recognizer = PATTERN_RECOGNIZERS[entity]()
        for text in texts:
            results = recognizer.analyze(text, [entity])
            if not results:
                continue
            segments = where.segments(Text(text))
            for r in results:
                assert any(a <= r.start and r.end <= b for a, b in segments), (entity, text, r)
            seen[entity] += 1
    assert all(seen.values()), seen


@pytest.mark.filterwarnings("ignore:non-integer arguments to randrange:DeprecationWarning")  # dlp_eval's
def test_any_seed_finds_something_wherever_an_entity_has_a_segment():
    each = {entity: AnySeed([where]) for entity, where in WHERE.items()}
    together = AnySeed(list(WHERE.values()))
    seeded = 0
    unicode_digits = ["١٢٣ and ４", "é ٣"]
    for text in corpus() + edge_texts(random.Random(6), 3000) + unicode_digits + ["You are a concise senior engineer."]:
        for entity, where in WHERE.items():
            if where.segments(Text(text)):
                seeded += 1
                assert each[entity].search(text) and together.search(text), (entity, text)
    assert seeded > 1000
    assert not together.search("You are a concise senior engineer.")
