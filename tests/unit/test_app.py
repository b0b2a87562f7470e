"""The sidecar's background tasks: one that ends by itself stops the process (the supervisor restarts it)."""

from __future__ import annotations

import asyncio
import signal

import pytest

from lmgate.app import stop_if_it_ends


@pytest.fixture
def sigterms():
    """SIGTERMs this process receives, caught instead of ending the test run."""
    got: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: got.append(signum))
    yield got
    signal.signal(signal.SIGTERM, previous)


async def test_a_background_task_that_fails_stops_the_sidecar(sigterms, caplog):
    async def reader() -> None:
        raise ValueError("a bug in reading the spool")

    task = asyncio.create_task(reader(), name="stats spool reader")
    task.add_done_callback(stop_if_it_ends)
    with pytest.raises(ValueError):
        await task
    for _ in range(100):  # the callback runs on the loop, the signal handler between bytecodes
        if sigterms:
            break
        await asyncio.sleep(0.01)
    assert sigterms == [signal.SIGTERM]
    assert "the stats spool reader ended (ValueError('a bug in reading the spool'))" in caplog.text


async def test_a_cancelled_background_task_is_the_normal_stop(sigterms):
    task = asyncio.create_task(asyncio.sleep(60), name="stats writer")
    task.add_done_callback(stop_if_it_ends)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)
    assert sigterms == []
