"""Worker processes for the CPU-bound pure stages.

A `WorkerPool` runs stages, methods of an object built once per worker by a picklable
factory, on items sent to it. Workers start with the `spawn` method (no inherited threads
or sockets), ignore SIGINT/SIGTERM (stopping is the parent's decision) and die with their
parent, even when the parent is SIGKILLed: a thread in each worker watches its parent's
pid and ends the worker within `WATCH_INTERVAL` of the parent's death. (Not Linux
`PR_SET_PDEATHSIG`: it fires when the *thread* that started the worker ends, and the
executor starts workers from whichever thread submits first — a daemon pass's thread —
so a shared pool lost its workers when that pass ended.)

Items travel in chunks: each call of `run` waits in its event loop's lane, and a lane
keeps at most two chunks per worker in flight, sending what waits (up to `chunk` items)
whenever one comes back. An idle pool sends an item at once; a busy one sends several per
round trip, so the executor's per-task cost (pipes, its threads, waking the event loop) is
paid per chunk, not per page. A worker runs each stage over its whole chunk before the
next, so that a stage's code and data are still in the CPU's caches for the next item
(`pipeline.prepare` says what that saves). The daemon shares one pool between passes that
run in threads of their own, each with its own event loop: each loop has its own lane.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import signal
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Generic, TypeVar

A = TypeVar("A")
R = TypeVar("R")
WATCH_INTERVAL = 0.1  # seconds between looks at the parent's pid
CHUNK = 8  # items per round trip to a worker, at most

_STAGES: tuple[Callable[[Any], Any], ...] = ()


def die_with_parent(parent: int) -> None:
    """End this process as soon as `parent` is no longer its parent (it died; the process
    was handed to init or a subreaper), also when the parent died before this ran."""
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_INTERVAL)
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _start(parent: int, factory: Callable[..., Any], args: tuple[Any, ...],
           stages: tuple[str, ...]) -> None:
    global _STAGES
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    built = factory(*args)
    _STAGES = tuple(getattr(built, name) for name in stages)


def _call_chunk(items: list[Any]) -> list[tuple[bool, Any]]:
    assert _STAGES, "worker used before it started"
    return run_stages(_STAGES, items)


def run_stages(stages: Sequence[Callable[[Any], Any]], items: list[Any]
               ) -> list[tuple[bool, Any]]:
    """Each item's (True, result) or (False, exception): one item's error is its own, and
    it skips the later stages. Stage by stage: each stage runs over all the items before
    the next starts. (What a worker does with a chunk.)"""
    out: list[tuple[bool, Any]] = [(True, item) for item in items]
    for stage in stages:
        for n, (ok, value) in enumerate(out):
            if not ok:
                continue
            try:
                out[n] = (True, stage(value))
            except Exception as exc:  # noqa: BLE001 - travels back to the caller of `run`
                try:
                    pickle.dumps(exc)
                except Exception:  # noqa: BLE001 - an exception that cannot travel as it is
                    exc = RuntimeError(f"{type(exc).__name__}: {exc}")
                out[n] = (False, exc)
    return out


class _Lane:
    """The items of one event loop: waiting, and chunks in flight."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Any, asyncio.Future[Any]]] = []
        self.in_flight = 0


class WorkerPool(Generic[A, R]):
    """`factory(*args)` builds, in each worker, the object whose methods named by `stages`
    are applied in turn (by default the object itself is called); `run` sends one item.

    Exceptions raised in a worker travel back to the caller of `run`; an item whose stage
    raised skips the later stages."""

    def __init__(self, factory: Callable[..., Any], args: tuple[Any, ...],
                 workers: int = 0, *, chunk: int = CHUNK,
                 stages: tuple[str, ...] = ("__call__",)) -> None:
        # 0: one fewer than the cores, as the parent keeps one busy with HTTP and SQLite
        workers = workers or max(1, (os.cpu_count() or 1) - 1)
        self.workers = workers
        self.chunk = max(1, chunk)
        self._executor = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start, initargs=(os.getpid(), factory, args, stages))
        self._lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lane] = \
            weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    async def run(self, item: A) -> R:
        loop = asyncio.get_running_loop()
        with self._lock:
            lane = self._lanes.setdefault(loop, _Lane())
        future: asyncio.Future[R] = loop.create_future()
        lane.waiting.append((item, future))
        self._send(loop, lane)
        return await future

    def _send(self, loop: asyncio.AbstractEventLoop, lane: _Lane) -> None:
        """Send what waits, while fewer than two chunks per worker are in flight."""
        while lane.waiting and lane.in_flight < 2 * self.workers:
            batch = [(i, f) for i, f in lane.waiting[:self.chunk] if not f.done()]
            del lane.waiting[:self.chunk]
            if not batch:
                continue
            sent: Future[list[tuple[bool, Any]]] = self._executor.submit(
                _call_chunk, [i for i, _ in batch])
            lane.in_flight += 1
            sent.add_done_callback(self._returning(loop, lane, batch))

    def _returning(self, loop: asyncio.AbstractEventLoop, lane: _Lane,
                   batch: list[tuple[Any, asyncio.Future[Any]]]
                   ) -> Callable[[Future[list[tuple[bool, Any]]]], None]:
        def back(done: Future[list[tuple[bool, Any]]]) -> None:  # on the executor's thread
            try:
                loop.call_soon_threadsafe(self._back, loop, lane, batch, done)
            except RuntimeError:  # that pass's loop is closed: nobody waits for these
                pass
        return back

    def _back(self, loop: asyncio.AbstractEventLoop, lane: _Lane,
              batch: list[tuple[Any, asyncio.Future[Any]]],
              done: Future[list[tuple[bool, Any]]]) -> None:
        lane.in_flight -= 1
        error = None if done.cancelled() else done.exception()
        results = done.result() if error is None and not done.cancelled() else None
        for n, (_item, future) in enumerate(batch):
            if future.done():  # its caller gave up (a stop, a time budget)
                continue
            if results is None:
                future.set_exception(error or asyncio.CancelledError())
            elif results[n][0]:
                future.set_result(results[n][1])
            else:
                future.set_exception(results[n][1])
        self._send(loop, lane)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
