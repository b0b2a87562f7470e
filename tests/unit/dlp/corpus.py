"""Texts the DLP equivalence tests scan: edge cases, scripts/dlp_eval.py's prompts, random near misses."""

from __future__ import annotations

import array
import importlib.util
import random
import sys
from pathlib import Path

from tests.unit.dlp import samples as s

REPO = Path(__file__).resolve().parents[3]

#: numbers phonenumbers does find (presidio's regions)
FOUND_PHONES = [
    "+49 30 1234",
    "(555) 123-4567",
    "1-800-356-9377",
    "030 1234",
    "06221 1234",
    "０３０ １２３４",  # fullwidth
    "٠٣٠ ١٢٣٤",  # Arabic-Indic
    "+44 20 7946 0958",
    "+33 1 23 45 67 89",
    "+972-3-1234567",
    "+91 98765 43210",
    "+55 11 91234-5678",
    "+1 (613) 555-0199",
    "+49 (0)30 1234",
    "(555) 123-4567 ext. 89",
    "+1 613 555 0199 x12",
    "020 7946 0958 x123",
]
PHONE_FORMATS = [
    *FOUND_PHONES,
    "1-800-FLOWERS",
    "call 1xxx2",
    "1x2x3x4",
    "+49-30-12x34",
    "１２３４",
    "٠١٢٣",
    "۰۱۲۳۴",  # extended Arabic-Indic
    "212 ext 5",
    "0 ext. 12",
    "5 #6",
]


def corpus() -> list[str]:
    """Hand-written edge cases, scripts/dlp_eval.py's prompts (real PII and look-alikes), and random near misses."""
    edge = [
        *PHONE_FORMATS,
        *(f"card {v}" for v in ("4111-1111-1111-1111", "3782 822463 10005", "2221 0000 0000 0009", "4111111111111")),
        *(f"ssn {v}" for v in ("536.90.4399", "536 90 4399", "53690-4399", "536-904399", "536904399")),
        *(f"ip {v}" for v in ("::1", "fe80::1", "::", "10.0.0.1", "::ffff:192.168.0.1", "2001:db8::8a2e:370:7334")),
        "wallet 1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
        "burn 1111111111111111111114oLvT2",  # 27 chars, the shortest kind
        "segwit bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        *(f"key {v}" for v in (s.OPENAI_LEGACY, s.OPENAI_PROJECT, s.ANTHROPIC, s.GOOGLE, s.AWS, s.AWS_TEMPORARY)),
        f"token {s.JWT}",
        s.PRIVATE_KEY,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
        f"url {s.CONNECTION_STRING}",
        f"mail {s.EMAIL}",
        f"iban {s.IBAN}",
        "iban DE89370400440532013000",
        "Summarise the attached meeting notes in three bullet points.",
        "Explain the difference between a process and a thread, with an example.",
        *(f"on {v}" for v in ("2024-05-01", "5/1/2024", "1.5.2024", "01-MAY-2024", "2024-05-01T10:30:00Z")),
        *(f"mac {v}" for v in ("00:1A:2B:3C:4D:5E", "00-1a-2b-3c-4d-5e", "001a.2b3c.4d5e")),
        "license AB1234567, NHS 943 476 5919, ITIN 912-91-1234, passport A12345678, account 12345678901",
    ]
    return edge + eval_texts() + random_texts(random.Random(11), 600)


def eval_texts() -> list[str]:
    spec = importlib.util.spec_from_file_location("dlp_eval", REPO / "scripts" / "dlp_eval.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dlp_eval"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        maker = module.Maker(7)
        samples = module.positives(maker, 20) + module.negatives(maker, 8)
    finally:
        del sys.modules["dlp_eval"]
    return [sample.text for sample in samples]


PIECES = [
    *"0123456789",
    *"１２٣۴",
    *"xX -.()+/~#:,@",
    " ext ",
    "\t",
    "ab",
    "A",
    "sk-",
    "f",
]


def random_texts(rng: random.Random, n: int, pieces: list[str] = PIECES, longest: int = 16) -> list[str]:
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(3, longest))) for _ in range(n)]


def all_chars() -> str:
    codes = array.array("I", range(sys.maxunicode + 1))
    return codes.tobytes().decode(f"utf-32-{sys.byteorder[0]}e", "surrogatepass")
