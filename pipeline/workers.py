"""Worker processes for the CPU-bound pure stages.

A `WorkerPool` runs one function, built once per worker by a picklable factory, on items
sent to it. Workers start with the `spawn` method (no inherited threads or sockets),
ignore SIGINT/SIGTERM (stopping is the parent's decision) and die with their parent,
even when the parent is SIGKILLed (Linux `PR_SET_PDEATHSIG`, checked once more after it
is set, in case the parent died first).
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Generic, TypeVar

A = TypeVar("A")
R = TypeVar("R")
PR_SET_PDEATHSIG = 1

_FUNCTION: Callable[[Any], Any] | None = None


def die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent goes (Linux only)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _start(parent: int, factory: Callable[..., Callable[[Any], Any]],
           args: tuple[Any, ...]) -> None:
    global _FUNCTION
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _FUNCTION = factory(*args)


def _call(item: Any) -> Any:
    assert _FUNCTION is not None, "worker used before it started"
    return _FUNCTION(item)


class WorkerPool(Generic[A, R]):
    """`factory(*args)` builds the function each worker applies; `run` sends it one item.

    Exceptions raised in a worker travel back to the caller of `run`."""

    def __init__(self, factory: Callable[..., Callable[[A], R]], args: tuple[Any, ...],
                 workers: int = 0) -> None:
        # 0: one fewer than the cores, as the parent keeps one busy with HTTP and SQLite
        workers = workers or max(1, (os.cpu_count() or 1) - 1)
        self.workers = workers
        self._executor = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start, initargs=(os.getpid(), factory, args))

    async def run(self, item: A) -> R:
        loop = asyncio.get_running_loop()
        result: R = await loop.run_in_executor(self._executor, _call, item)
        return result

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
