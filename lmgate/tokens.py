"""Offline token counts with OpenAI's o200k_base encoding, for usage a provider did not report.

``tiktoken.get_encoding`` downloads its vocabulary on first use; a gateway must
not depend on that, so the vocabulary ships gzipped in ``data/`` and the Encoding
is built here. The file is OpenAI's o200k_base.tiktoken as tiktoken (MIT) uses it,
byte for byte (its sha256 is checked on load); our copy came from the bpe-openai
0.1.4 wheel (MIT), which ships it. For other vendors' models the count is an
approximation: each has its own tokenizer, and chat framing tokens are not added.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import threading
from collections.abc import Iterable
from pathlib import Path

import tiktoken

from lmgate.usage import Usage

ENCODING_FILE = Path(__file__).parent / "data" / "o200k_base.tiktoken.gz"
# sha256 of the uncompressed file, as tiktoken_ext.openai_public.o200k_base expects it
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
# Copied from tiktoken_ext.openai_public.o200k_base (tiktoken 0.14.0); a unit test checks they agree.
O200K_PAT_STR = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
O200K_SPECIAL_TOKENS = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}

# tiktoken's regex recurses per character of a long whitespace run (a stack overflow
# near 1 MB) and BPE is quadratic in a piece's length, so long texts go in chunks.
CHUNK_CHARS = 1 << 16
_PIECE_START = re.compile(r"\n(?=\S)|(?=[ \t][^\W\d_])")  # ends at the cut: after the newline, before the blank

_lock = threading.Lock()
_encoding: tiktoken.Encoding | None = None


def load_ranks(path: Path = ENCODING_FILE) -> dict[bytes, int]:
    """A gzipped ``.tiktoken`` file (one ``base64-token rank`` a line), hash-checked."""
    data = gzip.decompress(path.read_bytes())
    if hashlib.sha256(data).hexdigest() != O200K_SHA256:
        raise ValueError(f"{path}: not the o200k_base vocabulary (sha256 mismatch)")
    ranks = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def ready() -> bool:
    """Whether the Encoding is built (until then a count costs ~0.5 s: keep it off an event loop)."""
    return _encoding is not None


def encoding() -> tiktoken.Encoding:
    """The o200k_base Encoding, built once on first use (about 0.5 s)."""
    global _encoding
    if _encoding is None:
        with _lock:
            if _encoding is None:
                _encoding = tiktoken.Encoding(
                    name="o200k_base",
                    pat_str=O200K_PAT_STR,
                    mergeable_ranks=load_ranks(),
                    special_tokens=O200K_SPECIAL_TOKENS,
                )
    return _encoding


def count_tokens(text: str) -> int:
    """Tokens in ``text``; special-token text such as ``<|endoftext|>`` counts as plain text.

    CPU-bound (about 30 ms per MB of prose): run large texts off the event loop.
    """
    if not text:
        return 0
    enc = encoding()
    return sum(len(enc.encode_ordinary(part)) for part in _chunks(text))


def _chunks(text: str) -> Iterable[str]:
    """Pieces of at most CHUNK_CHARS, cut where o200k's regex starts a new piece anyway.

    A newline before a non-space, or a space or tab before a letter, always starts one of
    the regex's pieces, so cutting there leaves the count exact; a window with no
    such place (a huge run of spaces) is cut hard, off by a token or so.
    """
    start = 0
    while len(text) - start > CHUNK_CHARS:
        lo, end = start + CHUNK_CHARS // 2, start + CHUNK_CHARS
        cut = end
        for m in _PIECE_START.finditer(text, lo, end):
            cut = m.end()
        yield text[start:cut]
        start = cut
    yield text[start:]


def estimate_usage(prompt_texts: Iterable[str], output_text: str, model: str | None) -> Usage:
    """Usage counted from the texts themselves, for responses that carried none."""
    return Usage(
        input_tokens=sum(count_tokens(t) for t in prompt_texts),
        output_tokens=count_tokens(output_text),
        model=model,
        usage_source="estimated",
    )
