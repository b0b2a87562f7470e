from __future__ import annotations

import pytest
from pydantic import ValidationError

from lmgate.config import DlpConfig
from lmgate.dlp.analyzer import PATTERN_RECOGNIZERS
from lmgate.dlp.settings import DEFAULT_ENTITIES, KNOWN_ENTITIES, NER_ENTITIES, effective_mode, parse_mode


def test_defaults_are_off_with_pattern_and_secret_entities():
    cfg = DlpConfig()
    assert cfg.mode == "off"
    assert cfg.entities == list(DEFAULT_ENTITIES)
    assert "OPENAI_API_KEY" in cfg.entities and "EMAIL_ADDRESS" in cfg.entities
    assert not set(cfg.entities) & set(NER_ENTITIES)


def test_every_known_entity_has_a_recognizer():
    assert set(KNOWN_ENTITIES) - set(NER_ENTITIES) == set(PATTERN_RECOGNIZERS)


def test_entities_are_normalised_and_checked():
    assert DlpConfig(entities=[" email_address", "EMAIL_ADDRESS", "jwt"]).entities == ["EMAIL_ADDRESS", "JWT"]
    with pytest.raises(ValidationError, match="unknown DLP entity 'SOCIAL_CREDIT'"):
        DlpConfig(entities=["SOCIAL_CREDIT"])


def test_ner_entities_need_a_spacy_model():
    with pytest.raises(ValidationError, match=r"PERSON need dlp\.spacy_model"):
        DlpConfig(entities=["PERSON"])
    assert DlpConfig(entities=["PERSON"], spacy_model="en_core_web_sm").entities == ["PERSON"]


@pytest.mark.parametrize("placeholder", ["<{entity}>", "[REDACTED]", "{{{entity}}}"])
def test_placeholder_formats(placeholder):
    assert DlpConfig(placeholder=placeholder).placeholder == placeholder


@pytest.mark.parametrize("placeholder", ["<{kind}>", "<{0}>", "<{entity>"])
def test_bad_placeholder_is_refused(placeholder):
    with pytest.raises(ValidationError, match="placeholder"):
        DlpConfig(placeholder=placeholder)


def test_unknown_field_and_bad_mode_are_refused():
    with pytest.raises(ValidationError):
        DlpConfig(modes="block")
    with pytest.raises(ValidationError):
        DlpConfig(mode="audit")


@pytest.mark.parametrize(
    ("on_oversize", "mode", "action"),
    [
        ("default", "block", "block"),
        ("default", "redact", "block"),
        ("default", "log", "allow"),
        ("allow", "block", "allow"),
        ("block", "log", "block"),
    ],
)
def test_oversize_action(on_oversize, mode, action):
    assert DlpConfig(on_oversize=on_oversize).oversize_action(mode) == action


def test_parse_mode():
    assert parse_mode(" Block ") == "block"
    with pytest.raises(ValueError, match="DLP mode 'strict' is not one of off, log, block, redact"):
        parse_mode("strict")


def test_key_override_wins_when_filled_in():
    assert effective_mode("block", None) == "block"
    assert effective_mode("block", "  ") == "block"
    assert effective_mode("block", "off") == "off"
    assert effective_mode("off", "REDACT") == "redact"
    with pytest.raises(ValueError):
        effective_mode("off", "yes")
