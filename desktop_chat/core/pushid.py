"""Firebase push IDs: 20 characters, time-ordered, rising within one millisecond."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

__all__ = ["PUSH_CHARS", "PushIdGenerator", "push_id_time"]

PUSH_CHARS = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_INDEX = {char: index for index, char in enumerate(PUSH_CHARS)}


class PushIdGenerator:
    """Makes push IDs; one generator per process keeps IDs rising within a millisecond."""

    def __init__(
        self,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        random_bits: Callable[[int], int] = secrets.randbits,
    ) -> None:
        self._clock_ms = clock_ms
        self._random_bits = random_bits
        self._last_ms = -1
        self._last_random = [0] * 12

    def __call__(self) -> str:
        now = self._clock_ms()
        if now <= self._last_ms:
            # Same (or an earlier) millisecond: keep the time part, add one to the random part.
            now = self._last_ms
            for index in range(11, -1, -1):
                if self._last_random[index] != 63:
                    self._last_random[index] += 1
                    break
                self._last_random[index] = 0
            else:  # every random digit rolled over: borrow the next millisecond to keep rising
                now += 1
        else:
            bits = self._random_bits(72)
            self._last_random = [(bits >> (6 * (11 - index))) & 63 for index in range(12)]
        self._last_ms = now
        stamp = []
        for _ in range(8):
            stamp.append(PUSH_CHARS[now % 64])
            now //= 64
        return "".join(reversed(stamp)) + "".join(PUSH_CHARS[i] for i in self._last_random)


def push_id_time(push_id: str) -> int:
    """The millisecond timestamp encoded in a push ID's first 8 characters."""
    if len(push_id) != 20 or any(char not in _INDEX for char in push_id):
        raise ValueError(f"not a push id: {push_id!r}")
    stamp = 0
    for char in push_id[:8]:
        stamp = stamp * 64 + _INDEX[char]
    return stamp
