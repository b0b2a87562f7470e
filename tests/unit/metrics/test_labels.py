"""Every error_type a stats line can carry is classified once: a refusal reason, or a forwarded request."""

from __future__ import annotations

import re
from pathlib import Path

import lmgate.errors
import lmgate.policies.base
import lmgate.stats.record
from lmgate.errors import DlpBlocked, GateError
from lmgate.errors import ErrorType as E
from lmgate.metrics.labels import FORWARDED, REFUSAL_REASONS, status_class

STATS_ERROR = E.STATS_ERROR

REPO = Path(__file__).resolve().parents[3]


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_subclasses(sub)}
    return out


def known_error_types() -> set[str]:
    # lmgate's own refusals: a policy from policies.extra (tests/e2e/toy_policy.py, once an e2e test has
    # rendered its gateway's config in this process) brings its own
    types = {GateError.error_type} | {
        c.error_type for c in _subclasses(GateError) if c.__module__.startswith("lmgate.")
    }
    for module in (lmgate.policies.base, lmgate.stats.record):
        types |= {v for k, v in vars(module).items() if k.isupper() and isinstance(v, str) and k != "CTX_HEADER"}
    template = (REPO / "nginx/nginx.conf.j2").read_text()
    types |= set(re.findall(r"set \$lmgate_error (\w+);", template))
    return types | {STATS_ERROR}


def test_every_error_type_is_a_refusal_or_forwarded_never_both():
    assert DlpBlocked in _subclasses(GateError)
    types = known_error_types()
    assert {"sidecar_unavailable", "too_large", "upstream_unreachable", "dlp_blocked", "budget_exceeded"} <= types
    unclassified = types - REFUSAL_REASONS.keys() - FORWARDED
    assert not unclassified, f"map these in lmgate/metrics/labels.py: {sorted(unclassified)}"
    assert not REFUSAL_REASONS.keys() & FORWARDED


def test_the_issues_reasons_are_label_values():
    assert set(REFUSAL_REASONS.values()) >= {
        "unauthorized", "model", "rpm", "tpm", "budget", "max_parallel", "dlp", "sidecar_unavailable", "too_large",
        "upstream_unreachable",
    }  # fmt: skip
    assert lmgate.errors.Unauthorized.error_type in REFUSAL_REASONS


def test_status_classes():
    assert [status_class(s) for s in (200, 204, 301, 404, 499, 503, 0, 999)] == [
        "2xx", "2xx", "3xx", "4xx", "4xx", "5xx", "other", "other",
    ]  # fmt: skip
