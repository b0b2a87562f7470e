"""The allow-list CSV: parse with line-numbered errors, poll for edits, keep the last good list.

Columns ``id,api_key,owner,added`` are the original LMGate's, so its files keep
working. ``api_key`` holds the key itself or ``sha256:<hex>`` of it; either
way only the hash is kept in memory.

Key lifecycle columns (``lmgate keys``, lmgate/keyring/): ``expires`` (lmgate/expiry.py),
``disabled`` (``true`` or empty), and a rotation's grace: ``previous_api_key`` (the
replaced key's hash) works until ``previous_expires``, then stops by itself, without
any rewrite of the file.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from lmgate.credentials import parse_ref
from lmgate.dlp.settings import parse_mode
from lmgate.expiry import parse_expires
from lmgate.keys import hash_key
from lmgate.policies.limits import NO_LIMITS, Limits, parse_key_limits
from lmgate.policies.registry import key_columns

log = logging.getLogger("lmgate.allowlist")

REQUIRED_COLUMNS = ("id", "api_key", "owner", "added")
# upstream_key: the provider key the gateway sends instead of the client's (a virtual key);
# client_secret: the SigV4 secret of a gateway-issued AWS access key id (api_key) for Bedrock.
SECRET_COLUMNS = ("upstream_key", "client_secret")
# expires/disabled: a key's lifecycle; previous_*: the key a rotation replaced, in its grace (never in ``extra``)
LIFECYCLE_COLUMNS = ("expires", "disabled")
PREVIOUS_COLUMNS = ("previous_api_key", "previous_expires")
OTHER_COLUMNS: tuple[str, ...] = (*SECRET_COLUMNS, "dlp", *LIFECYCLE_COLUMNS, *PREVIOUS_COLUMNS)


def optional_columns() -> tuple[str, ...]:
    """The policies' columns (policies/registry.py: ``policies.extra`` may add some) and the others."""
    return (*key_columns(), *OTHER_COLUMNS)


SHA256_RE = re.compile(r"^sha256:([0-9a-fA-F]{64})$")


class AllowListError(ValueError):
    """A file that cannot be used; ``str()`` names the file and line."""


@dataclass(frozen=True, slots=True)
class KeyEntry:
    id: str
    owner: str
    added: str
    key_hash: str
    extra: dict[str, str] = field(default_factory=dict)
    limits: Limits = NO_LIMITS  # parsed once here, never per request
    expires_at: float | None = None  # epoch seconds from which the key is refused (401, expired)
    disabled: bool = False  # refused (403) while true, kept in the file
    replaced: bool = False  # the previous key of a rotation, working until expires_at (the grace's end)


@dataclass(frozen=True, slots=True)
class AllowList:
    by_hash: dict[str, KeyEntry]

    def lookup(self, key: str) -> KeyEntry | None:
        return self.by_hash.get(hash_key(key))

    def __len__(self) -> int:
        return len(self.by_hash)

    def entries(self) -> Iterator[KeyEntry]:
        """One entry per id, in file order (a rotation's previous key is the same id's second hash)."""
        return (e for e in self.by_hash.values() if not e.replaced)


def parse_allowlist(text: str, source: str = "allowlist.csv") -> AllowList:
    """Parse the whole file or raise ``AllowListError`` naming the first bad line."""
    text = text.removeprefix("\ufeff")  # spreadsheets save a BOM
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    by_hash: dict[str, KeyEntry] = {}
    line_of_id: dict[str, int] = {}
    line_of_hash: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = _check_header([c.strip().lower() for c in row], source, line)
            continue
        if len(row) != len(header):
            raise AllowListError(f"{source}:{line}: expected {len(header)} fields ({','.join(header)}), got {len(row)}")
        cells = {name: value.strip() for name, value in zip(header, row, strict=True)}
        entry = _entry(cells, source, line)
        if entry.id in line_of_id:
            raise AllowListError(f"{source}:{line}: duplicate id {entry.id!r} (first on line {line_of_id[entry.id]})")
        line_of_id[entry.id] = line
        for e in (entry, *_previous(cells, entry, source, line)):
            if e.key_hash in line_of_hash:
                first = line_of_hash[e.key_hash]
                raise AllowListError(f"{source}:{line}: duplicate api_key for id {e.id!r} (same key as line {first})")
            line_of_hash[e.key_hash] = line
            by_hash[e.key_hash] = e
    if header is None:
        raise AllowListError(f"{source}: empty file; the first line must be the header {','.join(REQUIRED_COLUMNS)}")
    return AllowList(by_hash)


