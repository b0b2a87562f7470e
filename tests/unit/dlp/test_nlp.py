"""The no-model NLP engine, an installed model's NER, and the windowed context enhancer."""

from __future__ import annotations

import random
import time

import pytest
import spacy
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine

from lmgate.config import DlpConfig
from lmgate.dlp.analyzer import Detector
from lmgate.dlp.nlp import CONTEXT_STOP_WORDS, DlpModelMissing, WindowContextEnhancer, check_spacy_model
from lmgate.dlp.settings import DEFAULT_ENTITIES


def score(detector: Detector, text: str, entity: str) -> float:
    return max((f.score for f in detector.find(text) if f.entity == entity), default=0.0)


def test_context_words_raise_scores_without_a_model():
    detector = Detector(DlpConfig(score_threshold=0.0))
    assert score(detector, "reach 212-555-0187 tomorrow", "PHONE_NUMBER") == pytest.approx(0.4)
    assert score(detector, "my mobile phone: 212-555-0187", "PHONE_NUMBER") > 0.7
    # presidio lists "call" as a phone context word, spaCy as a stop word: here it counts
    assert score(detector, "call me at 212-555-0187", "PHONE_NUMBER") > 0.7
    assert score(detector, "my SSN is 536-90-4399", "US_SSN") > score(detector, "ref 536-90-4399", "US_SSN")


def test_no_tokens_nor_ner_up_front_without_a_model(detector):
    artifacts = detector.engine.nlp_engine.process_text("Ada Lovelace lives in London", "en")
    assert artifacts.entities == [] and len(artifacts.tokens) == 0


def test_missing_model_is_a_clear_startup_error(monkeypatch):
    monkeypatch.setattr(spacy.cli, "download", lambda *a, **k: pytest.fail("tried to download"))
    with pytest.raises(DlpModelMissing, match="'no_such_model' is not installed"):
        check_spacy_model("no_such_model")
    with pytest.raises(DlpModelMissing):
        Detector(DlpConfig(spacy_model="no_such_model", entities=["PERSON"]))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    """A tiny installed-style spaCy model: a blank pipeline whose entity ruler knows two names."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [
            {"label": "PERSON", "pattern": [{"LOWER": "ada"}, {"LOWER": "lovelace"}]},
            {"label": "GPE", "pattern": "London"},
        ]
    )
    path = tmp_path_factory.mktemp("model") / "en_test_ner"
    nlp.to_disk(path)
    return str(path)


def test_an_installed_model_switches_person_and_location_on(model_dir):
    detector = Detector(DlpConfig(spacy_model=model_dir, entities=[*DEFAULT_ENTITIES, "PERSON", "LOCATION"]))
    text = "Ada Lovelace (ada@example.com) moved to London."
    assert sorted((f.entity, text[f.start : f.end]) for f in detector.find(text)) == [
        ("EMAIL_ADDRESS", "ada@example.com"),
        ("LOCATION", "London"),
        ("PERSON", "Ada Lovelace"),
    ]


def test_a_model_without_ner_entities_configured_only_tokenizes(model_dir):
    detector = Detector(DlpConfig(spacy_model=model_dir))
    assert [f.entity for f in detector.find("Ada Lovelace moved to London")] == []


class WholeTextBlankEngine(SpacyNlpEngine):
    """The reference: presidio's own way, the whole prompt tokenized once, read by the stock enhancer."""

    def load(self) -> None:
        self.nlp = {"en": spacy.blank("en")}

    def get_supported_entities(self) -> list[str]:
        return []

    def is_stopword(self, word: str, language: str) -> bool:
        return word not in CONTEXT_STOP_WORDS and super().is_stopword(word, language)

    def _doc_to_nlp_artifact(self, doc, language):
        lemmas = [t.norm_ for t in doc]
        return NlpArtifacts([], doc, [t.idx for t in doc], lemmas, self, language, [])


def test_window_context_scores_like_presidio_over_the_whole_text(detector):
    reference = AnalyzerEngine(
        registry=detector.engine.registry,
        nlp_engine=WholeTextBlankEngine(),
        context_aware_enhancer=LemmaContextAwareEnhancer(),
    )
    rng = random.Random(11)
    words = ["my", "phone", "is", "ssn", "call", "card", "iban", "the", "of", ",", ":", "\n", "ip", "wallet", "x"]
    values = ["212-555-0187", "536-90-4399", "4111 1111 1111 1111", "10.0.0.7", "GB82WEST12345698765432"]
    for _ in range(150):
        parts = [rng.choice(words + values) for _ in range(rng.randint(1, 30))]
        text = " ".join(parts)
        expected = reference.analyze(text, language="en", entities=detector.entities, score_threshold=0.0)
        got = detector.engine.analyze(text, language="en", entities=detector.entities, score_threshold=0.0)
        key = lambda r: (r.entity_type, r.start, r.end, round(r.score, 6))  # noqa: E731
        assert sorted(map(key, got)) == sorted(map(key, expected)), text


def test_bisection_finds_the_same_token_as_presidio(detector):
    rng = random.Random(7)
    words = ["alpha", "b", "call", "212-555-0187", "x.y", "(", "ok", "\n", "  "]
    engine = detector.engine.nlp_engine
    for _ in range(200):
        text = "".join(rng.choice(words) + rng.choice(["", " ", "  ", "\n"]) for _ in range(rng.randint(1, 40)))
        doc = engine.tokenize(text)
        indices = [t.idx for t in doc]
        for start in range(len(text)):
            args = ("w", start, doc, indices)
            try:
                expected = LemmaContextAwareEnhancer._find_index_of_match_token(*args)
            except ValueError:
                with pytest.raises(ValueError):
                    WindowContextEnhancer._find_index_of_match_token(*args)
                continue
            assert WindowContextEnhancer._find_index_of_match_token(*args) == expected


def test_many_findings_in_a_long_prompt_scan_in_linear_time():
    detector = Detector(DlpConfig(entities=["EMAIL_ADDRESS"]))  # e-mail has context words, so it is enhanced
    text = " ".join(f"line {i}: write to u{i}@example.com today." for i in range(3000))
    started = time.monotonic()
    assert len(detector.find(text)) == 3000
    assert time.monotonic() - started < 6  # the stock enhancer walks the whole token list per finding: ~15 s
