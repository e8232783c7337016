"""The client learns the server's clock from its answers' Date headers, against the real server."""

from __future__ import annotations

import asyncio
from email.utils import formatdate

from desktop_chat.client.transport import Http, ServerClock
from tests.support.server import ServerProcess

NOW = 1_800_000_000.25  # this computer's clock in the tests below


def test_the_offset_is_the_median_of_the_last_answers() -> None:
    clock = ServerClock(lambda: NOW)
    assert clock.offset == 0.0
    clock.observe(formatdate(NOW + 600, usegmt=True))  # the server runs 10 minutes ahead
    assert abs(clock.offset - 600) <= 1.0
    for skew in (601, 599, 3600, 600):  # one wild answer does not move the median far
        clock.observe(formatdate(NOW + skew, usegmt=True))
    assert abs(clock.offset - 600) <= 1.0


def test_a_missing_or_malformed_date_changes_nothing() -> None:
    clock = ServerClock(lambda: NOW)
    clock.observe(formatdate(NOW - 120, usegmt=True))
    before = clock.offset
    for header in (None, "", "yesterday", "Thu, 99 Zzz 2026 99:99:99 GMT", "\x00" * 40):
        clock.observe(header)
    assert clock.offset == before and abs(before + 120) <= 1.0


def test_the_http_client_learns_the_clock_of_the_real_server(server: ServerProcess) -> None:
    async def main() -> float:
        http = Http()
        try:
            answer = await http.request("GET", f"{server.url}/.json", params={"shallow": "true"})
            assert answer.headers.get("Date")
            return http.clock.offset
        finally:
            await http.close()

    offset = asyncio.run(main())
    assert abs(offset) <= 1.5  # the same machine: the same clock, to the Date's second
