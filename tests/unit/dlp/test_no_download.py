"""Nothing is fetched at run time: importing presidio, building the engine and scanning stay offline.

Each check runs in a fresh interpreter whose sockets refuse (and record) every
connection and DNS lookup, with spaCy's downloader replaced by a recorder, and
with HOME and the cache dir pointed at an empty directory that must stay empty.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import orjson

GUARD = """
import json, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("network disabled by test")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.getaddrinfo = refuse
socket.create_connection = refuse
import spacy.cli
spacy.cli.download = lambda *a, **k: attempts.append(f"spacy download {a}")
"""


def run_offline(body: str, tmp_path: Path) -> dict:
    home = tmp_path / "home"
    home.mkdir()
    code = GUARD + textwrap.dedent(body) + "\nprint(json.dumps({'attempts': attempts, 'out': out}))\n"
    env = {
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[3],
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = orjson.loads(proc.stdout.strip().splitlines()[-1])
    result["home_files"] = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    return result


def test_the_guard_catches_what_stock_presidio_would_fetch(tmp_path):
    # presidio's own e-mail check goes through tldextract.extract, which fetches the suffix list
    result = run_offline("import tldextract\nout = tldextract.extract('ada@example.com').suffix\n", tmp_path)
    assert result["attempts"], "the guard saw no network attempt: it would not catch a download either"


def test_import_build_and_scan_stay_offline(tmp_path):
    result = run_offline(
        """
        import presidio_analyzer
        from lmgate.dlp.analyzer import Detector
        from lmgate.config import DlpConfig
        from lmgate.dlp.settings import KNOWN_ENTITIES, NER_ENTITIES
        entities = [e for e in KNOWN_ENTITIES if e not in NER_ENTITIES]
        detector = Detector(DlpConfig(entities=entities))
        detector.warm_up()
        text = "mail ada@example.com or bob@mail.example.co.uk, call +44 20 7946 0958, card 4111 1111 1111 1111"
        out = sorted({f.entity for f in detector.find(text)})
        """,
        tmp_path,
    )
    assert result["attempts"] == []
    assert result["home_files"] == []
    assert {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD"} <= set(result["out"])


def test_a_missing_spacy_model_is_an_error_not_a_download(tmp_path):
    result = run_offline(
        """
        from lmgate.dlp.analyzer import Detector
        from lmgate.dlp.nlp import DlpModelMissing
        from lmgate.config import DlpConfig
        try:
            Detector(DlpConfig(spacy_model="en_core_web_lg", entities=["PERSON"]))
            out = "built"
        except DlpModelMissing as err:
            out = str(err)
        """,
        tmp_path,
    )
    assert result["attempts"] == []
    assert "'en_core_web_lg' is not installed" in result["out"] and "never downloads" in result["out"]
