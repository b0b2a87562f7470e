"""The stats spool: nginx appends one line per finished request, the sidecar reads them in batches.

nginx used to post every finished request to /stats with ``post_action``.
nginx runs a post_action on the client's own connection and reads the
client's next request only once the post is answered, so a request sent right
after a response (SDKs reuse their connection at once) waited for a sidecar
round trip: a stream's first token came ~0.4 ms later (docs/performance.md).
An ``access_log`` line costs nginx one write to a file and nothing on the
connection. nginx writes it before it reads the next request on that
connection, so an /auth that finds a max_parallel slot still held can catch up
on the spool first and find the slot free (``StatsIntake.catch_up``).

Format (``log_format lmgate_spool``, rendered from stats/line.py): fields separated by a
tab, a newline after the last. nginx escapes ``"``, ``\\`` and every byte
below 32 or above 126 as ``\\xHH``, so no field holds a separator and every
byte of the captured response comes back. A variable nginx does not have is
logged as ``-``.

Files: ``<tag>-<slice>.spool``, slice = epoch seconds // 10 (nginx maps
$msec). nginx opens the file of the current slice itself, so nothing has to
tell nginx to rotate; short slices keep the files small (they live in memory
by default: 10 s at 7,000 requests/s is ~100 MB). A file whose slice ended more than a slice ago gets no
more lines: once read to its end it is deleted. The read position of every
file is kept in ``cursor.json``: a restarted sidecar goes on where it stopped,
and lines nginx wrote while the sidecar was down are read then.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import orjson

from lmgate.errors import ConfigError
from lmgate.stats.line import FACTS_FIELD, FIELDS, MSEC_INDEX, VERSION

log = logging.getLogger("lmgate.stats")

__all__ = ["FIELDS", "VERSION"]  # the line's fields (stats/line.py), as readers of the spool know them
SLICE_S = 10  # nginx.conf.j2's map drops the last digit of $msec's seconds
SUFFIX = ".spool"
CURSOR = "cursor.json"
#: bytes read from one file per pass (~700 requests): a backlog (a sidecar that was down) is read over
#: several passes, so /auth answers in between
PASS_BYTES = 1024**2
#: the longest line read whole: a 1 MiB capture of binary data escapes to ~4 MiB
MAX_LINE = 16 * 1024**2


class SpoolEntry(NamedTuple):
    fields: dict[str, str]  # FIELDS by name
    body: bytes  # the response capture
    at: float  # when nginx finished the request (epoch seconds)


def parse_line(line: bytes) -> SpoolEntry | None:
    """One spool line (without its newline); None if it is not one."""
    cut = line.rfind(b"\t")
    if cut < 0:
        return None
    head = line[:cut]
    try:
        # rare: an escaped byte in a header value; else plain ASCII (nginx escapes every byte above 126)
        texts = [_text(v) for v in head.split(b"\t")] if b"\\" in head else head.decode("ascii").split("\t")
        body = unescape(line[cut + 1 :])
    except ValueError:  # a broken \xHH or a raw high byte: not nginx's writing, a damaged file
        return None
    if len(texts) != _TEXTS or texts[0] != VERSION:
        return None
    # one pass: names to values, nginx's "-" (no such variable) as "" (a second list per line showed in profiles)
    fields = {name: "" if value == "-" else value for name, value in zip(FIELDS, texts[1:], strict=True)}
    try:
        at = float(fields[FACTS_FIELD].split("|", MSEC_INDEX + 1)[MSEC_INDEX])
    except (IndexError, ValueError):
        at = time.time()
    return SpoolEntry(fields, body, at)


_TEXTS = len(FIELDS) + 1  # the version, then the fields


def unescape(value: bytes) -> bytes:
    # nginx escapes "\" itself, so every backslash starts an \xHH
    return codecs.escape_decode(value)[0] if b"\\" in value else value


def _text(value: bytes) -> str:
    if value == b"-":
        return ""
    return unescape(value).decode("utf-8", "replace")


def slice_of(name: str) -> int | None:
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else ""
    _, _, number = stem.rpartition("-")
    return int(number) if number.isdigit() else None


class Position(NamedTuple):
    ino: int  # which file the name meant: nginx makes a new one if someone deleted it
    offset: int  # bytes read: everything before is handed over


class Cursor(NamedTuple):
    """Where the reader was after one pass; ``seq`` orders cursors saved out of turn."""

    seq: int
    positions: dict[str, Position]


class SpoolReader:
    """Reads the complete lines nginx appended since the last pass, in every spool file.

    One pass is synchronous (reads, no awaits), so passes never interleave.
    The cursor is saved by whoever owns the lines (``save``, once they are on
    disk), and a finished file is deleted only once a saved cursor covers it:
    a crash re-reads lines whose stats line may not be written, never skips one.
    """

    def __init__(self, directory: Path, on_entries: Callable[[list[SpoolEntry]], None]) -> None:
        self.directory = directory
        self.on_entries = on_entries
        self.read_lines = 0
        self.bad_lines = 0
        self._fds: dict[str, int] = {}
        self._at: dict[str, Position] = {}
        self._seq = 0  # passes that moved the cursor
        self._snapshot_seq = 0
        self._saved = Cursor(0, {})
        prepare_spool_dir(directory)
        self._load_cursor()
        self._saved = Cursor(0, dict(self._at))

    def read(self, now: float | None = None) -> int:
        """Hand every complete new line to ``on_entries``; delete finished files. Returns the lines read."""
        now = time.time() if now is None else now
        entries: list[SpoolEntry] = []
        before = dict(self._at)
        names = self._files()
        for gone in self._at.keys() - set(names):  # deleted by someone else
            self._forget(gone)
        for name in names:
            if self._read_file(name, entries) and self._finished(name, now) and self._saved_to_end(name):
                self._delete(name)
        if self._at != before:
            self._seq += 1
        if entries:
            self.read_lines += len(entries)
            self.on_entries(entries)
        return len(entries)

    def cursor(self) -> Cursor | None:
        """Where the reader is, if that moved since the last call: to ``save`` once its lines are on disk."""
        if self._seq == self._snapshot_seq:
            return None
        self._snapshot_seq = self._seq
        return Cursor(self._seq, dict(self._at))

    def save(self, cursor: Cursor) -> None:
        """Keep ``cursor`` (a restart goes on from there), unless a later one was saved; any thread."""
        if cursor.seq <= self._saved.seq:
            return
        path = self.directory / CURSOR
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({name: list(at) for name, at in cursor.positions.items()}))
        os.replace(tmp, path)
        self._saved = cursor

    def close(self) -> None:
        for name in list(self._fds):
            os.close(self._fds.pop(name))

    def _files(self) -> list[str]:
        try:
            names = [e.name for e in os.scandir(self.directory) if e.name.endswith(SUFFIX)]
        except FileNotFoundError:  # removed under us: nginx recreates files, not the directory
            prepare_spool_dir(self.directory)
            return []
        return sorted(names, key=lambda n: (slice_of(n) or 0, n))

    def _open(self, name: str) -> int | None:
        """The file now under ``name``, from where this reader stopped in it (from its start if it is new)."""
        try:
            ino = os.stat(self.directory / name).st_ino
        except FileNotFoundError:
            self._forget(name)
            return None
        fd = self._fds.get(name)
        at = self._at.get(name)
        if fd is not None and at is not None and at.ino == ino:
            return fd
        self._forget(name)
        try:
            fd = os.open(self.directory / name, os.O_RDONLY)
        except FileNotFoundError:
            return None
        ino_now = os.fstat(fd).st_ino
        self._fds[name] = fd
        self._at[name] = at if at is not None and at.ino == ino_now else Position(ino_now, 0)
        return fd

    def _read_file(self, name: str, entries: list[SpoolEntry]) -> bool:
        """Read the new whole lines of ``name``; True if this reached the file's end."""
        fd = self._open(name)
        if fd is None:
            return False
        ino, offset = self._at[name]
        size = os.fstat(fd).st_size
        if size <= offset:
            return True
        data = os.pread(fd, min(size - offset, PASS_BYTES), offset)
        end = data.rfind(b"\n") + 1  # a line nginx is still writing waits for the next pass
        if end == 0 and len(data) < size - offset:  # one line longer than a pass: read on to its end
            data = os.pread(fd, min(size - offset, MAX_LINE), offset)
            end = data.rfind(b"\n") + 1
        at_end = offset + len(data) >= size
        if end == 0:
            if len(data) == MAX_LINE:  # it cannot be a line nginx wrote
                log.error("stats spool %s: a line longer than %d bytes at %d; skipped", name, MAX_LINE, offset)
                self.bad_lines += 1
                self._skip_line(name, fd, offset + len(data))
            return at_end
        for line in data[: end - 1].split(b"\n"):
            entry = parse_line(line)
            if entry is None:
                self.bad_lines += 1
                log.error("stats spool %s: not a spool line near byte %d: %.80r", name, offset, line)
                continue
            entries.append(entry)
        self._at[name] = Position(ino, offset + end)
        return at_end

    def _skip_line(self, name: str, fd: int, offset: int) -> None:
        """Go on after the next newline from ``offset`` (the rest of an overlong line)."""
        size = os.fstat(fd).st_size
        while offset < size:
            chunk = os.pread(fd, min(size - offset, MAX_LINE), offset)
            newline = chunk.find(b"\n")
            if newline >= 0:
                offset += newline + 1
                break
            offset += len(chunk)
        self._at[name] = Position(self._at[name].ino, offset)

    def _saved_to_end(self, name: str) -> bool:
        """Whether a saved cursor has all of ``name`` that was read (else a crash now would lose its lines)."""
        saved = self._saved.positions.get(name)
        return saved is not None and saved == self._at.get(name)

    def _finished(self, name: str, now: float) -> bool:
        """Whether nginx is done with ``name``: its slice ended a slice ago (late lines land just after its end)."""
        number = slice_of(name)
        return number is not None and (number + 2) * SLICE_S <= now

    def _delete(self, name: str) -> None:
        left = os.fstat(self._fds[name]).st_size - self._at[name].offset
        if left > 0:
            log.error("stats spool %s: %d bytes at its end are not a whole line; dropped", name, left)
            self.bad_lines += 1
        self._forget(name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.directory / name)

    def _forget(self, name: str) -> None:
        fd = self._fds.pop(name, None)
        if fd is not None:
            os.close(fd)
        self._at.pop(name, None)

    def _load_cursor(self) -> None:
        path = self.directory / CURSOR
        try:
            saved = orjson.loads(path.read_bytes())
            self._at = {str(name): Position(int(ino), int(offset)) for name, (ino, offset) in saved.items()}
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, AttributeError) as e:
            # reading every file from its start again would count its requests twice: say so, go on from the ends
            log.error("stats spool cursor %s unreadable (%s): lines not yet read are skipped", path, e)
            self._at = {}
            for name in self._files():
                st = (self.directory / name).stat()
                self._at[name] = Position(st.st_ino, st.st_size)


def prepare_spool_dir(directory: Path) -> None:
    """Create the spool directory so that nginx's workers can create files in it.

    A root-started nginx runs its workers as another user (nobody, nginx,
    www-data): they may create and write files here, but not list the
    directory, and the file names carry a random tag (nginx_conf.py).
    """
    directory.mkdir(parents=True, exist_ok=True)
    mode = 0o1733 if os.geteuid() == 0 else 0o700
    if directory.stat().st_mode & 0o7777 != mode:
        os.chmod(directory, mode)


def check_workers_reach(directory: Path) -> None:
    """A root-started nginx's workers must pass through every directory above the spool (nginx_conf.py)."""
    if os.geteuid() == 0:
        closed = next((p for p in directory.parents if not p.stat().st_mode & 0o001), None)
        if closed is not None:
            raise ConfigError(
                f"stats.spool_dir {directory}: nginx's workers (not root) cannot pass through {closed} "
                f"(mode {closed.stat().st_mode & 0o777:o}), so no stats line could be written; "
                "choose a directory they can reach (the default is in /dev/shm)"
            )
