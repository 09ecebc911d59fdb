"""A pass's time: the stop request (SIGTERM/SIGINT) and wall-clock deadlines.

Awaiting through a `Budget` gives up the awaited work as soon as a stop is requested or
its deadline passes, so neither a slow host nor a hostile one can hold a pass (or the
lock) longer than its budget, and a stop ends a pass within a fraction of a second of
the work in hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")
TICK = 0.1  # how often a wait looks at the stop request


class Budget:
    def __init__(self, stop: threading.Event, seconds: float) -> None:
        self.stop = stop
        self.deadline = time.monotonic() + seconds

    def part(self, seconds: float) -> Budget:
        """A budget of at most `seconds` within this one (a source's within the pass's)."""
        part = Budget(self.stop, seconds)
        part.deadline = min(part.deadline, self.deadline)
        return part

    def spent(self) -> bool:
        return self.stop.is_set() or time.monotonic() >= self.deadline

    async def within(self, work: Awaitable[T]) -> T | None:
        """`work`'s result, or None when the budget ran out first (the work is cancelled)."""
        task = asyncio.ensure_future(work)
        while not task.done():
            if self.spent():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return None
            await asyncio.wait([task], timeout=TICK)
        return task.result()
