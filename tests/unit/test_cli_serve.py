"""`lmgate serve`: the process settings the sidecar serves with."""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from lmgate import cli
from tests.unit.metrics.test_endpoints import config  # a sidecar config in tmp_path


def test_the_sidecar_serves_with_a_short_gil_switch_interval(tmp_path, monkeypatch):
    """A thread holding the GIL (the stats writer's flush) hands it to the event loop, and so to /auth, within
    GIL_SWITCH_S, not Python's default 5 ms."""
    served_with: list[float] = []
    monkeypatch.setattr(web, "run_app", lambda app, **kw: served_with.append(sys.getswitchinterval()))
    interval, policy = sys.getswitchinterval(), asyncio.get_event_loop_policy()
    try:
        assert cli.cmd_serve(config(tmp_path, None)) == 0
    finally:  # both are process-wide: the rest of the test session keeps its own
        sys.setswitchinterval(interval)
        asyncio.set_event_loop_policy(policy)
    assert served_with == [cli.GIL_SWITCH_S]
    assert cli.GIL_SWITCH_S < 0.005  # shorter than Python's default, or it changes nothing
