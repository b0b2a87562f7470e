"""The NLP side of the presidio engine: context words without a model, and never a download.

presidio's default NLP engine loads ``en_core_web_lg`` and downloads it when it is
missing. The default here needs no model: ``BlankEnglishNlpEngine`` hands presidio
the text only, and ``WindowContextEnhancer`` reads the context words ("ssn",
"iban", "phone") just before each finding with spaCy's blank English tokenizer,
which ships inside spaCy. Tokenizing a window per finding instead of the whole
prompt halves the cost of a 100 KB prompt. A configured model must already be
installed; its full pipeline (with NER) then runs as presidio runs it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from pathlib import Path

import spacy
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine, SpacyNlpEngine
from spacy.tokens import Doc

LANGUAGE = "en"
# presidio context words that spaCy lists as stop words, so they never raised a score ("call me at ...")
CONTEXT_STOP_WORDS = frozenset({"call"})
# how much text around a finding is tokenized for its context words (presidio reads 5 words before it)
CONTEXT_BEFORE = 160
CONTEXT_AFTER = 32


class DlpModelMissing(RuntimeError):
    """A configured spaCy model is not installed (lmgate never downloads one)."""


def check_spacy_model(name: str) -> None:
    """Raise DlpModelMissing unless ``name`` is an installed spaCy package or a model directory."""
    if not (spacy.util.is_package(name) or Path(name).is_dir()):
        raise DlpModelMissing(
            f"dlp.spacy_model {name!r} is not installed: install the model's Python package on this machine "
            "(or point dlp.spacy_model at a model directory); lmgate never downloads models"
        )


class TextArtifacts(NlpArtifacts):
    """No tokens up front, only the text: context is read per finding (WindowContextEnhancer)."""

    def __init__(self, text: str, engine: BlankEnglishNlpEngine) -> None:
        super().__init__([], engine.empty, [], [], engine, LANGUAGE, [])
        self.text = text


class BlankEnglishNlpEngine(NlpEngine):
    """spaCy's blank English tokenizer and stop words: no model file, no NER, nothing to download."""

    def __init__(self) -> None:
        self.nlp: spacy.language.Language | None = None

    def load(self) -> None:
        self.nlp = spacy.blank(LANGUAGE)
        self.empty = Doc(self.nlp.vocab, words=[])

    def is_loaded(self) -> bool:
        return self.nlp is not None

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return TextArtifacts(text, self)

    def process_batch(
        self, texts: Iterable[str], language: str, batch_size: int = 1, n_process: int = 1, **kwargs
    ) -> Iterator[tuple[str, NlpArtifacts]]:
        for text in texts:
            yield text, self.process_text(text, language)

    def tokenize(self, text: str) -> Doc:
        assert self.nlp is not None
        return self.nlp.make_doc(text)

    def is_stopword(self, word: str, language: str) -> bool:
        assert self.nlp is not None
        return word not in CONTEXT_STOP_WORDS and self.nlp.vocab[word].is_stop

    def is_punct(self, word: str, language: str) -> bool:
        assert self.nlp is not None
        return self.nlp.vocab[word].is_punct

    def get_supported_entities(self) -> list[str]:
        return []

    def get_supported_languages(self) -> list[str]:
        return [LANGUAGE]


class InstalledModelNlpEngine(SpacyNlpEngine):
    """presidio's spaCy engine with its download-if-missing step turned into an error."""

    @staticmethod
    def _download_spacy_model_if_needed(model_name: str) -> None:
        check_spacy_model(model_name)

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
        artifacts = super()._doc_to_nlp_artifact(doc, language)
        # presidio tests membership in this list once per word around each finding: a set keeps that O(1)
        artifacts.keywords = frozenset(artifacts.keywords)
        return artifacts


class WindowContextEnhancer(LemmaContextAwareEnhancer):
    """presidio's context enhancer, reading a finding's context from a window of text around it.

    With a model's whole-prompt tokens it finds the finding's token by bisection:
    the stock loop walks the token list from the start for every finding, which
    made a 100 KB prompt with many findings take seconds (quadratic).
    """

    def _extract_surrounding_words(self, nlp_artifacts: NlpArtifacts, word: str, start: int) -> list[str]:
        if not isinstance(nlp_artifacts, TextArtifacts):
            return super()._extract_surrounding_words(nlp_artifacts, word, start)
        engine: BlankEnglishNlpEngine = nlp_artifacts.nlp_engine
        text = nlp_artifacts.text
        begin = max(0, start - CONTEXT_BEFORE)
        if begin > 0:  # start at a word boundary, not inside a word
            space = text.find(" ", begin, start)
            begin = space + 1 if space != -1 else begin
        doc = engine.tokenize(text[begin : start + len(word) + CONTEXT_AFTER])
        lemmas = [t.norm_ for t in doc]  # no lemmatizer without a model: the lower-case form stands in
        keywords = frozenset(NlpArtifacts.set_keywords(engine, lemmas, LANGUAGE))
        try:
            index = self._find_index_of_match_token(word, start - begin, doc, [t.idx for t in doc])
        except ValueError:
            return []  # nothing tokenizable there: no context, rather than a failed scan
        before = self._add_n_words_backward(index, self.context_prefix_count, lemmas, keywords)
        after = self._add_n_words_forward(index, self.context_suffix_count, lemmas, keywords)
        return list(set(before + after))

    @staticmethod
    def _find_index_of_match_token(word: str, start: int, tokens: Doc, tokens_indices: list[int]) -> int:
        # the first token ending after ``start``, as the stock loop finds it
        i = bisect_right(tokens_indices, start) - 1
        if i >= 0 and start < tokens_indices[i] + len(tokens[i]):
            return i
        if i + 1 < len(tokens_indices):
            return i + 1
        raise ValueError("a finding lies outside the tokenized text")  # unlike presidio's, without the value
