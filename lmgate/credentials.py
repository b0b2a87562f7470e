"""Secrets the gateway holds: ``env:NAME`` / ``file:PATH`` references, and AWS credential sources.

The allow-list and the config name secrets, never contain them: ``env:NAME`` is
an environment variable of the sidecar (fixed for the life of the process),
``file:PATH`` a mounted secret that is re-read when its file changes, so a
rotated key takes effect without a restart. Error messages name the reference,
never the value.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # botocore is only needed when a provider signs with AWS credentials
    from botocore.credentials import ReadOnlyCredentials

ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REF_SCHEMES = ("env", "file")


class SecretError(Exception):
    """A reference that cannot be resolved now; ``str()`` names the reference, never a value."""


@dataclass(frozen=True, slots=True)
class SecretRef:
    scheme: Literal["env", "file"]
    target: str  # the variable name or the file path

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}"


def is_ref(text: str) -> bool:
    """Whether ``text`` is meant as a reference (``env:``/``file:``), rather than a literal value."""
    return text.strip().lower().startswith(tuple(s + ":" for s in REF_SCHEMES))


def parse_ref(text: str) -> SecretRef:
    """``env:NAME`` or ``file:PATH``; a ValueError otherwise.

    The message never repeats ``text``: a key pasted where a reference belongs must
    not end up in a log line.
    """
    scheme, sep, target = text.strip().partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in REF_SCHEMES:
        raise ValueError("must be a secret reference, env:NAME or file:PATH (the secret itself does not go here)")
    target = target.strip()
    if scheme == "env":
        if not ENV_NAME_RE.match(target):
            raise ValueError("env: must be followed by an environment variable name (letters, digits, _)")
        return SecretRef("env", target)
    if not target:
        raise ValueError("file: must be followed by the path of the file holding the secret")
    return SecretRef("file", target)


@dataclass(slots=True)
class _FileEntry:
    stamp: tuple[int, int, int]
    value: str
    checked: float


class SecretResolver:
    """Resolves references; file secrets are cached and re-read when the file changes.

    A file is stat()ed at most every ``check_interval`` seconds, so a hot path
    costs a dict lookup. Thread-safe: the stats writer thread never uses it,
    but ``asyncio.to_thread`` callers may.
    """

    def __init__(self, environ: Mapping[str, str] | None = None, check_interval: float = 1.0) -> None:
        self._environ = os.environ if environ is None else environ
        self.check_interval = check_interval
        self._files: dict[str, _FileEntry] = {}
        self._lock = threading.Lock()

    def resolve(self, ref: SecretRef | str) -> str:
        if isinstance(ref, str):
            ref = parse_ref(ref)
        if ref.scheme == "env":
            value = self._environ.get(ref.target)
            if value is None:
                raise SecretError(f"{ref}: the environment variable is not set in the gateway's environment")
            value = value.strip()
            if not value:
                raise SecretError(f"{ref}: the environment variable is empty")
            return value
        return self._file(ref)

    def _file(self, ref: SecretRef) -> str:
        now = time.monotonic()
        with self._lock:
            entry = self._files.get(ref.target)
            if entry is not None and now - entry.checked < self.check_interval:
                return entry.value
            try:
                st = os.stat(ref.target)  # follows the symlinks mounted secrets are swapped through
                stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
                if entry is not None and entry.stamp == stamp:
                    entry.checked = now
                    return entry.value
                with open(ref.target, encoding="utf-8") as f:
                    value = f.read().strip()  # editors and `echo` add a trailing newline
            except OSError as e:
                self._files.pop(ref.target, None)  # a deleted secret must stop working
                raise SecretError(f"{ref}: cannot read the secret file: {e.strerror}") from None
            except UnicodeDecodeError:
                raise SecretError(f"{ref}: the secret file is not UTF-8 text") from None
            if not value:
                raise SecretError(f"{ref}: the secret file is empty")
            self._files[ref.target] = _FileEntry(stamp, value, now)
            return value


# --- the gateway's own AWS credentials (upstream signing)


class AwsCredentialSource:
    """Where the gateway's AWS credentials come from: references in the config, or botocore's standard chain.

    ``get()`` returns frozen credentials for one signature. The standard chain
    (env, shared files, SSO, container/instance roles) refreshes itself; a refresh
    may do network I/O, so call ``get`` off the event loop when the chain is used.
    """

    def __init__(
        self,
        resolver: SecretResolver,
        access_key_id: str | None = None,
        secret_access_key: SecretRef | None = None,
        session_token: SecretRef | None = None,
        profile: str | None = None,
    ) -> None:
        if (access_key_id is None) != (secret_access_key is None):
            raise ValueError("access_key_id and secret_access_key go together")
        if session_token is not None and access_key_id is None:
            raise ValueError("session_token needs access_key_id and secret_access_key")
        if profile is not None and access_key_id is not None:
            raise ValueError("give either a profile or explicit keys, not both")
        self._resolver = resolver
        self._akid = access_key_id  # literal id or a reference
        self._secret = secret_access_key
        self._token = session_token
        self._profile = profile
        self._chain = None  # botocore credentials from the standard chain, created on first use
        self._lock = threading.Lock()

    @property
    def uses_chain(self) -> bool:
        return self._akid is None

    def get(self) -> ReadOnlyCredentials:
        from botocore.credentials import ReadOnlyCredentials

        if self._akid is not None and self._secret is not None:
            akid = self._resolver.resolve(self._akid) if is_ref(self._akid) else self._akid
            token = self._resolver.resolve(self._token) if self._token is not None else None
            return ReadOnlyCredentials(akid, self._resolver.resolve(self._secret), token)
        with self._lock:
            if self._chain is None:
                import botocore.session

                self._chain = botocore.session.Session(profile=self._profile).get_credentials()
            if self._chain is None:
                where = f"profile {self._profile!r}" if self._profile else "the standard AWS chain"
                raise SecretError(f"no AWS credentials found in {where}")
        return self._chain.get_frozen_credentials()
