"""From a scan result to what /auth does: allow, block (403 naming entity types), or redact.

Messages name entity types, counts and limits only: never a value found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lmgate.dlp.scanner import NOT_JSON, SCANNER_ERROR, TIMEOUT, TOO_LARGE, DlpResult

PREFIX = "lmgate: request blocked by data-loss prevention"


@dataclass(frozen=True, slots=True)
class DlpVerdict:
    action: Literal["allow", "block", "redact"]
    #: block: the error message for the client (provider's 403 shape)
    message: str | None = None
    #: redact: the body to forward instead of the client's
    body: bytes | None = None


ALLOW = DlpVerdict("allow")


def decide(mode: str, result: DlpResult) -> DlpVerdict:
    """The verdict for ``result`` under ``mode`` (the key's mode if it has one, else the global one)."""
    if mode in ("off", "log"):
        # log mode blocks only when the config says an unscanned prompt must not pass
        if mode == "log" and result.skipped and result.skip_action == "block":
            return DlpVerdict("block", _skip_message(result))
        return ALLOW
    if result.skipped:
        return ALLOW if result.skip_action == "allow" else DlpVerdict("block", _skip_message(result))
    if not result.findings:
        return ALLOW
    if mode == "redact":
        if result.redacted_body is not None:
            return DlpVerdict("redact", body=result.redacted_body)
        return DlpVerdict("block", f"{PREFIX}: the prompt contains {_types(result)} and could not be redacted safely")
    return DlpVerdict("block", f"{PREFIX}: the prompt contains {_types(result)}")


def _types(result: DlpResult) -> str:
    return ", ".join(f"{t} ({result.findings[t]})" for t in result.blocked_types)


def _skip_message(result: DlpResult) -> str:
    why = {
        TOO_LARGE: f"the prompt has {result.text_bytes} bytes of text, more than dlp.max_scan_bytes ({result.limit})",
        TIMEOUT: f"scanning the prompt took longer than dlp.max_scan_ms ({result.limit})",
        NOT_JSON: "the body is not JSON, so its prompt cannot be scanned",
        SCANNER_ERROR: "the scanner is unavailable",
    }.get(result.skip_reason or "", "the prompt could not be scanned")
    return f"{PREFIX}: {why}"


def stats_fields(mode: str, result: DlpResult, verdict: DlpVerdict) -> dict:
    """What the stats line carries about DLP: types and counts, never values."""
    if mode == "off":
        return {"mode": "off"}
    return {
        "mode": mode,
        "action": verdict.action,
        "findings": dict(sorted(result.findings.items())),
        "skipped": result.skipped,
        "skip_reason": result.skip_reason,
        "scan_ms": round(result.scan_ms, 2),
    }
