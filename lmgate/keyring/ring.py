"""Key lifecycle on the allow-list file: create, update, rotate, revoke, and the read-only views.

Every change is one transaction under the allow-list's lock: read the file,
edit its rows (``csvdoc``), check the result with the gateway's own parser,
append the audit lines, replace the file atomically (``files``). A file the
gateway would reject is never written, and every change written is in the
audit log. Keys are generated here (256 bits from ``secrets``, prefix ``lmg-``),
shown once to the caller, and stored only as ``sha256:`` hashes.

Rotation keeps the replaced key's hash in ``previous_api_key`` with the grace's
end in ``previous_expires``: the gateway accepts it until then and refuses it
after by itself. The next write by lmgate clears ended graces from the file.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmgate.allowlist import REQUIRED_COLUMNS, AllowList, AllowListError, KeyEntry, parse_allowlist
from lmgate.config import Config
from lmgate.expiry import format_instant, parse_expires
from lmgate.keyring import audit
from lmgate.keyring.audit import AuditLog
from lmgate.keyring.csvdoc import CsvDocument, Record
from lmgate.keyring.fields import FieldError, check_fields, check_id, check_row
from lmgate.keyring.files import LOCK_TIMEOUT, LockTimeout, exclusive, replace_atomically
from lmgate.keys import hash_key
from lmgate.policies.registry import key_columns

KEY_PREFIX = "lmg-"
KEY_BYTES = 32  # 256 bits
NEW_FILE = ",".join(REQUIRED_COLUMNS) + "\n"  # what the first key goes into when there is no file yet
DEFAULT_GRACE = 24 * 3600
MAX_GRACE = 90 * 86400


class KeyRingError(Exception):
    """A change that cannot be made; ``status`` is its HTTP status for the admin API."""

    status = 409


class KeyNotFound(KeyRingError):
    status = 404


class DuplicateId(KeyRingError):
    status = 409


class FileRejected(KeyRingError):
    """The allow-list (as it is, or as the change would make it) is one the gateway rejects."""

    status = 409


class Busy(KeyRingError):
    status = 503


class WriteFailed(KeyRingError):
    """The disk refused (the lock file, the temp file, the audit log): nothing changed."""

    status = 500


Change = Callable[[CsvDocument, float], list[dict[str, Any]]]


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def stored_hash(key: str) -> str:
    return "sha256:" + hash_key(key)


class KeyRing:
    def __init__(
        self,
        path: Path,
        audit_log: AuditLog,
        clock: Callable[[], float] = time.time,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self.path = path
        self.audit = audit_log
        self.clock = clock
        self.lock_timeout = lock_timeout

    @classmethod
    def from_config(cls, config: Config) -> KeyRing:
        return cls(config.allowlist.path, AuditLog.from_config(config.audit))

    # --- reading
    def list(self) -> list[dict[str, Any]]:
        """Every key, in file order, as ``key_view`` shows it."""
        allowlist = self._load(self._read())
        now = self.clock()
        previous = {e.id: e.expires_at for e in allowlist.by_hash.values() if e.replaced}
        return [key_view(e, previous.get(e.id), now) for e in allowlist.entries()]

    def show(self, key_id: str) -> dict[str, Any]:
        found = next((v for v in self.list() if v["id"] == key_id), None)
        if found is None:
            raise KeyNotFound(f"no key with id {key_id!r}")
        return found

    # --- changes
    def create(self, actor: str, key_id: object, values: dict[str, object]) -> tuple[dict[str, Any], str]:
        """Append a row for a new key; returns its view and the key (shown once, stored as its hash)."""
        key_id = check_id(key_id)
        cells = check_fields(values, self.clock())
        if not cells.get("owner"):
            raise FieldError("owner", "required: the team or person the key belongs to")
        key = new_key()

        def change(doc: CsvDocument, now: float) -> list[dict[str, Any]]:
            if doc.find("id", key_id) is not None:
                raise DuplicateId(f"a key with id {key_id!r} exists; rotate it, or choose another id")
            added = time.strftime("%Y-%m-%d", time.gmtime(now))
            row = {"id": key_id, "api_key": stored_hash(key), "owner": cells["owner"], "added": added}
            row.update({c: v for c, v in cells.items() if v})
            check_row(row)
            doc.append(row)
            return [audit.entry(actor, "create", key_id, audit.changes({}, row), now)]

        self._edit(change)
        return self.show(key_id), key

    def update(self, actor: str, key_id: str, values: dict[str, object]) -> dict[str, Any]:
        cells = check_fields(values, self.clock())

        def change(doc: CsvDocument, now: float) -> list[dict[str, Any]]:
            record = self._find(doc, key_id)
            old = _row(doc, record)
            for column, value in cells.items():
                doc.set(record, column, value)
            new = _row(doc, record)
            check_row(new)
            changed = audit.changes(old, new)
            return [audit.entry(actor, "update", key_id, changed, now)] if changed else []

        self._edit(change)
        return self.show(key_id)

    def rotate(self, actor: str, key_id: str, grace: int = DEFAULT_GRACE) -> tuple[dict[str, Any], str]:
        """A new key for ``key_id``; the old one keeps working for ``grace`` seconds (0: stops now)."""
        if not 0 <= grace <= MAX_GRACE:
            raise FieldError("grace", f"must be between 0 and {MAX_GRACE // 86400} days")
        key = new_key()

        def change(doc: CsvDocument, now: float) -> list[dict[str, Any]]:
            record = self._find(doc, key_id)
            if doc.get(record, "client_secret"):
                raise KeyRingError(f"{key_id!r} is a SigV4 access key id with its secret: issue a new pair by hand")
            old = _row(doc, record)
            current = doc.get(record, "api_key")
            current_hash = current.lower() if current.lower().startswith("sha256:") else stored_hash(current)
            doc.set(record, "api_key", stored_hash(key))
            doc.set(record, "previous_api_key", current_hash if grace else "")
            doc.set(record, "previous_expires", format_instant(now + grace) if grace else "")
            changed = audit.changes(old, _row(doc, record))
            return [audit.entry(actor, "rotate", key_id, changed, now, grace_s=grace)]

        self._edit(change)
        return self.show(key_id), key

    def revoke(self, actor: str, key_id: str) -> dict[str, Any]:
        """Remove the key's row; returns what it was."""
        before = self.show(key_id)

        def change(doc: CsvDocument, now: float) -> list[dict[str, Any]]:
            record = self._find(doc, key_id)
            old = _row(doc, record)
            doc.remove(record)
            return [audit.entry(actor, "revoke", key_id, audit.changes(old, {}), now)]

        self._edit(change)
        return before

    # --- the transaction
    def _edit(self, change: Change) -> AllowList:
        try:
            with exclusive(self.path, self.lock_timeout):
                now = self.clock()
                text = self._read(missing_ok=True)
                doc = CsvDocument.parse(text or NEW_FILE)
                entries = change(doc, now)
                if entries:
                    entries = _end_graces(doc, now, entries[0]["actor"]) + entries
                new_text = doc.render()
                allowlist = self._load(new_text, "would be rejected, nothing written")
                if new_text != text:
                    replace_atomically(self.path, new_text, before_rename=lambda: self.audit.append(entries))
                return allowlist
        except LockTimeout as e:
            raise Busy(f"{e}; try again") from None
        except OSError as e:
            raise WriteFailed(f"nothing changed: {e}") from None

    @staticmethod
    def _find(doc: CsvDocument, key_id: str) -> Record:
        record = doc.find("id", key_id)
        if record is None:
            raise KeyNotFound(f"no key with id {key_id!r}")
        return record

    def _read(self, missing_ok: bool = False) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if missing_ok:
                return ""
            raise FileRejected(f"{self.path}: no such file (allowlist.path in the config)") from None
        except (OSError, UnicodeDecodeError) as e:
            raise FileRejected(f"{self.path}: cannot read: {e}") from None

    def _load(self, text: str, what: str = "is rejected by the gateway") -> AllowList:
        try:
            return parse_allowlist(text, str(self.path))
        except AllowListError as e:
            raise FileRejected(f"the allow-list {what}: {e}") from None


