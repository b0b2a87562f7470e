"""The scan per prompt: candidates first, presidio's checks and context scoring on them only.

For each configured entity, the seeded segments (``candidates.py``) go through
its recognizer's own loop (``windowed.py``); an entity no seed names costs one
gate search. Then, as presidio's AnalyzerEngine does: context words raise a
score (read around the finding only, ``nlp.WindowContextEnhancer``), the score
threshold applies, and contained duplicates go. Results of different entities
never interact in presidio (it deduplicates per entity type), so entities
without a candidate table (URL) run through the engine on their own, behind
their gate. tests/unit/dlp/test_fast.py checks this equals presidio's pipeline.
"""

from __future__ import annotations

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer

from lmgate.dlp.candidates import WHERE, AnySeed, Text, Where
from lmgate.dlp.finding import Finding
from lmgate.dlp.gates import possible_entities
from lmgate.dlp.nlp import LANGUAGE, TextArtifacts, WindowContextEnhancer
from lmgate.dlp.windowed import WindowedRecognizer


class FastDetector:
    """Finds ``entities`` at or above ``threshold``, as ``engine.analyze`` does, on the candidates only."""

    def __init__(self, engine: AnalyzerEngine, entities: list[str], threshold: float) -> None:
        if not isinstance(engine.context_aware_enhancer, WindowContextEnhancer):
            raise TypeError("the fast path reads context per finding: it needs nlp.WindowContextEnhancer")
        self.engine = engine
        self.enhancer: WindowContextEnhancer = engine.context_aware_enhancer
        self.threshold = threshold
        self.windowed: list[tuple[Where, WindowedRecognizer]] = []
        self.whole: list[str] = []  # entities presidio's engine scans itself
        for entity in entities:
            recognizers = engine.registry.get_recognizers(LANGUAGE, entities=[entity])
            if entity in WHERE and len(recognizers) == 1 and WindowedRecognizer.supports(recognizers[0]):
                self.windowed.append((WHERE[entity], WindowedRecognizer(recognizers[0])))
            else:
                self.whole.append(entity)
        self.any_seed = AnySeed([where for where, _ in self.windowed])

    def could_find(self, text: str) -> bool:
        """False only where ``find`` finds nothing: no seed, and no gate of a whole-text entity passes."""
        return self.any_seed.search(text) or bool(self.whole and possible_entities(text, self.whole))

    def find(self, text: str) -> list[Finding]:
        findings: list[Finding] = []
        artifacts: TextArtifacts | None = None
        facts = Text(text)
        windowed = self.windowed if self.any_seed.search(text) else []
        for where, recognizer in windowed:
            segments = where.segments(facts)
            if not segments:
                continue
            results = recognizer.analyze(text, segments)
            if not results:
                continue
            context = recognizer.recognizer.context
            if context:
                artifacts = artifacts or TextArtifacts(text, self.engine.nlp_engine)
                for r in results:
                    self._enhance(text, r, context, artifacts)
            kept = EntityRecognizer.remove_duplicates([r for r in results if r.score >= self.threshold])
            findings += (Finding(r.entity_type, r.start, r.end, r.score) for r in kept)
        if self.whole and (entities := possible_entities(text, self.whole)):
            results = self.engine.analyze(text, language=LANGUAGE, entities=entities, score_threshold=self.threshold)
            findings += (Finding(r.entity_type, r.start, r.end, r.score) for r in results)
        return sorted(findings)

    def _enhance(self, text: str, result: RecognizerResult, context: list[str], artifacts: TextArtifacts) -> None:
        """LemmaContextAwareEnhancer.enhance_using_context for one result (presidio copies; these are ours)."""
        if result.score >= ContextAwareEnhancer.MAX_SCORE:
            return  # a raise is capped there: nothing to read
        enhancer = self.enhancer
        words = enhancer._extract_surrounding_words(artifacts, text[result.start : result.end], result.start)
        if enhancer._find_supportive_word_in_context(words, context, enhancer.context_matching_mode):
            score = result.score + enhancer.context_similarity_factor
            score = max(score, enhancer.min_score_with_context_similarity)
            result.score = min(score, ContextAwareEnhancer.MAX_SCORE)
