"""The fast path finds exactly what presidio's whole pipeline finds: the same entities, spans and scores."""

from __future__ import annotations

import random
import sysconfig
from pathlib import Path

import pytest

from lmgate.config import DlpConfig
from lmgate.dlp.analyzer import Detector
from lmgate.dlp.candidates import WHERE, Alphabet, Where
from lmgate.dlp.gates import PRESIDIO_FLAGS
from lmgate.dlp.settings import DEFAULT_ENTITIES
from tests.unit.dlp import samples as s
from tests.unit.dlp.corpus import corpus
from tests.unit.dlp.test_candidates import edge_texts
from tests.unit.dlp.test_gates import ALL_PATTERN_ENTITIES, ungated

pytestmark = pytest.mark.filterwarnings("ignore:non-integer arguments to randrange:DeprecationWarning")  # dlp_eval's


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(DlpConfig(entities=ALL_PATTERN_ENTITIES, score_threshold=0.0))


def stdlib_chunks(n: int, size: int = 2048) -> list[str]:
    """Real code: chunks of this Python's standard library, the same ones each run."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if p.stat().st_size > size)
    rng = random.Random(19)
    chunks = []
    for path in rng.sample(files, n):
        text = path.read_text(errors="replace")
        at = rng.randrange(len(text) - size)
        chunks.append(text[at : at + size])
    return chunks


def test_default_entities_take_the_fast_path_and_the_others_presidios(detector):
    assert set(DEFAULT_ENTITIES) <= set(WHERE)
    assert detector.fast is not None
    assert [w.entity for _, w in detector.fast.windowed] == [e for e in ALL_PATTERN_ENTITIES if e in WHERE]
    assert detector.fast.whole == [e for e in ALL_PATTERN_ENTITIES if e not in WHERE]


def test_fast_path_equals_presidio_on_edge_cases_eval_prompts_and_random_texts(detector):
    found = 0
    for text in corpus() + edge_texts(random.Random(8), 3000):
        expected = ungated(detector, text)
        assert detector.find(text) == expected, text
        found += bool(expected)
    assert found > 1000


def test_fast_path_equals_presidio_on_real_code(detector):
    found = 0
    for text in stdlib_chunks(60):
        expected = ungated(detector, text)
        assert detector.find(text) == expected, text
        found += bool(expected)
    assert found > 10  # DATE_TIME, URL, US_DRIVER_LICENSE... fire on code


def test_fast_path_equals_presidio_at_the_default_threshold():
    detector = Detector(DlpConfig())
    found = 0
    for text in corpus():
        expected = detector.find_with_presidio(text)
        assert detector.find(text) == expected, text
        found += bool(expected)
    assert found > 300


def test_a_match_past_its_segment_hands_the_text_to_presidio(detector, monkeypatch):
    # an alphabet without '.': the address runs past its segment, so the segments prove nothing
    narrow = Where(Alphabet(r"[\w@]", PRESIDIO_FLAGS), ("@",))
    windowed = [(narrow if w.entity == "EMAIL_ADDRESS" else where, w) for where, w in detector.fast.windowed]
    monkeypatch.setattr(detector.fast, "windowed", windowed)
    (email,) = [w for _, w in windowed if w.entity == "EMAIL_ADDRESS"]
    whole_text_runs = []
    analyze = email.recognizer.analyze
    monkeypatch.setattr(email.recognizer, "analyze", lambda text, e: whole_text_runs.append(text) or analyze(text, e))
    text = f"write to {s.EMAIL} today"
    found = detector.find(text)
    assert ("EMAIL_ADDRESS", s.EMAIL) in [(f.entity, text[f.start : f.end]) for f in found]
    assert whole_text_runs == [text]
    monkeypatch.undo()
    assert found == ungated(detector, text)


def test_a_prompt_without_seeds_runs_no_recognizer(monkeypatch):
    detector = Detector(DlpConfig())

    def boom(*args):
        raise AssertionError("a recognizer ran")

    for _, windowed in detector.fast.windowed:
        monkeypatch.setattr(windowed, "analyze", boom)
    monkeypatch.setattr(detector.engine, "analyze", boom)
    assert detector.find("Summarise the attached meeting notes in three bullet points, please!") == []


def test_could_find_is_false_only_where_nothing_is_found(detector):
    default = Detector(DlpConfig(score_threshold=0.0))
    said_no = 0
    for text in corpus() + edge_texts(random.Random(9), 2000):
        for d in (detector, default):
            if not d.could_find(text):
                said_no += 1
                assert d.find(text) == [] and d.find_with_presidio(text) == [], text
    assert said_no > 30  # prose without digits, x, @ or :


def test_a_phone_number_is_judged_by_its_own_surroundings_each_time(detector):
    # the same candidate, remembered from one text, next to a letter, a time stamp's seconds, or nothing
    texts = [
        "call 212-555-0187 now",
        "call x212-555-0187 now",
        "call 212-555-0187x now",
        "abc2125550187",
        "2125550187 def",
        "at 2024-05-01 10:30 then",
        "at 2024-05-01 10:30:15 then",
        "2125550187",
        "€2125550187",
        "+1 212-555-0187 ext. 12",
    ]
    for text in texts + texts[::-1] + texts:
        assert detector.find(text) == ungated(detector, text), text
    assert any(detector.find(text) for text in texts) and not all(detector.find(text) for text in texts)