def _check_header(names: list[str], source: str, line: int) -> list[str]:
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise AllowListError(f"{source}:{line}: header lacks column(s) {', '.join(missing)}; got {','.join(names)}")
    optional = optional_columns()
    unknown = [c for c in names if c not in REQUIRED_COLUMNS + optional]
    if unknown:
        known = ", ".join(REQUIRED_COLUMNS + optional)
        raise AllowListError(f"{source}:{line}: unknown column(s) {', '.join(unknown)}; known: {known}")
    if len(set(names)) != len(names):
        raise AllowListError(f"{source}:{line}: a column is named twice in the header")
    return names


def _entry(cells: dict[str, str], source: str, line: int) -> KeyEntry:
    if not cells["id"]:
        raise AllowListError(f"{source}:{line}: empty id")
    key = cells["api_key"]
    if not key:
        raise AllowListError(f"{source}:{line}: empty api_key for id {cells['id']!r}")
    key_hash = _key_hash(key, "api_key", source, line)
    extra = {c: cells[c] for c in optional_columns() if cells.get(c) and c not in PREVIOUS_COLUMNS}
    for column in SECRET_COLUMNS:
        if column in extra:
            try:
                parse_ref(extra[column])
            except ValueError as e:
                raise AllowListError(f"{source}:{line}: {column} for id {cells['id']!r}: {e}") from None
    if "dlp" in extra:
        try:
            extra["dlp"] = parse_mode(extra["dlp"])
        except ValueError as e:
            raise AllowListError(f"{source}:{line}: id {cells['id']!r}: column dlp: {e}") from None
    if "upstream_key" in extra and "client_secret" in extra:
        raise AllowListError(f"{source}:{line}: id {cells['id']!r}: upstream_key and client_secret exclude each other")
    try:
        limits = parse_key_limits(extra)
    except ValueError as e:
        raise AllowListError(f"{source}:{line}: id {cells['id']!r}: {e}") from None
    return KeyEntry(
        id=cells["id"],
        owner=cells["owner"],
        added=cells["added"],
        key_hash=key_hash,
        extra=extra,
        limits=limits,
        expires_at=_expiry(extra.get("expires"), "expires", source, line),
        disabled=_disabled(extra.get("disabled", ""), source, line),
    )


def _key_hash(key: str, column: str, source: str, line: int) -> str:
    if key.lower().startswith("sha256:"):
        m = SHA256_RE.match(key)
        if not m:
            raise AllowListError(f"{source}:{line}: {column} sha256: must be followed by 64 hex digits")
        return m.group(1).lower()
    return hash_key(key)


def _expiry(cell: str | None, column: str, source: str, line: int) -> float | None:
    if not cell:
        return None
    try:
        return parse_expires(cell)
    except ValueError as e:
        raise AllowListError(f"{source}:{line}: column {column}: {e}") from None


def _disabled(cell: str, source: str, line: int) -> bool:
    value = cell.lower()
    if value not in ("", "true", "false"):
        raise AllowListError(f"{source}:{line}: column disabled: {cell!r} is not true, false or empty")
    return value == "true"


def _previous(cells: dict[str, str], entry: KeyEntry, source: str, line: int) -> tuple[KeyEntry, ...]:
    """The key a rotation replaced: the same entry under its hash, working until ``previous_expires``."""
    key, until = cells.get("previous_api_key", ""), cells.get("previous_expires", "")
    if not key and not until:
        return ()
    if not (key and until):
        raise AllowListError(f"{source}:{line}: previous_api_key and previous_expires go together (id {entry.id!r})")
    ends = _expiry(until, "previous_expires", source, line)
    if entry.expires_at is not None:
        ends = min(ends, entry.expires_at)  # type: ignore[type-var]  # _expiry gave a float for a cell
    return (replace(entry, key_hash=_key_hash(key, "previous_api_key", source, line), expires_at=ends, replaced=True),)


def load_allowlist(path: Path) -> AllowList:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise AllowListError(f"{path}: cannot read: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise AllowListError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    return parse_allowlist(text, str(path))


class AllowListWatcher:
    """Holds the current list; re-reads the file when it changes, keeps the last good one."""

    def __init__(self, path: Path, interval: float) -> None:
        self.path = path
        self.interval = interval
        self.current = load_allowlist(path)  # a broken file at start-up stops start-up
        self.loaded_at = time.time()  # when the list in force was read
        self._stamp = self._file_stamp()
        self.reloads = 0
        self.errors = 0
        self.on_change: Callable[[AllowList], None] | None = None  # e.g. start DLP when a key asks for it

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def check(self) -> bool:
        """Reload if the file changed; return True when a new list took effect."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            new = load_allowlist(self.path)
        except AllowListError as e:
            self.errors += 1
            log.error("allow-list edit rejected, keeping the last good list (%d keys): %s", len(self.current), e)
            return False
        self.current = new
        self.loaded_at = time.time()
        self.reloads += 1
        if self.on_change is not None:
            self.on_change(new)
        log.info("allow-list reloaded: %d keys", len(new))
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.check()
