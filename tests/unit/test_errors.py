"""The error vocabulary is complete: every ErrorType has its constructor, its docs row and every provider's shape."""

from __future__ import annotations

import inspect
import re
import subprocess
from pathlib import Path

import orjson
import pytest

import lmgate.errors
from lmgate.errors import OBSERVED, ErrorKind, ErrorType, GateError, refusal_classes, render
from lmgate.providers import PROVIDERS

REPO = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `(\w+)` \| (\d+|—) \| `?(\w+|—)`? \|", re.M)
REFUSALS = sorted(set(ErrorType) - OBSERVED)


def docs_rows() -> dict[str, tuple[str, str]]:
    return {m[1]: (m[2], m[3]) for m in ROW.finditer((REPO / "docs/errors.md").read_text())}


def build(cls: type[GateError]) -> GateError:
    if cls is lmgate.errors.DlpBlocked:
        return cls("lmgate: blocked", dlp={"findings": {"EMAIL_ADDRESS": 1}})
    return cls("lmgate: refused")


def test_every_refusal_type_has_its_class_and_no_type_is_both():
    classes = refusal_classes()
    missing = [t for t in REFUSALS if t not in classes]
    assert not missing, f"give these a GateError subclass in lmgate/errors.py: {missing}"
    assert not OBSERVED & classes.keys(), "an observed error_type has a constructor"
    for t in REFUSALS:
        cls = classes[t]
        assert cls.error_type == t and isinstance(cls.error_type, ErrorType)
        assert 400 <= cls.status <= 599 and isinstance(cls.kind, ErrorKind)


def test_every_class_in_errors_py_names_an_error_type():
    mine = [c for c in vars(lmgate.errors).values() if inspect.isclass(c) and issubclass(c, GateError)]
    assert {c.error_type for c in mine} == set(REFUSALS)  # one class per type, none sharing one
    assert len(mine) == len(REFUSALS)


def test_docs_table_lists_every_error_type_with_its_status_and_class():
    rows = docs_rows()
    assert set(rows) == {str(t) for t in ErrorType}, "docs/errors.md's table and ErrorType differ"
    classes = refusal_classes()
    for t in ErrorType:
        status, name = rows[t]
        if t in OBSERVED:
            assert (status, name) == ("—", "—"), t
        else:
            assert (int(status), name) == (classes[t].status, classes[t].__name__), t


@pytest.mark.parametrize("kind", sorted(PROVIDERS))
@pytest.mark.parametrize("error_type", REFUSALS)
def test_every_provider_renders_every_refusal(kind, error_type):
    api, err = PROVIDERS[kind], build(refusal_classes()[error_type])
    body = orjson.loads(render(api, err))
    assert "lmgate: " in orjson.dumps(body).decode()  # the message, in the provider's own document
    assert isinstance(api.error_headers(err.kind), dict)
    assert 400 <= api.error_status(err.kind, err.status) <= 599


def test_constructors_build_headers_once():
    err = lmgate.errors.RpmExceeded("x", retry_after=3, headers={"x-ratelimit-limit-requests": "5"})
    assert err.headers == {"Retry-After": "3", "x-ratelimit-limit-requests": "5"}
    assert lmgate.errors.QuotaExceeded("x").headers == {}
    assert lmgate.errors.DlpNotReady("x", retry_after=1).headers == {"Retry-After": "1"}
    assert lmgate.errors.UpstreamTimeout("x").status == 504


def test_no_error_type_is_spelled_outside_errors_py():
    """Stats lines, the template, njs and metrics name error types through ErrorType only (njs excepted: it
    cannot import it, so its two values are checked here)."""
    out = subprocess.run(
        ["git", "grep", "-nE", r"error_type\s*[:=]\s*[^:=]*['\"][a-z_]+['\"]", "--", "lmgate", "nginx/*.j2"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout
    assert out == "", out
    njs = (REPO / "nginx/njs/gate.js").read_text()
    named = set(re.findall(r"lmgate_error = [^;]*", njs))
    values = {v for line in named for v in re.findall(r"'(\w+)'", line)}
    assert values == {"upstream_timeout", "upstream_closed"} and values <= set(ErrorType)
    template = (REPO / "nginx/nginx.conf.j2").read_text()
    assert not re.findall(r"set \$lmgate_error [a-z_]+;", template)  # rendered from the classes
