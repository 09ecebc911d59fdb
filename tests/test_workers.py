"""Worker processes: items in chunks, stage by stage, several passes (event loops) on one
pool, no process at all for a pass too small to pay for one, and a pass through a worker
storing what a pass without one stores."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from pipeline import runner
from pipeline.config import load_config
from pipeline.demo import DemoWeb
from pipeline.demo.server import SiteServer
from pipeline.runner import POOL_AFTER_PAGES, preparer_pool, run_pass
from pipeline.store import Store
from pipeline.workers import WorkerPool

from .conftest import write_config


def _square_or_fail(_unused: int) -> object:
    return _work


def _work(n: int) -> int:
    if n == 13:
        raise ValueError("thirteen")
    return n * n


class _TwoStages:
    """Squares in a second stage, and tells which items' first stage had run by then."""

    def __init__(self) -> None:
        self.firsts: list[int] = []

    def first(self, n: int) -> int:
        if n == 7:
            raise ValueError("seven")
        self.firsts.append(n)
        return n

    def second(self, n: int) -> tuple[int, list[int]]:
        if n == 13:
            raise ValueError("thirteen")
        return n * n, list(self.firsts)


def test_a_chunk_goes_through_each_stage_before_the_next() -> None:
    """Stages run stage by stage over a chunk (so a stage's code stays in the CPU's
    caches); an item that fails in one stage gets its own error and skips the rest, and
    every other item still gets its answer."""
    pool: WorkerPool[int, tuple[int, list[int]]] = WorkerPool(
        _TwoStages, (), workers=1, chunk=4, stages=("first", "second"))

    async def all_of_them() -> list[object]:
        return await asyncio.gather(*(pool.run(n) for n in range(30)), return_exceptions=True)

    try:
        results = asyncio.run(all_of_them())
    finally:
        pool.close()
    for n, got in enumerate(results):
        if n in (7, 13):
            assert isinstance(got, ValueError)
            assert str(got) == ("seven" if n == 7 else "thirteen")
        else:
            assert isinstance(got, tuple) and got[0] == n * n
    ahead = [n for n, got in enumerate(results) if isinstance(got, tuple)
             and any(later > n for later in got[1])]
    assert ahead, "no item's second stage ran after a later item's first: not by chunk"


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


def _articles(db: Path) -> dict[str, dict[str, Any]]:
    """What a pass decided of each article, by URL (less the clock of its fetch)."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in conn.execute("SELECT * FROM articles")]
    finally:
        conn.close()
    out = {}
    for row in rows:
        fingerprint = json.loads(row.pop("fingerprint"))
        fingerprint.pop("seen_at", None)  # the fetch's time when a page has no date
        for key in ("id", "fetched_at", "story_id", "duplicate_of", "evidence"):
            row.pop(key)
        out[row["url"]] = {**row, "fingerprint": fingerprint}
    return out


def test_a_pass_through_worker_processes_stores_what_one_without_them_stores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo web twice, once with its pages' stages on the store thread (a pass this
    small starts no worker) and once in a worker process, stage by stage over chunks:
    the same articles, languages, relevance and fingerprints, page for page, and the same
    counts (pages without article text included)."""
    reports, stored = [], []
    with DemoWeb(today=date(2026, 3, 14)) as web:
        for run, pooled in enumerate((False, True)):
            config_path = tmp_path / f"tidings-{run}.toml"
            config_path.write_text(web.config_toml(str(tmp_path / f"tidings-{run}.db")),
                                   "utf-8")
            config = load_config(config_path, env={})
            pool = preparer_pool(config) if pooled else None
            if pooled:
                monkeypatch.setattr(runner, "POOL_AFTER_PAGES", 0)
            store = Store.open(config.store.path)
            try:
                reports.append(run_pass(config, store, translate=False,
                                        pool=pool))
            finally:
                store.close()
                if pool is not None:
                    pool.close()
            stored.append(_articles(tmp_path / f"tidings-{run}.db"))
    by_hand, by_workers = reports
    assert by_hand.new_articles >= 20 and by_hand.pages_skipped > 0, by_hand.as_dict()
    for count in ("new_articles", "duplicates", "pages_skipped", "flagged"):
        assert getattr(by_workers, count) == getattr(by_hand, count), count
    assert stored[1] == stored[0]
