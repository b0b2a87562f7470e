"""Writing the allow-list safely: one editor at a time, and a file that is whole or not there at all.

The lock is ``flock`` on ``<file>.lock`` beside the allow-list, taken by every
editor (each ``lmgate keys`` process, each admin API call in the sidecar's
threads: flock locks belong to an open file, so two opens in one process
exclude each other too). The new text goes to a temp file in the same
directory, is fsynced and renamed over the old one, then the directory is
fsynced: a reader (the gateway's poller) sees the old file or the new one,
never a mix, and a crash leaves one of them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

LOCK_TIMEOUT = 15.0  # seconds an editor waits for the others


class LockTimeout(OSError):
    """Another editor held the lock for ``LOCK_TIMEOUT``."""


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def exclusive(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the allow-list's lock file (created if missing; read-only is enough for flock)."""
    fd = os.open(lock_path(path), os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"{lock_path(path)}: another edit held the lock for {timeout:.0f} s") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.02)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def replace_atomically(path: Path, text: str, before_rename: Callable[[], None] = lambda: None) -> None:
    """Write ``text`` to ``path`` whole (temp file, fsync, rename, fsync of the directory), keeping the old
    file's permissions. ``before_rename`` runs once the new text is safe on disk; if it raises, nothing changes."""
    try:
        st: os.stat_result | None = path.stat()
    except FileNotFoundError:
        st = None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            if st is not None:
                os.fchmod(f.fileno(), st.st_mode & 0o7777)
                with contextlib.suppress(PermissionError):  # only root may give the file to its old owner
                    os.fchown(f.fileno(), st.st_uid, st.st_gid)
            os.fsync(f.fileno())
        before_rename()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