def _row(doc: CsvDocument, record: Record) -> dict[str, str]:
    return {column: doc.get(record, column) for column in doc.columns}


def _end_graces(doc: CsvDocument, now: float, actor: str) -> list[dict[str, Any]]:
    """Clear the previous keys whose grace has ended (the gateway refuses them already)."""
    out = []
    for record in doc.records():
        until = doc.get(record, "previous_expires")
        try:
            ended = bool(until) and parse_expires(until) <= now
        except ValueError:  # the parser says why, for the whole file
            continue
        if ended:
            old = _row(doc, record)
            doc.set(record, "previous_api_key", "")
            doc.set(record, "previous_expires", "")
            changed = audit.changes(old, _row(doc, record))
            out.append(audit.entry(actor, "grace_ended", doc.get(record, "id"), changed, now))
    return out


def key_view(entry: KeyEntry, previous_until: float | None, now: float) -> dict[str, Any]:
    """What ``keys list``/``show`` and the admin API show of a key: never the key or its hash."""
    lim = entry.limits
    expires_at = entry.expires_at
    view: dict[str, Any] = {
        "id": entry.id,
        "owner": entry.owner,
        "added": entry.added or None,
        "models": list(lim.models) or None,
        "rpm": lim.rpm,
        "tpm": lim.tpm,
        "budget_usd": lim.budget_usd,
        "budget_period": lim.budget_period if lim.budget_usd is not None else None,
        "max_parallel": lim.max_parallel,
    }
    # the columns of policies from ``policies.extra``, each by its name, as /auth reads it
    view.update({c: _plain(getattr(lim, c)) for c in key_columns() if c not in view})
    return view | {
        "dlp": entry.extra.get("dlp"),
        "upstream_key": entry.extra.get("upstream_key"),
        "sigv4": "client_secret" in entry.extra,
        "expires": entry.extra.get("expires"),  # as written: a date means through that day (UTC)
        "expires_at": None if expires_at is None else format_instant(expires_at),
        "expired": expires_at is not None and now >= expires_at,
        "disabled": entry.disabled,
        "previous_key_expires": format_instant(previous_until) if previous_until and previous_until > now else None,
    }


def _plain(value: object) -> object:
    """A setting's parsed value as JSON and the CLI's table show it (a tuple of patterns as a list)."""
    return list(value) if isinstance(value, tuple) else value
