"""Worker processes: items in chunks, several passes (event loops) on one pool, and no
process at all for a pass too small to pay for one."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from pipeline.config import load_config
from pipeline.demo.server import SiteServer
from pipeline.runner import POOL_AFTER_PAGES, run_pass
from pipeline.store import Store
from pipeline.workers import WorkerPool

from .conftest import write_config


def _square_or_fail(_unused: int) -> object:
    return _work


def _work(n: int) -> int:
    if n == 13:
        raise ValueError("thirteen")
    return n * n


def test_two_event_loops_share_a_pool_and_each_item_gets_its_own_answer() -> None:
    """The daemon's passes run in threads of their own, each with its event loop, on one
    pool; items go in chunks, and one item's error reaches only its caller."""
    pool: WorkerPool[int, int] = WorkerPool(_square_or_fail, (0,), workers=1, chunk=4)
    results: dict[str, list[object]] = {}

    def one_pass(name: str, numbers: range) -> None:
        async def all_of_them() -> list[object]:
            return await asyncio.gather(*(pool.run(n) for n in numbers),
                                        return_exceptions=True)
        results[name] = asyncio.run(all_of_them())

    try:
        threads = [threading.Thread(target=one_pass, args=("a", range(30))),
                   threading.Thread(target=one_pass, args=("b", range(100, 130)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        pool.close()
    assert results["b"] == [n * n for n in range(100, 130)]
    assert [r for i, r in enumerate(results["a"]) if i != 13] == \
        [n * n for n in range(30) if n != 13]
    assert isinstance(results["a"][13], ValueError) and "thirteen" in str(results["a"][13])


def test_the_pool_outlives_the_pass_that_started_its_workers() -> None:
    """The daemon's first pass starts the shared pool's workers from its own thread; the
    next pass, in another thread after that one ended, still gets answers (workers tied
    to the starting thread, as with PR_SET_PDEATHSIG, were killed with it)."""
    pool: WorkerPool[int, int] = WorkerPool(_square_or_fail, (0,), workers=1)

    def one_pass(numbers: range) -> list[object]:
        async def all_of_them() -> list[object]:
            return await asyncio.gather(*(pool.run(n) for n in numbers),
                                        return_exceptions=True)
        return asyncio.run(all_of_them())

    answers: list[list[object]] = []
    try:
        for numbers in (range(3), range(20, 23)):
            thread = threading.Thread(target=lambda n=numbers: answers.append(one_pass(n)))
            thread.start()
            thread.join(timeout=120)
            time.sleep(0.5)  # time for a worker tied to that thread to die
    finally:
        pool.close()
    assert answers == [[0, 1, 4], [400, 441, 484]]


def test_a_pass_too_small_for_a_pool_starts_none(tmp_path: Path, seed_site: SiteServer
                                                 ) -> None:
    """What the daemon gives a pass is where to get its pool: a pass of a few pages (here
    five, fewer than POOL_AFTER_PAGES) never asks for it, so no process starts."""
    asked: list[int] = []

    def start_pool() -> WorkerPool[object, object]:
        asked.append(1)
        raise AssertionError("a small pass asked for worker processes")

    assert POOL_AFTER_PAGES > 5
    config = load_config(write_config(tmp_path, [{"name": "seeds", "kind": "feed",
                                                  "url": seed_site.url("/feed.xml")}]))
    store = Store.open(config.store.path)
    try:
        report = run_pass(config, store, pool=start_pool, translate=False)
    finally:
        store.close()
    assert report.new_articles == 5 and not report.errors and not asked
