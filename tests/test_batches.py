"""Batched transactions: many articles per commit, and still nothing lost.

A link is `done` only in the transaction that stores its article, so a crash takes back
at most the open batch (its links stay pending for the next pass); an article that fails
inside a batch takes back only itself; a batch left open while the pass waits is
committed all the same, so another writer (a daemon's other pass) is not held."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from pipeline.dedup import content_hash
from pipeline.errors import StoreError
from pipeline.models import Article, Link
from pipeline.store import Store
from pipeline.storethread import StoreCalls
from pipeline.stories import Fingerprint, Placement


def _url(n: int) -> str:
    return f"https://news.example.invalid/{n}.html"


def _save(store: Store, n: int, placement: Placement | None = None) -> None:
    text = f"Article number {n} says something of its own."
    article = Article(url=_url(n), source="s", title=f"Title {n}", text=text, lang="en",
                      fetched_at="2025-05-20T08:00:00+00:00", content_hash=content_hash(text))
    store.save_article(article, placement or Placement(), Fingerprint(content_hash(text)),
                       [f"hash:{n}"], flag=False, link_url=_url(n))


def _state(db: Path) -> tuple[list[str], list[str], int]:
    with sqlite3.connect(db) as conn:
        stored = [r[0] for r in conn.execute("SELECT url FROM articles ORDER BY id")]
        pending = [r[0] for r in conn.execute(
            "SELECT url FROM links WHERE status = 'pending' ORDER BY url")]
        stories = conn.execute("SELECT COUNT(*) FROM stories").fetchone()[0]
    return stored, pending, stories


def test_a_crash_takes_back_at_most_the_open_batch_and_its_links_stay_pending(
        tmp_path: Path) -> None:
    db = tmp_path / "tidings.db"
    store = Store.open(db)
    store.add_links([Link(url=_url(n), source="s") for n in range(5)])
    store.batch(links=3, seconds=3600)
    for n in range(5):
        _save(store, n)
        store.checkpoint()  # the third link fills the batch: committed
    committed = ([_url(0), _url(1), _url(2)], [_url(3), _url(4)], 3)
    assert _state(db) == committed  # what another connection sees meanwhile
    store.db.conn.close()  # the process dies: what was not committed is gone
    assert _state(db) == committed  # 3 and 4 are still pending: the next pass redoes them


def _fetch_row(n: int) -> dict[str, object]:
    return {"url": _url(n), "source": "s", "kind": "article", "status": 200, "error": None,
            "fetched_at": "2025-05-20T08:00:00+00:00", "elapsed_ms": 5, "bytes": 100,
            "conditional": 0, "redirect_to": None}


def test_the_fetch_log_commits_with_its_batch_and_a_crash_takes_back_only_the_open_one(
        tmp_path: Path) -> None:
    """Requests logged while a batch is open are written as it commits: every one of a
    committed batch is in the log, in order, even when an article of the batch failed;
    those of the batch a crash cut short are not, like its articles."""
    db = tmp_path / "tidings.db"
    store = Store.open(db)
    store.add_links([Link(url=_url(n), source="s") for n in range(5)])
    store.batch(links=3, seconds=3600)
    for n in range(5):
        store.record_fetches([_fetch_row(n)])
        if n == 1:
            with pytest.raises(TypeError):
                _save(store, n, Placement(evidence={"not JSON": object()}))
        else:
            _save(store, n)
        store.checkpoint()  # after the fourth finished link (0, 2, 3 stored; 1 failed)

    def logged() -> list[str]:
        with sqlite3.connect(db) as conn:
            return [r[0] for r in conn.execute("SELECT url FROM fetches ORDER BY id")]
    assert logged() == [_url(n) for n in range(4)]
    store.db.conn.close()  # the process dies with request 4 in its open batch
    assert logged() == [_url(n) for n in range(4)]
    assert _state(db)[0] == [_url(0), _url(2), _url(3)]


def test_an_article_that_fails_inside_a_batch_takes_back_only_itself(tmp_path: Path) -> None:
    db = tmp_path / "tidings.db"
    store = Store.open(db)
    store.add_links([Link(url=_url(n), source="s") for n in range(3)])
    store.batch(links=100, seconds=3600)
    _save(store, 0)
    with pytest.raises(TypeError):  # its story row is written before the article fails
        _save(store, 1, Placement(evidence={"not JSON": object()}))
    _save(store, 2)
    store.end_batch()
    assert _state(db) == ([_url(0), _url(2)], [_url(1)], 2)
    store.close()


def test_full_text_rows_commit_with_their_articles_and_only_theirs(tmp_path: Path) -> None:
    """An article stored in a batch is found by a search once the batch commits, with it;
    one that failed inside the batch, or was in the batch a crash cut short, is not; a
    translation saved while its article's row waits in the batch reaches that row."""
    db = tmp_path / "tidings.db"
    store = Store.open(db)
    store.add_links([Link(url=_url(n), source="s") for n in range(5)])
    store.batch(links=3, seconds=3600)
    _save(store, 0)
    with pytest.raises(TypeError):
        _save(store, 1, Placement(evidence={"not JSON": object()}))
    _save(store, 2)
    first = store.db.execute("SELECT id FROM articles WHERE url = ?", [_url(0)]).fetchone()[0]
    store.save_translation(Article(id=first, url=_url(0), source="s", title="Title 0",
                                   text="", title_en="Headline zero translated",
                                   text_en="quattordici", translation_status="done"))
    _save(store, 3)
    store.checkpoint()  # three links finished (0, 2, 3; 1 failed): committed

    def found(word: str) -> list[str]:
        with sqlite3.connect(db) as conn:
            return [r[0] for r in conn.execute(
                "SELECT a.url FROM articles_fts f JOIN articles a ON a.id = f.rowid "
                "WHERE articles_fts MATCH ? ORDER BY a.id", [word])]
    assert found("number") == [_url(0), _url(2), _url(3)]
    assert found("quattordici") == [_url(0)]
    _save(store, 4)
    store.db.conn.close()  # the process dies with article 4 in its open batch
    assert found("number") == [_url(0), _url(2), _url(3)]
    with sqlite3.connect(db) as conn:  # every full-text row has its article, and back
        assert conn.execute("SELECT COUNT(*) FROM articles_fts").fetchone()[0] == \
            conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0] == 3


