"""Whether a known key may be used now: not disabled, not expired (nor a rotated key past its grace)."""

from __future__ import annotations

from lmgate.allowlist import KeyEntry
from lmgate.errors import KeyDisabled, KeyExpired
from lmgate.expiry import format_instant
from lmgate.keys import mask_key


def check_usable(entry: KeyEntry, key: str, now: float) -> None:
    """Raise ``KeyDisabled`` (403) or ``KeyExpired`` (401) for a key on the list that must not pass."""
    if entry.disabled:
        raise KeyDisabled(f"lmgate: API key {mask_key(key)} is disabled on this gateway")
    if entry.expires_at is not None and now >= entry.expires_at:
        when = format_instant(entry.expires_at)
        if entry.replaced:
            raise KeyExpired(
                f"lmgate: API key {mask_key(key)} was replaced by a new key; its grace period ended at {when}"
            )
        raise KeyExpired(f"lmgate: API key {mask_key(key)} expired at {when}; ask the gateway's operator for a new one")
