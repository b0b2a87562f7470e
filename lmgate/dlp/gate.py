"""DLP in the /auth path: which mode applies to a key, scanning, and the verdict for the handler.

presidio and its worker processes cost memory and seconds to start, so the
scanner starts only once some key can need it (global mode on, or a ``dlp``
cell in the allow-list), in the background; a request that needs it meanwhile
waits at most ``max_scan_ms`` and is otherwise refused with 503 (retryable): a
prompt is never forwarded unscanned because the scanner is not up yet, and
/healthz says 503 until it is.
"""

from __future__ import annotations

import asyncio
import logging

from lmgate.allowlist import AllowList, KeyEntry
from lmgate.config import DlpConfig
from lmgate.dlp.settings import effective_mode
from lmgate.errors import DlpBlocked, DlpNotReady

log = logging.getLogger("lmgate.dlp")


class DlpGate:
    def __init__(self, cfg: DlpConfig) -> None:
        self.cfg = cfg
        self._scanner = None
        self._starting: asyncio.Task | None = None

    def mode_for(self, entry: KeyEntry) -> str:
        return effective_mode(self.cfg.mode, entry.extra.get("dlp"))

    def needed_by(self, allowlist: AllowList) -> bool:
        return self.cfg.mode != "off" or any(self.mode_for(e) != "off" for e in allowlist.by_hash.values())

    def ensure_started(self, allowlist: AllowList) -> None:
        """Start the scanner in the background once some key can use it (call after each allow-list load)."""
        if self._starting is None and self.needed_by(allowlist):
            from lmgate.dlp.scanner import DlpScanner  # presidio is imported only when DLP is used

            self._scanner = DlpScanner(self.cfg)
            self._starting = asyncio.create_task(self._scanner.start())
            self._starting.add_done_callback(_log_start)

    def not_ready(self) -> str | None:
        """Why some key's requests cannot be judged yet, or None (ensure_started runs at start-up and on every
        allow-list change, so no task means no key needs the scanner)."""
        task = self._starting
        if task is None:
            return None
        if not task.done():
            return "the DLP scanner is starting"
        if task.cancelled() or task.exception() is not None:
            return "the DLP scanner failed to start"
        if self._scanner is not None and self._scanner.restarting:
            return "a DLP scanner process died and is being replaced"
        return None

    async def check(
        self, kind: str, entry: KeyEntry, body: bytes, doc: dict | None
    ) -> tuple[dict | None, bytes | None]:
        """Scan per the key's mode: (stats fields or None when off, redacted body or None); DlpBlocked to refuse."""
        mode = self.mode_for(entry)
        if mode == "off":
            return None, None
        from lmgate.dlp.scanner import SCANNER_ERROR, DlpResult
        from lmgate.dlp.verdict import decide, stats_fields

        if self._starting is None or self._scanner is None:  # the allow-list changed since the last check
            raise RuntimeError("DLP scanner not started: call ensure_started after loading the allow-list")
        try:
            await asyncio.wait_for(asyncio.shield(self._starting), self.cfg.max_scan_ms / 1000)
        except Exception:  # not started in time, or it failed to start (logged once, by _log_start)
            raise DlpNotReady(
                f"lmgate: data-loss prevention is not ready ({self.not_ready()}); request not forwarded",
                retry_after=1,
            ) from None
        try:
            result = await self._scanner.scan(kind, body, doc, mode)
        except Exception as e:
            log.error("DLP scan failed (%s)", type(e).__name__)
            result = DlpResult(skipped=True, skip_reason=SCANNER_ERROR)
        if result.skipped and result.skip_reason == SCANNER_ERROR:
            # The scanner broke (a worker died), not the prompt: dlp.on_oversize is about prompts too large or
            # slow to scan, so whatever it says, this request waits for a scanner that works (a retryable 503).
            raise DlpNotReady(
                "lmgate: data-loss prevention could not scan this request (a scanner process failed); "
                "request not forwarded, retry shortly",
                retry_after=1,
            )
        verdict = decide(mode, result)
        fields = stats_fields(mode, result, verdict)
        if verdict.action == "block":
            raise DlpBlocked(verdict.message or "lmgate: request blocked by data-loss prevention", dlp=fields)
        return fields, verdict.body if verdict.action == "redact" else None

    async def close(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
        if self._scanner is not None:
            await self._scanner.close()


def _log_start(task: asyncio.Task) -> None:
    if task.cancelled():
        return
    if task.exception() is not None:
        log.error("DLP scanner failed to start: %s", task.exception())
    else:
        log.info("DLP scanner ready")
