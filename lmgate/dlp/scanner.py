"""Scanning one request's prompt: which fields, where (inline or a worker), within which budget.

The result holds entity types and counts, never the values found, so it is safe
to log, to put on the stats line and to name in an error message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from lmgate.config import DlpConfig
from lmgate.dlp.analyzer import Detector, Finding
from lmgate.dlp.candidates import digits_at_most
from lmgate.dlp.fields import prompt_texts
from lmgate.dlp.gates import any_possible
from lmgate.dlp.pool import ScanPool, ScanTimeout, find_all
from lmgate.dlp.redact import merge, placeholders
from lmgate.dlp.spans import SpanError, redact_strings
from lmgate.providers.base import JsonPath

log = logging.getLogger("lmgate.dlp")

# why a prompt was not scanned (DlpResult.skip_reason)
TOO_LARGE = "too_large"  # more text than max_scan_bytes
TIMEOUT = "timeout"  # not done within max_scan_ms
NOT_JSON = "not_json"  # a body we cannot read the prompt from
SCANNER_ERROR = "scanner_error"  # the scanner failed (a worker died)

#: prompts up to this size are gated in the event loop (about 1 ms at most, see gates.py); a bigger one goes to
#: the workers whole, which gate it there
INLINE_GATE_MAX_BYTES = 16_384
#: a prompt within dlp.inline_max_bytes is scanned in the event loop only if it holds this few digits: number-heavy
#: text (logs, tables) has many phone-number candidates, each parsed for 8 regions (~0.3 ms apiece), so it goes to
#: a worker, while prose with a few numbers scans in ~0.1 ms per 2 KB, well under a worker round trip (~0.6 ms CPU)
INLINE_MAX_DIGITS = 16
#: with a spaCy model (NER over the whole text) only prompts this small are scanned in the event loop
MODEL_INLINE_MAX_BYTES = 512


@dataclass(slots=True)
class DlpResult:
    #: entity type -> how many findings (at or above the score threshold, configured types only)
    findings: dict[str, int] = field(default_factory=dict)
    #: the prompt was not (fully) scanned; ``skip_action`` says what the config wants then
    skipped: bool = False
    skip_reason: str | None = None
    skip_action: str | None = None  # "block" | "allow"
    #: redact mode with findings: the body to send instead (None: nothing to redact, or it could not be done)
    redacted_body: bytes | None = field(default=None, repr=False)
    text_bytes: int = 0
    scan_ms: float = 0.0
    #: limit that a skip hit, for the message (bytes or ms)
    limit: int | None = None

    @property
    def blocked_types(self) -> list[str]:
        """The entity types found, sorted: what a block message names."""
        return sorted(self.findings)


class DlpScanner:
    """Started once per sidecar process; ``scan`` is safe to call concurrently."""

    def __init__(self, cfg: DlpConfig) -> None:
        self.cfg = cfg
        self._pool = ScanPool(cfg) if cfg.workers > 0 else None
        self._inline: Detector | None = None

    async def start(self) -> None:
        """Build the inline detector and warm up the workers; DlpModelMissing if the spaCy model is absent."""
        if self._pool is None or self.cfg.inline_max_bytes > 0:
            self._inline = await asyncio.to_thread(self._build_inline)
        if self._pool is not None:
            await self._pool.start()

    def _build_inline(self) -> Detector:
        detector = Detector(self.cfg)
        detector.warm_up()
        return detector

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    @property
    def restarting(self) -> bool:
        """Its worker pool is being replaced (a scanner process died): scans fail until it is back."""
        return self._pool is not None and self._pool.restarting

    async def scan(self, provider_kind: str, body: bytes, doc: dict | None, mode: str) -> DlpResult:
        """Scan the prompt of one request in ``mode`` (off, log, block, redact)."""
        if mode == "off":
            return DlpResult()
        if doc is None:
            if not body.strip():
                return DlpResult()
            return self._skipped(mode, NOT_JSON)
        fields = prompt_texts(provider_kind, doc)
        size = sum(len(text.encode()) for _, text in fields)
        if size > self.cfg.max_scan_bytes:
            return self._skipped(mode, TOO_LARGE, size, self.cfg.max_scan_bytes)
        started = time.monotonic()
        try:
            per_field = await self._find_all([text for _, text in fields], size)
        except ScanTimeout:
            return self._skipped(mode, TIMEOUT, size, self.cfg.max_scan_ms)
        except Exception as err:  # a dead worker must not let a prompt through unscanned in block mode
            log.error("dlp: scan failed: %s", type(err).__name__)
            return self._skipped(mode, SCANNER_ERROR, size)
        result = DlpResult(text_bytes=size, scan_ms=(time.monotonic() - started) * 1000)
        merged = {path: merge(found) for (path, _), found in zip(fields, per_field, strict=True) if found}
        result.findings = dict(Counter(f.entity for found in merged.values() for f in found))
        if mode == "redact" and merged:
            result.redacted_body = self._redact(body, merged)
        return result

    async def _find_all(self, texts: list[str], size: int) -> list[list[Finding]]:
        """Findings per text: texts no entity can be in (gates.py) are decided here, the rest by presidio."""
        if size > INLINE_GATE_MAX_BYTES:
            return await self._detect(texts, size, self.cfg.max_scan_ms / 1000)
        started = time.monotonic()
        could_find = self._inline.could_find if self._inline is not None else self._any_possible
        todo = [i for i, text in enumerate(texts) if text.strip() and could_find(text)]
        found: list[list[Finding]] = [[] for _ in texts]
        if not todo:
            return found  # most prompts: no worker round trip, no presidio
        pending = [texts[i] for i in todo]
        if len(pending) < len(texts):
            size = sum(len(text.encode()) for text in pending)
        budget_s = self.cfg.max_scan_ms / 1000 - (time.monotonic() - started)
        for i, findings in zip(todo, await self._detect(pending, size, budget_s), strict=True):
            found[i] = findings
        return found

    def _any_possible(self, text: str) -> bool:
        return any_possible(text, self.cfg.entities)

    async def _detect(self, texts: list[str], size: int, budget_s: float) -> list[list[Finding]]:
        """presidio's findings per text, inline when small (a round trip costs more) or in a worker."""
        if budget_s <= 0:
            raise ScanTimeout
        if self._pool is None or self._fits_inline(texts, size):
            assert self._inline is not None, "DlpScanner.start() was not awaited"
            found = find_all(self._inline, texts, budget_s)
            if found is None:
                raise ScanTimeout
            return found
        return await self._pool.find_all(texts, budget_s)

    def _fits_inline(self, texts: list[str], size: int) -> bool:
        """Small prose scans here in less CPU than a worker round trip costs; a spaCy model's NER takes longer."""
        if self._inline is None or size > self.cfg.inline_max_bytes:
            return False
        if self._inline.fast is None:
            return size <= MODEL_INLINE_MAX_BYTES
        return digits_at_most(texts, INLINE_MAX_DIGITS)

    def _redact(self, body: bytes, merged: dict[JsonPath, list[Finding]]) -> bytes | None:
        edits = {path: placeholders(found, self.cfg.placeholder) for path, found in merged.items()}
        try:
            return redact_strings(body, edits)
        except SpanError as err:  # the message names positions and counts, never content
            log.warning("dlp: cannot redact this body: %s", err)
            return None

    def _skipped(self, mode: str, reason: str, size: int = 0, limit: int | None = None) -> DlpResult:
        return DlpResult(
            skipped=True, skip_reason=reason, skip_action=self.cfg.oversize_action(mode), text_bytes=size, limit=limit
        )
