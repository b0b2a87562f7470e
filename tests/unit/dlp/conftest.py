"""Shared DLP fixtures: one presidio Detector for the session, and a Bedrock-like fake provider."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from lmgate.config import DlpConfig
from lmgate.dlp.analyzer import Detector
from lmgate.providers import PROVIDERS
from lmgate.providers.base import ErrorKind, JsonPath, Provider


@pytest.fixture(scope="session")
def detector() -> Detector:
    return Detector(DlpConfig())


class ConverseLike(Provider):
    """A minimal provider in Bedrock Converse's shape: ``system[].text``, ``messages[].content[].text``."""

    name = "converse_fake"

    def prompt_fields(self, body: dict) -> Iterator[tuple[JsonPath, str]]:
        for i, block in enumerate(body.get("system") or ()):
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                yield ("system", i, "text"), block["text"]
        for i, message in enumerate(body.get("messages") or ()):
            for j, block in enumerate(message.get("content") or ()):
                if isinstance(block, dict) and isinstance(block.get("text"), str):
                    yield ("messages", i, "content", j, "text"), block["text"]

    def error_body(self, status: int, message: str, kind: ErrorKind) -> bytes:
        return orjson.dumps({"message": message})


@pytest.fixture
def converse_provider(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(PROVIDERS, ConverseLike.name, ConverseLike())
    return ConverseLike.name
