"""Tracked tasks end on quit even when a cancellation is lost, and wait_set never loses one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

import pytest

from desktop_chat.client.transport import TaskTracker, wait_set

SOON = 10.0  # generous: a hang fails the test instead of stalling the suite
LOSES_CANCEL = sys.version_info < (3, 12)  # wait_for was rewritten on asyncio.timeout in 3.12


async def _looping(wait: str, event: asyncio.Event, rounds: list[int]) -> None:
    """Wait for *event* over and over, the way the sender and the token refresher do."""
    while True:
        if wait == "wait_for":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), 100)
        else:
            await wait_set(event, 100)
        event.clear()
        rounds.append(1)


def test_wait_for_really_loses_a_cancellation_that_arrives_as_the_event_is_set() -> None:
    """The fault the tracker guards against, caused for real (Python 3.11's wait_for)."""

    async def main() -> bool:
        event, rounds = asyncio.Event(), []
        task = asyncio.create_task(_looping("wait_for", event, rounds))
        await asyncio.sleep(0)
        event.set()
        task.cancel()  # in the same turn: wait_for sees its awaitable done and swallows this
        await asyncio.sleep(0.05)
        lost = not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return lost

    assert asyncio.run(main()) is LOSES_CANCEL


def test_cancel_all_cancels_again_a_task_that_lost_its_cancellation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        tracker = TaskTracker("test")
        tracker.recancel_after = 0.05
        event, rounds = asyncio.Event(), []
        task = tracker.spawn(_looping("wait_for", event, rounds), "loses a cancel")
        await asyncio.sleep(0)
        event.set()
        async with asyncio.timeout(SOON):
            await tracker.close()
        assert task.cancelled() and len(tracker) == 0

    with caplog.at_level(logging.WARNING, logger="desktop_chat.client"):
        asyncio.run(main())
    warned = any("ignored a cancellation" in r.getMessage() for r in caplog.records)
    assert warned is LOSES_CANCEL


def test_wait_set_keeps_a_cancellation_that_arrives_as_the_event_is_set(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        tracker = TaskTracker("test")
        event, rounds = asyncio.Event(), []
        task = tracker.spawn(_looping("wait_set", event, rounds), "keeps its cancel")
        await asyncio.sleep(0)
        event.set()
        task.cancel()
        async with asyncio.timeout(SOON):
            await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled() and rounds == []
        await tracker.close()

    with caplog.at_level(logging.WARNING, logger="desktop_chat.client"):
        asyncio.run(main())
    assert not [r for r in caplog.records if "ignored a cancellation" in r.getMessage()]


def test_wait_set_says_whether_the_event_was_set() -> None:
    async def main() -> None:
        event = asyncio.Event()
        assert await wait_set(event, 0.01) is False
        asyncio.get_running_loop().call_later(0.01, event.set)
        assert await wait_set(event, SOON) is True
        assert await wait_set(event, 0) is True  # already set: no wait at all
        event.clear()
        asyncio.get_running_loop().call_later(0.01, event.set)
        assert await wait_set(event, None) is True

    asyncio.run(main())


def test_cancel_without_waiting_and_the_tasks_view() -> None:
    async def main() -> None:
        tracker = TaskTracker("test")
        task = tracker.spawn(asyncio.sleep(100), "sleeper")
        assert tracker.tasks == frozenset({task})
        tracker.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled() and tracker.tasks == frozenset()
        tracker.spawn(asyncio.sleep(0), "still usable")  # cancel() does not close the tracker
        await tracker.close()

    asyncio.run(main())
