"""scripts/bench/hostspeed.py: the host's Python reference, printed in every benchmark's header."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _hostspeed():
    spec = importlib.util.spec_from_file_location("hostspeed", ROOT / "scripts" / "bench" / "hostspeed.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_is_cpu_time_per_op() -> None:
    hostspeed = _hostspeed()
    us = hostspeed.python_reference_us([], ops=2_000, repeats=3)
    # microseconds of CPU per op: neither a failed run's 0 nor seconds (a unit slip)
    assert us is not None and 0.2 < us < 1_000


def test_failed_run_is_none_not_a_number() -> None:
    hostspeed = _hostspeed()
    assert hostspeed.python_reference_us(["false"], ops=10) is None  # the pin command fails: no output
