"""DLP modes and entity names, and the per-key ``dlp`` mode override.

No presidio import here: the config schema (``lmgate/config.py`` ``DlpConfig``) and
the allow-list parser use these cheaply.
"""

from __future__ import annotations

from typing import Literal

DlpMode = Literal["off", "log", "block", "redact"]
MODES: tuple[str, ...] = ("off", "log", "block", "redact")

#: presidio's pattern/checksum recognizers that are on by default (no model needed)
PATTERN_ENTITIES: tuple[str, ...] = (
    "CREDIT_CARD",
    "CRYPTO",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "IP_ADDRESS",
    "PHONE_NUMBER",
    "US_SSN",
)
#: lmgate's own recognizers for secrets people paste into prompts
SECRET_ENTITIES: tuple[str, ...] = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GOOGLE_API_KEY",
    "AWS_ACCESS_KEY",
    "PRIVATE_KEY",
    "JWT",
    "CONNECTION_STRING_PASSWORD",
)
#: presidio pattern recognizers available on request: they fire on ordinary prompts
#: (numbers, dates, links), see scripts/dlp_eval.py, so they are off by default
OPTIONAL_ENTITIES: tuple[str, ...] = (
    "DATE_TIME",
    "MAC_ADDRESS",
    "MEDICAL_LICENSE",
    "UK_NHS",
    "URL",
    "US_BANK_NUMBER",
    "US_DRIVER_LICENSE",
    "US_ITIN",
    "US_PASSPORT",
)
#: need a spaCy NER model (``spacy_model``)
NER_ENTITIES: tuple[str, ...] = ("PERSON", "LOCATION")

DEFAULT_ENTITIES: tuple[str, ...] = PATTERN_ENTITIES + SECRET_ENTITIES
KNOWN_ENTITIES: tuple[str, ...] = PATTERN_ENTITIES + SECRET_ENTITIES + OPTIONAL_ENTITIES + NER_ENTITIES


def parse_mode(value: str) -> str:
    """A DLP mode from config or the allow-list's ``dlp`` column; ValueError names the choices."""
    mode = value.strip().lower()
    if mode not in MODES:
        raise ValueError(f"DLP mode {value!r} is not one of {', '.join(MODES)}")
    return mode


def effective_mode(global_mode: str, key_override: str | None) -> str:
    """The key's own mode when its ``dlp`` cell is filled in, else the global one."""
    if key_override is None or not key_override.strip():
        return global_mode
    return parse_mode(key_override)