def test_a_batch_left_open_while_the_pass_waits_is_committed(tmp_path: Path) -> None:
    """Another writer (a daemon's other pass, `tidings digest --send`) gets the store
    while this pass waits for slow servers, without waiting for its next article."""
    db = tmp_path / "tidings.db"
    store = Store.open(db)

    def other_writer() -> None:
        conn = sqlite3.connect(db, timeout=20)  # far longer than the batch may stay open
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO runs (started_at, command) VALUES ('now', 'other')")
            conn.commit()
        finally:
            conn.close()

    async def a_pass() -> None:
        calls = StoreCalls(store, links=1000, seconds=0.2)
        await calls(store.add_links, [Link(url=_url(1), source="s")])
        assert store.batch_age() is not None  # the batch is open, and no call comes
        await asyncio.wait_for(asyncio.to_thread(other_writer), timeout=30)
        assert store.batch_age() is None
        await calls.finish()
        calls.close()

    try:
        asyncio.run(a_pass())
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT COUNT(*) FROM links").fetchone()[0] == 1
            assert conn.execute("SELECT command FROM runs").fetchall() == [("other",)]
    finally:
        store.close()


def test_a_store_that_cannot_take_the_batch_ends_the_pass(tmp_path: Path) -> None:
    """The write lock held elsewhere past the busy timeout is a `StoreError`, as before."""
    db = tmp_path / "tidings.db"
    Store.open(db).close()
    holder = sqlite3.connect(db)
    holder.execute("BEGIN IMMEDIATE")
    store = Store.open(db)
    store.db.execute("PRAGMA busy_timeout = 50")
    store.batch(links=10, seconds=1)
    try:
        with pytest.raises(StoreError, match="cannot write the store"):
            store.add_links([Link(url=_url(1), source="s")])
    finally:
        holder.rollback()
        holder.close()
        store.close()


def test_a_new_store_opened_by_several_writers_at_once_opens_for_each(tmp_path: Path) -> None:
    """The daemon's jobs start side by side on a store that does not exist yet: each
    opens it (one applies the schema, the others wait for it), none fails with "locked",
    a duplicate column or a duplicate migration record."""
    import threading

    from pipeline import migrations

    errors: list[BaseException] = []
    for round_ in range(10):
        path = tmp_path / f"r{round_}" / "tidings.db"

        def open_it(path: Path = path) -> None:
            try:
                Store.open(path).close()
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)
        threads = [threading.Thread(target=open_it) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        with sqlite3.connect(path) as conn:
            assert migrations.pending(conn) == []
    assert errors == []
