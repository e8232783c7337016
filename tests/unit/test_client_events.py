"""The ChatClient's event queues: bounded, dropping the oldest and announcing a Resync."""

from __future__ import annotations

import asyncio

import pytest

from desktop_chat.client.events import ConnectionStateChanged, EventBus, Resync


def test_lagging_consumer_loses_oldest_and_gets_resync(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        bus = EventBus(maxsize=3)
        stream = bus.stream()
        for i in range(5):
            bus.publish(ConnectionStateChanged(i % 2 == 0))
        assert stream.dropped == 2
        got = [await anext(stream) for _ in range(4)]
        assert got[0] == Resync(2)
        assert got[1:] == [ConnectionStateChanged(flag) for flag in (True, False, True)]
        assert stream.get_nowait() is None
        late = bus.stream()  # sees only what is published after it was made
        bus.publish(ConnectionStateChanged(False))
        assert late.get_nowait() == ConnectionStateChanged(False)
        bus.close()
        assert [event async for event in stream] == [ConnectionStateChanged(False)]

    asyncio.run(main())
    assert "event consumer lags: 1 events dropped" in caplog.text


def test_bus_refuses_zero_size() -> None:
    with pytest.raises(ValueError, match="at least one"):
        EventBus(0)
