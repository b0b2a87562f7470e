"""Webhook delivery against a local receiver: retries with backoff, recovery, and a dead webhook's cost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import pytest

from lmgate.alerts.message import Notification
from lmgate.alerts.sender import DROPPED, FAILED, QUEUE_SIZE, SENT, WebhookSender
from tests.e2e.harness import wait_for
from tests.webhook_receiver import WebhookReceiver

NOTE = Notification("budget", "lmgate: key a (owner t) has used 80% of its daily budget", (("Key", "a"),), {"x": 1})


@pytest.fixture
def receiver():
    with WebhookReceiver() as r:
        yield r


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/hooks/secret-token-456"  # nothing listens there


@contextlib.asynccontextmanager
async def running(sender: WebhookSender):
    task = asyncio.create_task(sender.run())
    try:
        yield sender
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def settle(predicate, timeout: float = 5.0) -> None:
    await asyncio.to_thread(wait_for, predicate, timeout, 0.01, "delivery")


async def test_a_webhook_that_fails_then_recovers_gets_the_notification_once(receiver):
    receiver.fail_next = 2
    sender = WebhookSender([receiver.url], timeout=2, retries=3, backoff=0.05)
    async with running(sender):
        sender.send(NOTE)
        await settle(lambda: receiver.received)
    assert receiver.attempts == 3 and receiver.received == [NOTE.payload()]
    body = receiver.received[0]
    assert body["text"] == NOTE.text and body["attachments"][0]["fields"] == [
        {"title": "Key", "value": "a", "short": True}
    ]
    assert body["lmgate"] == {"event": "budget", "x": 1}
    assert sender.counts == {("budget", SENT): 1}


async def test_retries_are_bounded_and_a_refusing_receiver_is_not_retried(receiver):
    receiver.fail_next = 10
    sender = WebhookSender([receiver.url], timeout=2, retries=2, backoff=0.01)
    async with running(sender):
        sender.send(NOTE)
        await settle(lambda: sender.counts[("budget", FAILED)] == 1)
    assert receiver.attempts == 3 and not receiver.received


async def test_a_dead_webhook_costs_a_counter_and_one_error_line_a_minute(receiver, caplog):
    dead = dead_url()
    sender = WebhookSender([dead, receiver.url], timeout=1, retries=1, backoff=0.01)
    caplog.set_level(logging.ERROR, "lmgate.alerts")
    async with running(sender):
        for _ in range(3):
            sender.send(NOTE)
        await settle(lambda: sender.counts[("budget", FAILED)] == 3 and len(receiver.received) == 3)
    assert sender.counts[("budget", SENT)] == 3  # the live webhook is not held up by the dead one
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "127.0.0.1" in errors[0].getMessage() and "secret-token" not in caplog.text


async def test_a_full_queue_drops_and_counts():
    sender = WebhookSender([dead_url()])  # not running: nothing leaves the queue
    for _ in range(QUEUE_SIZE + 2):
        sender.send(NOTE)
    assert sender.counts[("budget", DROPPED)] == 2
