"""The capture ring of gate.js (nginx/njs/capture.js) under the njs CLI, and its round trip through
lmgate/stats/capture.py: what njs leaves in the stats line's variables reassembles into the bytes sent.

The njs table (tests/njs/capture_test.js) pins the variables themselves; here the same function's
outputs for many chunk sequences go through ``reassemble`` as the sidecar reads them from the spool.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from lmgate.stats.capture import reassemble
from lmgate.streams import Capture

ROOT = Path(__file__).resolve().parents[2]
NJS_DIR = ROOT / "nginx" / "njs"
HERE = Path(__file__).resolve().parent


def njs(script: str, *args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("njs")
    assert binary, "the njs CLI is missing: scripts/test.sh installs it (Debian package njs)"
    return subprocess.run(
        [binary, "-p", str(NJS_DIR), str(HERE / script), *args], capture_output=True, text=True, timeout=60
    )


def test_the_capture_table_passes_under_the_njs_cli():
    run = njs("capture_test.js")
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    summary = run.stdout.strip().splitlines()[-1]
    passed, failed = (int(word) for word in summary.replace(",", "").split()[::2])
    assert failed == 0 and passed >= 8, report


def through_njs(cases: list[dict], tmp_path: Path) -> list[Capture]:
    """Feed each case's chunks through capture.js; reassemble what the stats line would carry."""
    spec = [
        {"max": c["max"], "chunks": [base64.b64encode(x).decode() for x in c["chunks"]], "last": c["last"]}
        for c in cases
    ]
    given, written = tmp_path / "cases.json", tmp_path / "variables.json"
    given.write_text(json.dumps(spec))
    run = njs("capture_dump.js", str(given), str(written))
    assert run.returncode == 0, run.stdout + run.stderr
    captures = []
    for out in json.loads(written.read_text()):
        # the spool line's body field is $lmgate_capture$lmgate_t0...$lmgate_t7
        raw = base64.b64decode(out["capture"]) + b"".join(base64.b64decode(s) for s in out["ring"])
        captures.append(reassemble(raw, out["gap"], out["tail"]))
    return captures


def case(max_bytes: int, chunks: list[bytes], last: str) -> dict:
    return {"max": max_bytes, "chunks": chunks, "last": last}


NAMED = {
    "a whole small response": (case(100, [b"abc", b"def"], "empty"), b"abcdef", []),
    "a hang-up leaves the unpublished chunk in the ring": (
        case(1000, [b"a" * 10, b"b" * 10, b"c" * 10, b"d" * 10], "none"),
        b"a" * 10 + b"b" * 10 + b"c" * 10 + b"d" * 10,
        [],
    ),
    "a ring that wrapped loses its oldest chunks, at a marked gap": (
        case(10000, [b"x" * 100, *(str(i).encode() for i in range(10))], "none"),
        b"x" * 100 + b"23456789",
        [100],
    ),
    "past the cap the middle is missing, at a marked gap": (
        case(20, [c * 4 for c in (b"A", b"B", b"C", b"D", b"E", b"F", b"G")], "empty"),
        b"AAAABBBBCCCCEEEEFFFFGGGG",
        [12],
    ),
    "past the cap and hung up: the ring's newest chunks follow the last publish": (
        case(20, [c * 4 for c in (b"A", b"B", b"C", b"D", b"E", b"F", b"G")], "none"),
        b"AAAABBBBCCCCDDDDEEEEFFFFGGGG",
        [],
    ),
}


@pytest.mark.parametrize("name", list(NAMED))
def test_named_sequences_reassemble_to_the_expected_bytes_and_gaps(name, tmp_path):
    spec, data, gaps = NAMED[name]
    (got,) = through_njs([spec], tmp_path)
    assert (got.data, got.gaps) == (data, gaps)


def pieces_in_order(original: bytes, capture: Capture) -> bool:
    """Each piece between gaps is a run of the original, in order, with bytes missing at each gap;
    the first piece starts the response and the last one ends it (the newest chunk is never lost)."""
    bounds = [0, *capture.gaps, len(capture.data)]
    pieces = [capture.data[a:b] for a, b in itertools.pairwise(bounds)]
    if not original.startswith(pieces[0]) or not original.endswith(pieces[-1]):
        return False
    pos = len(pieces[0])
    for piece in pieces[1:]:
        found = original.find(piece, pos + 1)  # + 1: a gap means at least one byte is missing
        if found < 0:
            return False
        pos = found + len(piece)
    return True


def test_random_sequences_reassemble_to_the_original_or_to_its_runs_around_marked_gaps(tmp_path):
    rnd = random.Random(14)
    cases = []
    for _ in range(120):
        sizes = [rnd.choice([0, 1, 3, 17, 64, 200, 900]) for _ in range(rnd.randint(1, 40))]
        chunks = [rnd.randbytes(n) for n in sizes]
        cases.append(case(rnd.choice([16, 64, 257, 1024, 65536]), chunks, rnd.choice(["empty", "chunk", "none"])))
    captures = through_njs(cases, tmp_path)
    whole = 0
    for spec, got in zip(cases, captures, strict=True):
        original = b"".join(spec["chunks"])
        if not got.gaps:
            assert got.data == original, spec
            whole += 1
        else:
            assert pieces_in_order(original, got), (spec, got)
    assert 0 < whole < len(cases)  # both kinds were exercised
