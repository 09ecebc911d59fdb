"""The store's own thread for a pass: every store call runs there, one at a time, in
batched transactions.

SQLite is written from one thread. The pass's event loop hands each call to it
(`await calls(fn, …)`); the fetch log gathered since the last call is handed to the store
first, which writes it with the batch it belongs to. The store keeps a batch
(`Store.batch`): writes join one open transaction, committed after `COMMIT_LINKS` finished
links or `COMMIT_SECONDS`, whichever comes first — one commit for many articles instead of
two per article. The write lock is held while a batch is open, and the daemon runs several
sources' passes on one store, so a batch left open while no work comes (the pass waits for
slow servers) is committed by a timer within `COMMIT_SECONDS` all the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .errors import StoreError
from .fetch import FetchRecord
from .store import Store

log = logging.getLogger("tidings.store")
T = TypeVar("T")
COMMIT_LINKS = 64  # links finished (articles stored, pages skipped or failed) per commit
COMMIT_SECONDS = 1.0  # at most this long between a batch's first write and its commit


class StoreCalls:
    """Runs store calls on one thread in batched transactions; `close` commits the rest."""

    def __init__(self, store: Store, *, links: int = COMMIT_LINKS,
                 seconds: float = COMMIT_SECONDS) -> None:
        self.store = store
        self.seconds = seconds
        self.records: list[FetchRecord] = []  # the fetch log, written with the next call
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidings-store")
        self._timer: asyncio.TimerHandle | None = None
        self._late: set[asyncio.Task[None]] = set()
        self._error: StoreError | None = None  # a commit made by the timer that failed
        store.batch(links=links, seconds=seconds)

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` on the store thread, after handing the store the fetch log. A store
        that cannot be written (`StoreError`) ends the pass."""
        if self._error is not None:
            raise self._error
        records = self.records[:]
        self.records.clear()

        def call() -> T:
            try:
                if records:
                    self.store.record_fetches(r.as_row() for r in records)
                return fn(*args, **kwargs)
            finally:
                self.store.checkpoint()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        finally:
            self._watch()

    def _watch(self) -> None:
        """Commit an open batch when it comes of age, even if no call comes by then."""
        age = self.store.batch_age()
        if age is None or self._timer is not None:
            return
        self._timer = asyncio.get_running_loop().call_later(
            max(0.0, self.seconds - age) + 0.01, self._due)

    def _due(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._commit())
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def _commit(self) -> None:
        try:
            await self(self.store.checkpoint)
        except StoreError as exc:
            self._error = exc

    async def finish(self) -> None:
        """Commit the batch in hand (the end of a pass)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await asyncio.gather(*self._late)
        await self(self.store.end_batch)

    def close(self) -> None:
        """Stop the thread; what a batch still holds (a pass that failed) is committed
        when the store can still be written: each article in it is whole."""
        def last() -> None:
            try:
                self.store.end_batch()
            except StoreError as exc:
                log.error("the last batch could not be committed: %s", exc)
        try:
            self._executor.submit(last).result()
        finally:
            self._executor.shutdown(wait=True)
