"""Where in an instance's stats files a shared store has counted up to, and the lines after that.

A ``Mark`` is a position in the JSONL: the file (the live one's name, or a
rotated one's name without ``.gz``), a byte offset in its uncompressed text,
and when the mark was taken. The writer rotates ``stats.jsonl`` by renaming it
to ``stats-<UTC stamp>.jsonl`` (then gzips it): a mark in the live file taken
at time ``at`` is, after a rotation, in the first rotated file stamped after
``at``. Marks are taken while the writer cannot append or rotate (its lock).
"""

from __future__ import annotations

import gzip
import logging
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from lmgate.stats.rollups import stats_files

log = logging.getLogger("lmgate.stats")


@dataclass(frozen=True, slots=True)
class Mark:
    file: str
    offset: int
    at: float


def live_mark(jsonl: Path, now: float | None = None) -> Mark:
    """The end of the live file now (call it holding the writer's lock)."""
    try:
        size = jsonl.stat().st_size
    except FileNotFoundError:
        size = 0
    return Mark(jsonl.name, size, time.time() if now is None else now)


def _plain(path: Path) -> str:
    return path.name[: -len(".gz")] if path.name.endswith(".gz") else path.name


def _stamp_of(jsonl: Path, rotated: Path) -> str:
    """``20261206T170000.123456Z`` of ``stats-20261206T170000.123456Z.jsonl[.gz]``."""
    return _plain(rotated)[len(jsonl.stem) + 1 : -len(jsonl.suffix)]


def _stamp(at: float) -> str:
    us = int(at * 1e6)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(us / 1e6)) + f".{us % 1_000_000:06d}Z"


def files_after(jsonl: Path, mark: Mark | None) -> list[tuple[Path, int]]:
    """(file, offset to read from) for everything after ``mark``, oldest first; all files without one."""
    files = stats_files(jsonl)
    if mark is None:
        return [(p, 0) for p in files]
    rotated = [p for p in files if p != jsonl]
    if mark.file == jsonl.name:
        stamp = _stamp(mark.at)
        later = [p for p in rotated if _stamp_of(jsonl, p) > stamp]
    else:
        later = [p for p in rotated if _plain(p) >= mark.file]
        if not later or _plain(later[0]) != mark.file:
            log.error("rollups: %s was pruned before its lines were counted; going on with the next file", mark.file)
            return [(p, 0) for p in [*later, jsonl] if p.exists()]
    if not later:
        return [(jsonl, mark.offset)] if jsonl.exists() else []
    out = [(later[0], mark.offset), *[(p, 0) for p in later[1:]]]
    return [*out, (jsonl, 0)] if jsonl.exists() else out


def lines_after(jsonl: Path, mark: Mark | None, limit: int) -> tuple[list[bytes], Mark | None]:
    """Up to ``limit`` whole lines after ``mark`` (blank ones dropped) and the mark after the last read
    (None: nothing after ``mark``). A half-written last line of the live file is left for later."""
    out: list[bytes] = []
    end: Mark | None = None
    for path, offset in files_after(jsonl, mark):
        name = jsonl.name if path == jsonl else _plain(path)
        opener = gzip.open if path.suffix == ".gz" else open
        pos = offset
        try:
            with opener(path, "rb") as f:
                f.seek(offset)
                for raw in f:
                    if not raw.endswith(b"\n"):
                        break  # the writer is not done with it (or it never will be: skipped with a warning)
                    pos += len(raw)
                    if raw.strip():
                        out.append(raw)
                    if len(out) >= limit:
                        return out, Mark(name, pos, time.time())
        except (OSError, EOFError, zlib.error) as e:
            log.error("rollups: cannot read %s after byte %d (%s); going on with the next file", path, pos, e)
        end = Mark(name, pos, time.time())
    return out, end
