"""Which strings each provider format hands to the scanner."""

from __future__ import annotations

import base64

import pytest

from lmgate.dlp.fields import looks_like_blob, prompt_texts


def test_openai_chat_text_parts_only():
    doc = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is in this image?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                ],
            },
        ],
        "user": "not-a-prompt@example.com",
    }
    assert prompt_texts("openai", doc) == [
        (("messages", 0, "content"), "be brief"),
        (("messages", 1, "content", 0, "text"), "what is in this image?"),
    ]


def test_openai_responses_input():
    doc = {
        "instructions": "answer in French",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hello"}, {"type": "input_image"}]},
            {"type": "function_call_output", "call_id": "c1", "output": "42 rows"},
        ],
    }
    assert prompt_texts("openai", doc) == [
        (("instructions",), "answer in French"),
        (("input", 0, "content", 0, "text"), "hello"),
        (("input", 1, "output"), "42 rows"),
    ]


def test_anthropic_system_and_blocks():
    doc = {
        "system": [{"type": "text", "text": "you are terse"}],
        "messages": [
            {"role": "user", "content": "plain string"},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "tool said"}]},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QUJD"}},
                ],
            },
        ],
    }
    assert prompt_texts("anthropic", doc) == [
        (("system", 0, "text"), "you are terse"),
        (("messages", 0, "content"), "plain string"),
        (("messages", 1, "content", 0, "content", 0, "text"), "tool said"),
    ]


def test_gemini_contents_parts():
    doc = {
        "systemInstruction": {"parts": [{"text": "sys"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": "x"}}]}
        ],
    }
    assert prompt_texts("gemini", doc) == [
        (("systemInstruction", "parts", 0, "text"), "sys"),
        (("contents", 0, "parts", 0, "text"), "hi"),
    ]


def test_any_provider_with_prompt_fields_works(converse_provider):
    doc = {"system": [{"text": "sys"}], "messages": [{"role": "user", "content": [{"text": "hi"}, {"image": {}}]}]}
    assert prompt_texts(converse_provider, doc) == [
        (("system", 0, "text"), "sys"),
        (("messages", 0, "content", 0, "text"), "hi"),
    ]


def test_blank_strings_and_blobs_are_left_out():
    blob = base64.b64encode(bytes(range(256)) * 2).decode()
    doc = {"messages": [{"role": "user", "content": c} for c in ("  ", blob, f"data:image/png;base64,{blob}", "ok")]}
    assert prompt_texts("openai", doc) == [(("messages", 3, "content"), "ok")]


@pytest.mark.parametrize(
    ("text", "blob"),
    [
        ("data:audio/wav;base64,UklGRg==", True),
        ("data:text/plain;charset=utf-8;base64,aGk=", True),
        ("A" * 300, True),
        ("A" * 100, False),  # too short to be sure it is not a word or a key
        ("word " * 100, False),
        ("see data:image/png;base64,xyz in the middle", False),
    ],
)
def test_looks_like_blob(text, blob):
    assert looks_like_blob(text) is blob
