"""A client's text that the gateway repeats (handoff, stats line, refusal messages), cut to a bound.

Clients may send a model name or a path of many kilobytes; the provider judges
it, but the gateway's own copies must fit nginx's buffers. A cut says so and
how much it dropped, so the stats line stays truthful.
"""

from __future__ import annotations


def clip(text: str, limit: int) -> str:
    """``text`` if at most ``limit`` characters, else its start and ``…(N chars cut)``, ``limit`` chars at most."""
    if len(text) <= limit:
        return text
    marker = f"…({len(text)} chars cut)"  # an upper bound of the cut keeps the marker's length fixed
    return text[: max(0, limit - len(marker))] + marker
