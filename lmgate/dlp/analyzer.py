"""The presidio AnalyzerEngine for the configured entities, and the Detector that finds them.

Only the recognizers of configured entities are built. The Detector runs them
on candidates only (``fast.py``); with ``dlp.spacy_model`` set, PERSON and
LOCATION come from the NER of that installed model (see ``nlp.py``: nothing is
downloaded), and the scan is presidio's whole pipeline, behind the gates
(``gates.py``): the model reads the whole text anyway, and its context words
come from its own lemmas.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry
from presidio_analyzer.nlp_engine import SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CryptoRecognizer,
    DateRecognizer,
    IbanRecognizer,
    MacAddressRecognizer,
    MedicalLicenseRecognizer,
    NhsRecognizer,
    PhoneRecognizer,
    SpacyRecognizer,
    UrlRecognizer,
    UsBankRecognizer,
    UsItinRecognizer,
    UsLicenseRecognizer,
    UsPassportRecognizer,
    UsSsnRecognizer,
)

from lmgate.config import DlpConfig
from lmgate.dlp.fast import FastDetector
from lmgate.dlp.finding import Finding
from lmgate.dlp.gates import any_possible, possible_entities
from lmgate.dlp.nlp import (
    LANGUAGE,
    BlankEnglishNlpEngine,
    InstalledModelNlpEngine,
    WindowContextEnhancer,
    check_spacy_model,
)
from lmgate.dlp.recognizers import (
    SECRET_RECOGNIZERS,
    CardRecognizer,
    OfflineEmailRecognizer,
    PersonalIpRecognizer,
)
from lmgate.dlp.settings import NER_ENTITIES

# presidio logs matched text (debug context lists, IBAN validation errors): a value must never reach a log
logging.getLogger("presidio-analyzer").setLevel(logging.CRITICAL + 1)

#: entity -> recognizer factory; NER entities come from SpacyRecognizer instead
PATTERN_RECOGNIZERS: dict[str, Callable[[], EntityRecognizer]] = {
    "CREDIT_CARD": CardRecognizer,
    "CRYPTO": CryptoRecognizer,
    "EMAIL_ADDRESS": OfflineEmailRecognizer,
    "IBAN_CODE": IbanRecognizer,
    "IP_ADDRESS": PersonalIpRecognizer,
    "PHONE_NUMBER": PhoneRecognizer,
    "US_SSN": UsSsnRecognizer,
    "DATE_TIME": DateRecognizer,
    "MAC_ADDRESS": MacAddressRecognizer,
    "MEDICAL_LICENSE": MedicalLicenseRecognizer,
    "UK_NHS": NhsRecognizer,
    "URL": UrlRecognizer,
    "US_BANK_NUMBER": UsBankRecognizer,
    "US_DRIVER_LICENSE": UsLicenseRecognizer,
    "US_ITIN": UsItinRecognizer,
    "US_PASSPORT": UsPassportRecognizer,
    **SECRET_RECOGNIZERS,
}


def build_engine(cfg: DlpConfig) -> AnalyzerEngine:
    """An AnalyzerEngine with only the configured entities' recognizers."""
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    for entity in cfg.entities:
        if entity in PATTERN_RECOGNIZERS:
            registry.add_recognizer(PATTERN_RECOGNIZERS[entity]())
    ner = [e for e in cfg.entities if e in NER_ENTITIES]
    if cfg.spacy_model:
        check_spacy_model(cfg.spacy_model)
        nlp_engine: SpacyNlpEngine = InstalledModelNlpEngine(
            models=[{"lang_code": LANGUAGE, "model_name": cfg.spacy_model}]
        )
        if ner:
            registry.add_recognizer(SpacyRecognizer(supported_language=LANGUAGE, supported_entities=ner))
    else:
        nlp_engine = BlankEnglishNlpEngine()
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=[LANGUAGE],
        context_aware_enhancer=WindowContextEnhancer(),
    )


class Detector:
    """Finds the configured entities above the configured score in strings."""

    def __init__(self, cfg: DlpConfig) -> None:
        self.threshold = cfg.score_threshold
        self.engine = build_engine(cfg)
        # presidio ignores an entity no recognizer supports; dropping it here keeps a gated request non-empty
        supported = set(self.engine.get_supported_entities(LANGUAGE))
        self.entities = [e for e in cfg.entities if e in supported]
        self.fast = None if cfg.spacy_model else FastDetector(self.engine, self.entities, self.threshold)

    def find(self, text: str) -> list[Finding]:
        if not text.strip():
            return []
        if self.fast is not None:
            return self.fast.find(text)
        return self.find_with_presidio(text)

    def could_find(self, text: str) -> bool:
        """False only where ``find`` finds nothing; cheap (a prompt without candidates needs no scan, nor a worker)."""
        if self.fast is not None:
            return self.fast.could_find(text)
        return any_possible(text, self.entities)

    def find_with_presidio(self, text: str) -> list[Finding]:
        """presidio's whole pipeline, behind the gates: what ``find`` equals (tests/unit/dlp/test_fast.py)."""
        if not text.strip():
            return []
        # presidio runs only the recognizers of the requested entities; a failed gate proves a recognizer finds
        # nothing here, and results are deduplicated per entity type, so the others' results do not change
        entities = possible_entities(text, self.entities)
        if not entities:
            return []
        results = self.engine.analyze(text, language=LANGUAGE, entities=entities, score_threshold=self.threshold)
        return sorted(Finding(r.entity_type, r.start, r.end, r.score) for r in results)

    def warm_up(self) -> None:
        """Compile every recognizer's regexes and load phone metadata before the first real request."""
        self.find(WARM_UP_TEXT)


WARM_UP_TEXT = (
    "Call 212-555-0187 or write to ada@example.com; card 4111 1111 1111 1111, IBAN GB82WEST12345698765432, "
    "SSN 536-90-4399, ip 10.1.2.3, wallet 1BoatSLRHtKNngkdXEeobR76b53LETtpyT on 2024-05-01 at https://example.com."
)
