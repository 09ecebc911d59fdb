"""The SQLite store: the only module that speaks SQL.

It applies decisions and never makes them: where an article goes (`stories.place`) and
whether its story is flagged (`stories.flag_now`) are decided before `save_article` is
called. Rows come back as typed records (`pipeline.models`).

WAL mode so datasette can read while a pass writes. Every article is written together
with its story, index rows, full-text row and its link's status, so a link is `done` only
once its article is. By default each such group is its own transaction; a pass instead
keeps a *batch* (`batch`): its writes join one open transaction, committed every
`links` finished links or `seconds` (`checkpoint`), each article inside it a savepoint of
its own. A crash then redoes at most the batch in hand: its links are still pending. The
frontier table `links` remembers every announced article link until it is processed, so
nothing is lost when a feed later answers 304.

Plain `sqlite3`: importing sqlite-utils costs 80–200 ms (it pulls numpy), and the store
needs only statements and transactions; its `Migrations` still record the schema
(`pipeline.migrations`), imported when one is due.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import fts, migrations
from .errors import StoreError
from .models import (
    Article,
    DigestRow,
    FollowedStory,
    Link,
    SourceState,
    StoryRow,
    parse_time,
    utcnow,
)

if TYPE_CHECKING:  # pipeline.stories imports numpy: only the commands that place need it
    from .follows import FollowHit
    from .stories import Candidate, Fingerprint, Placement

BUSY_TIMEOUT_MS = 30_000
MMAP_BYTES = 2_147_418_112  # SQLite's largest mmap by default: a 100k-article store (~1.7 GB)
# is read without a syscall per page; address space only, pages come and go with the OS cache
SETTLE_SECONDS = 30.0  # a new store opened by several processes at once: see `_settle`
FINGERPRINT_CACHE = 2000  # decoded candidate fingerprints kept per store (~10 KB each)
MAX_UNION_ARMS = 200  # per-key lookups in one statement (SQLite allows 500 compound terms)
KEY_LOOKUP = ("SELECT article_id FROM (SELECT article_id FROM article_keys WHERE key = ? AND "
              "seen_at BETWEEN ? AND ? ORDER BY seen_at DESC LIMIT ?)")


@dataclass(slots=True)
class SavedArticle:
    article: Article
    new_story: bool
    flagged_now: bool  # this article made its story flagged


class Handle:
    """The store's SQLite connection, as the two things callers use of it: `execute` and
    `conn` (sqlite-utils' `Database` offered the same)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] = ()
                ) -> sqlite3.Cursor:
        return self.conn.execute(sql, parameters)

    def close(self) -> None:
        self.conn.close()


def _settle(conn: sqlite3.Connection, step: str | Callable[[sqlite3.Connection], None]) -> None:
    """Run a step of opening that another process may be running at the same moment on
    a new store (the daemon's jobs open it side by side): switching to WAL answers
    "locked" without waiting, and a migration the other applied first fails here (a
    duplicate column, its record already written) and is rolled back. Such a step is
    tried again, the pending migrations read afresh, for up to `SETTLE_SECONDS`."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        try:
            if isinstance(step, str):
                conn.execute(step)
            else:
                step(conn)
            return
        except (sqlite3.OperationalError, sqlite3.IntegrityError):
            if conn.in_transaction:
                conn.rollback()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Store:
    """A tidings store on one SQLite file. Use from one thread."""

    def __init__(self, db: Handle, path: Path | None) -> None:
        self.db = db
        self.path = path
        self._batch: tuple[int, float] | None = None  # (links, seconds) while batching
        self._opened: float | None = None  # when the open batch began (monotonic)
        self._finished = 0  # links finished in the open batch
        self._fetch_log: list[dict[str, Any]] = []  # the open batch's, written as it commits
        # The open batch's full-text rows, written as it commits: FTS5 writes out what it
        # holds at every savepoint's end, ~10 statements an article.
        self._fts_rows: list[list[Any]] = []
        self._depth = 0  # savepoints open inside the batch's transaction
        self._fingerprints: OrderedDict[int, Fingerprint] = OrderedDict()

    # ---------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | Path) -> Store:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit mode: the store says BEGIN and COMMIT itself (`_write`)
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _settle(conn, "PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            # Story candidates walk a large index: read the file through mmap, so a deep
            # lookup costs no syscall per page; the page cache (what the WAL holds) is
            # kept to 16 MB: at 64 MB it held 40 MB more at the end of a 2,000-page pass.
            conn.execute("PRAGMA cache_size = -16384")
            conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
            # Each article is a savepoint of its batch: the pages it changes are copied to
            # a statement journal, which past 64 KB goes to a temporary file unless temporary
            # storage is memory (`save` 0.15 ms an article less in `bench.profile_pass`).
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute("PRAGMA foreign_keys = ON")
            _settle(conn, migrations.apply)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store {path}: {exc}") from exc
        return cls(Handle(conn), path)

    @classmethod
    def open_readonly(cls, path: str | Path) -> Store:
        """The store for commands that only read (`stories`, `sources`, `digest` without
        `--send`): nothing is written, not even SQLite's -wal/-shm files, so they work on
        a read-only mount. While a writer is active (a -wal file exists) the file is
        opened `mode=ro` to read what is committed in the WAL too; otherwise, or where
        that cannot open, as `immutable` (nothing changes it meanwhile). No migrations: a
        store that needs them is a `StoreError` saying to run `tidings run` once."""
        path = Path(path)
        modes = (["mode=ro"] if Path(f"{path}-wal").exists() else []) + ["immutable=1"]
        for mode in modes:
            try:
                conn = sqlite3.connect(f"{path.absolute().as_uri()}?{mode}", uri=True,
                                       check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA query_only = ON")
                pending = migrations.pending(conn)
                break
            except sqlite3.OperationalError as exc:
                problem: sqlite3.Error = exc  # e.g. mode=ro where -shm cannot be made
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"the store {path} is damaged or not a tidings store: "
                                 f"{exc}") from exc
        else:
            raise StoreError(f"cannot read the store {path}: {problem}") from problem
        if pending:
            conn.close()
            raise StoreError(f"the store {path} was made by an older tidings and needs "
                             f"{len(pending)} schema update(s): run `tidings run` once")
        return cls(Handle(conn), path)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        with self._write():
            yield

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One transaction, or a savepoint inside the one already open (a batch's); a store
        that cannot be written (full disk, read-only file or folder, damaged file) is a
        `StoreError` naming the file. `BEGIN IMMEDIATE` takes the write lock at once, so a
        transaction that reads before it writes never meets another writer's commit."""
        conn = self.db.conn
        try:
            if not conn.in_transaction and self._batch is not None:
                conn.execute("BEGIN IMMEDIATE")  # the batch's: left open for `checkpoint`
                self._opened, self._finished = time.monotonic(), 0
                self._fts_rows, self._depth = [], 0  # those of a batch lost are void
            outer = not conn.in_transaction
            conn.execute("BEGIN IMMEDIATE" if outer else "SAVEPOINT tidings")
            self._depth += 0 if outer else 1
            try:
                yield
            except BaseException:
                if conn.in_transaction:  # a failed statement may have ended it already
                    conn.execute("ROLLBACK" if outer else "ROLLBACK TO tidings")
                    if not outer:
                        conn.execute("RELEASE tidings")
                raise
            finally:
                self._depth -= 0 if outer else 1
            conn.execute("COMMIT" if outer else "RELEASE tidings")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot write the store {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"the store {self.path} is damaged: {exc}") from exc

    # ---------------------------------------------------------------- batches
    def batch(self, *, links: int, seconds: float) -> None:
        """From now on writes join one open transaction, committed by `checkpoint` once it
        holds `links` finished links or is `seconds` old (other writers wait meanwhile:
        keep `seconds` short), and by `end_batch`."""
        self._batch = (links, seconds)

    def batch_age(self) -> float | None:
        """Seconds since the open batch began; None when none is open."""
        return None if self._opened is None else time.monotonic() - self._opened

    def checkpoint(self, *, force: bool = False) -> None:
        """Commit the open batch if it is full or old enough (or `force`), its fetch log
        written first."""
        if self._batch is None or self._opened is None:
            return
        links, seconds = self._batch
        if force or self._finished >= links or time.monotonic() - self._opened >= seconds:
            self._opened = None
            try:
                if self.db.conn.in_transaction:
                    self._write_fetches(self._fetch_log)
                    self._write_fts()
                    self.db.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write the store {self.path}: {exc}") from exc
            finally:
                self._fetch_log = []
                if not self.db.conn.in_transaction:  # committed, or the batch is lost
                    self._fts_rows = []

    def end_batch(self) -> None:
        """Commit what the batch holds; writes commit one by one again."""
        try:
            self.checkpoint(force=True)
        finally:
            self._batch = None

    # ---------------------------------------------------------------- fetch log
    def record_fetches(self, rows: Iterable[dict[str, Any]]) -> None:
        """Log HTTP requests. While a batch is open they join it and are written as it
        commits, in one statement (a statement and a savepoint per store call cost 0.17 ms
        an article): what a crash loses of them is what it loses of the batch."""
        if self._batch is not None and self.db.conn.in_transaction:
            self._fetch_log.extend(rows)
            return
        rows = list(rows)
        if rows:
            with self._write():
                self._write_fetches(rows)

    def _write_fetches(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            columns = list(rows[0])  # every row is a `FetchRecord.as_row()`
            self.db.conn.executemany(
                f"INSERT INTO fetches ({', '.join(columns)}) VALUES "
                f"({', '.join('?' * len(columns))})",
                [[row.get(c) for c in columns] for row in rows])

    # ---------------------------------------------------------------- conditional GET
    def validators(self, url: str) -> tuple[str | None, str | None]:
        row = self.db.execute("SELECT etag, last_modified FROM http_cache WHERE url = ?",
                              [url]).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def save_validators(self, url: str, etag: str | None, last_modified: str | None,
                        body: str | None = None) -> None:
        with self._write():
            self.db.execute(
                "INSERT INTO http_cache (url, etag, last_modified, body, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET etag = excluded.etag, "
                "last_modified = excluded.last_modified, body = COALESCE(excluded.body, body), "
                "updated_at = excluded.updated_at",
                [url, etag, last_modified, body, utcnow()])

    def cached_body(self, url: str, max_age: timedelta) -> str | None:
        """A remembered body (robots.txt) if younger than `max_age`."""
        row = self.db.execute("SELECT body, updated_at FROM http_cache WHERE url = ?",
                              [url]).fetchone()
        if not row or row[0] is None:
            return None
        updated = parse_time(row[1])
        if updated is None or updated < datetime.now(UTC) - max_age:
            return None
        return str(row[0])

    # ---------------------------------------------------------------- frontier
    def add_links(self, links: list[Link], *, max_pending: int = 5000) -> tuple[int, int]:
        """Remember announced links; links already stored as articles are marked done.
        A source keeps at most `max_pending` links waiting. Returns (links new to the
        store, links dropped because the source had too many waiting)."""
        new = dropped = 0
        now = utcnow()
        room: dict[str, int] = {}
        with self._write():
            for link in links:
                if link.source not in room:
                    room[link.source] = max_pending - self.db.execute(
                        "SELECT COUNT(*) FROM links WHERE source = ? AND status = 'pending'",
                        [link.source]).fetchone()[0]
                if room[link.source] <= 0:
                    dropped += not self.db.execute("SELECT 1 FROM links WHERE url = ?",
                                                   [link.url]).fetchone()
                    continue
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO links (url, source, discovered_at, hint_title, "
                    "hint_published, status) VALUES (?, ?, ?, ?, ?, 'pending')",
                    [link.url, link.source, now, link.title, link.published])
                if cur.rowcount:
                    new += 1
                    room[link.source] -= 1
                    known = self.article_id_for_url(link.url)
                    if known is not None:
                        self.db.execute("UPDATE links SET status = 'done', article_id = ?, "
                                        "updated_at = ? WHERE url = ?", [known, now, link.url])
        return new, dropped

    def pending_links(self, source: str, *, limit: int, max_attempts: int = 5) -> list[Link]:
        rows = self.db.execute(
            "SELECT url, source, hint_title, hint_published, attempts FROM links "
            "WHERE source = ? AND status = 'pending' AND attempts < ? "
            "ORDER BY COALESCE(hint_published, discovered_at) DESC LIMIT ?",
            [source, max_attempts, limit]).fetchall()
        return [Link(url=r[0], source=r[1], title=r[2], published=r[3], attempts=r[4])
                for r in rows]

    def finish_link(self, url: str, status: str, *, error: str | None = None,
                    article_id: int | None = None, retire_after: int = 5) -> bool:
        """status: done | skipped | failed. A failed link stays pending for later passes
        until its `retire_after`-th attempt, when it is retired; True if it was."""
        with self._write():
            return self._finish_link(url, status, error, article_id, retire_after)

    def _finish_link(self, url: str, status: str, error: str | None,
                     article_id: int | None, retire_after: int = 5) -> bool:
        self.db.execute(
            "UPDATE links SET status = CASE WHEN ? != 'failed' THEN ? "
            "WHEN attempts + 1 >= ? THEN 'retired' ELSE 'pending' END, last_error = ?, "
            "article_id = COALESCE(?, article_id), attempts = attempts + 1, updated_at = ? "
            "WHERE url = ?",
            [status, status, retire_after, error, article_id, utcnow(), url])
        self._finished += 1
        row = self.db.execute("SELECT status FROM links WHERE url = ?", [url]).fetchone()
        return bool(row and row[0] == "retired")

    # ---------------------------------------------------------------- articles
    def article_id_for_url(self, url: str) -> int | None:
        row = self.db.execute("SELECT id FROM articles WHERE url = ? OR fetched_url = ? LIMIT 1",
                              [url, url]).fetchone()
        return int(row[0]) if row else None

    def candidates(self, keys: list[str], *, around: str, window_days: float,
                   per_key: int | Mapping[str, int] = 20) -> list[Candidate]:
        """Stored articles sharing an index key with a new one, within the time window.
        At most `per_key` (newest) per key — or per key prefix, from a mapping such as
        `stories.key_weights()` — so the cost does not grow with the store. One statement
        (the per-key lookups as a UNION ALL), in id order; a stored fingerprint is decoded
        once per store (`FINGERPRINT_CACHE` kept), since most candidates come back again
        and again."""
        caps = per_key if isinstance(per_key, Mapping) else {}
        default = per_key if isinstance(per_key, int) else 20
        if not keys:
            return []
        centre = parse_time(around) or datetime.now(UTC)
        low = (centre - timedelta(days=window_days)).isoformat()
        high = (centre + timedelta(days=window_days)).isoformat()
        unique = list(dict.fromkeys(keys))
        rows: dict[int, tuple[Any, ...]] = {}
        for i in range(0, len(unique), MAX_UNION_ARMS):
            chunk = unique[i:i + MAX_UNION_ARMS]
            arms = " UNION ALL ".join([KEY_LOOKUP] * len(chunk))
            params = [v for key in chunk
                      for v in (key, low, high, caps.get(key.split(":", 1)[0], default))]
            for r in self.db.execute(
                    "SELECT id, story_id, duplicate_of, COALESCE(published_at, fetched_at), "
                    f"lang FROM articles WHERE fingerprint IS NOT NULL AND id IN ({arms})",
                    params):
                rows[r[0]] = r
        fingerprints = self._decoded(sorted(rows))
        from .stories import Candidate
        return [Candidate(article_id=r[0], story_id=r[1], duplicate_of=r[2], seen_at=r[3],
                          lang=r[4] or "", fingerprint=fingerprints[r[0]])
                for _, r in sorted(rows.items()) if r[0] in fingerprints]

    def _decoded(self, ids: list[int]) -> dict[int, Fingerprint]:
        """The stored fingerprints of `ids`, decoded once and kept (least recently used
        dropped first); `refresh_fingerprint` forgets the one it replaces."""
        from .stories import Fingerprint
        cache = self._fingerprints
        out: dict[int, Fingerprint] = {}
        missing = []
        for article_id in ids:
            fp = cache.get(article_id)
            if fp is None:
                missing.append(article_id)
            else:
                cache.move_to_end(article_id)
                out[article_id] = fp
        for i in range(0, len(missing), 500):
            chunk = missing[i:i + 500]
            for article_id, raw in self.db.execute(
                    f"SELECT id, fingerprint FROM articles WHERE id IN "
                    f"({','.join('?' * len(chunk))})", chunk):
                if raw:
                    out[article_id] = cache[article_id] = Fingerprint.from_json(json.loads(raw))
        while len(cache) > FINGERPRINT_CACHE:
            cache.popitem(last=False)
        return out

    def save_article(self, article: Article, placement: Placement, fp: Fingerprint,
                     keys: list[str], *, flag: bool,
                     link_url: str | None = None) -> SavedArticle:
        """Insert the article, create or update its story (flagging it when `flag`), index
        it and mark its link done: one transaction."""
        with self._write():
            now = utcnow()
            seen = article.published_at or article.fetched_at
            new_story = False
            story_id = placement.story_id
            if placement.duplicate_of is None and story_id is None:
                story_id = int(self.db.execute(
                    "INSERT INTO stories (title_en, first_seen, last_seen, article_count, "
                    "languages, entities, flagged, created_at) VALUES (?, ?, ?, 0, '[]', '[]', "
                    "0, ?)", [article.english_title(), article.fetched_at, article.fetched_at,
                              now]).lastrowid or 0)
                new_story = True
            article = article.replace(story_id=story_id, duplicate_of=placement.duplicate_of,
                                      evidence=placement.evidence)
            row = self._article_row(article)
            row["fingerprint"] = json.dumps(fp.to_json(), ensure_ascii=False)
            article_id = int(self.db.execute(
                f"INSERT INTO articles ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values())).lastrowid or 0)
            article = article.replace(id=article_id)
            searchable = [article_id, fts.search_form(article.title),
                          fts.search_form(article.text), fts.search_form(article.title_en),
                          fts.search_form(article.text_en)]
            # In a batch, its savepoint directly in the batch's transaction: the row joins
            # the batch's, once this savepoint is released (below).
            deferred = self._batch is not None and self._depth == 1
            if not deferred:
                self._insert_fts([searchable])
            if article.duplicate_of is None:
                self._insert_keys(article_id, keys, seen)
            if story_id is not None and placement.merge:
                self._merge_stories(story_id, placement.merge)
            if story_id is not None:
                self._update_story(story_id, article, lead=new_story, flag=flag)
            if link_url:
                self._finish_link(link_url, "done", None, article_id)
        if deferred:
            self._fts_rows.append(searchable)
        return SavedArticle(article=article, new_story=new_story, flagged_now=flag)

    def _insert_fts(self, rows: list[list[Any]]) -> None:
        if rows:
            self.db.conn.executemany("INSERT INTO articles_fts (rowid, title, text, title_en, "
                                     "text_en) VALUES (?, ?, ?, ?, ?)", rows)

    def _write_fts(self) -> None:
        """The batch's full-text rows, in a savepoint of its transaction: when they cannot
        be written, none is, and they stay pending."""
        if self._fts_rows:
            with self._write():
                self._insert_fts(self._fts_rows)  # (none, if `_write` began a new batch)
            self._fts_rows = []

    def merge_stories(self, keep: int, others: list[int], *, article_id: int | None = None,
                      evidence: dict[str, Any] | None = None) -> None:
        """Fold the stories `others` into `keep`, in one transaction, with the evidence
        of the article that bridged them (`article_id`)."""
        with self._write():
            self._merge_stories(keep, others)
            if article_id is not None and evidence is not None:
                self.db.execute("UPDATE articles SET evidence = ? WHERE id = ?",
                                [json.dumps(evidence, ensure_ascii=False), article_id])

    def refresh_fingerprint(self, article_id: int, fp: Fingerprint, keys: list[str],
                            seen_at: str) -> None:
        """An article's new fingerprint and index keys (after its translation)."""
        self._fingerprints.pop(article_id, None)
        with self._write():
            self.db.execute("UPDATE articles SET fingerprint = ? WHERE id = ?",
                            [json.dumps(fp.to_json(), ensure_ascii=False), article_id])
            self.db.execute("DELETE FROM article_keys WHERE article_id = ?", [article_id])
            self._insert_keys(article_id, keys, seen_at)

    def _insert_keys(self, article_id: int, keys: list[str], seen_at: str) -> None:
        """An article's index keys, in one statement."""
        unique = list(dict.fromkeys(keys))
        if unique:
            self.db.execute(
                "INSERT OR IGNORE INTO article_keys (key, article_id, seen_at) VALUES "
                + ",".join(["(?, ?, ?)"] * len(unique)),
                [v for key in unique for v in (key, article_id, seen_at)])

    def _merge_stories(self, keep: int, others: list[int]) -> None:
        """Articles move to `keep`; the others' rows go. The merged story is flagged, and
        counts as sent (its digest), if either half was: no story is mailed twice."""
        others = [o for o in dict.fromkeys(others) if o != keep]
        if not others:
            return
        ids = [keep, *others]
        marks = ",".join("?" * len(ids))
        rows = {r[0]: r[1:] for r in self.db.execute(
            f"SELECT id, first_seen, last_seen, flagged, digest_id, lead_article_id "
            f"FROM stories WHERE id IN ({marks})", ids).fetchall()}
        if keep not in rows:
            raise StoreError(f"cannot merge into story {keep}: no such story")
        others = [o for o in others if o in rows]
        if not others:
            return
        marks = ",".join("?" * len(others))
        self.db.execute(f"UPDATE articles SET story_id = ? WHERE story_id IN ({marks})",
                        [keep, *others])
        halves = [rows[i] for i in (keep, *others)]
        # The members' languages and entities, gathered by SQLite, not decoded member by
        # member in Python (under cProfile, 1% of a pass's CPU on `make bench`'s web).
        count = self.db.execute("SELECT COUNT(*) FROM articles WHERE story_id = ?",
                                [keep]).fetchone()[0]
        langs = {r[0] for r in self.db.execute(
            "SELECT DISTINCT lang FROM articles WHERE story_id = ? AND lang != ''", [keep])}
        entities = {r[0] for r in self.db.execute(
            "SELECT DISTINCT e.value FROM articles a, json_each(a.entities) e "
            "WHERE a.story_id = ? AND json_valid(a.entities) AND e.type = 'text'", [keep])}
        digest = next((h[3] for h in halves if h[3] is not None), None)
        lead = next((h[4] for h in halves if h[4] is not None), None)
        self.db.execute(
            "UPDATE stories SET first_seen = ?, last_seen = ?, flagged = ?, digest_id = ?, "
            "lead_article_id = ?, article_count = ?, languages = ?, entities = ? WHERE id = ?",
            [min(h[0] for h in halves), max(h[1] for h in halves),
             max(h[2] for h in halves), digest, lead, count, json.dumps(sorted(langs)),
             json.dumps(sorted(entities), ensure_ascii=False), keep])
        # Follow-up links: to the merged halves they now point at the survivor; the survivor
        # continues what either half continued.
        self.db.execute(f"UPDATE stories SET follows = ? WHERE follows IN ({marks})",
                        [keep, *others])
        self.db.execute(
            f"UPDATE stories SET follows = (SELECT o.follows FROM stories o WHERE o.id IN "
            f"({marks}) AND o.follows IS NOT NULL AND o.follows != ? LIMIT 1) "
            "WHERE id = ? AND follows IS NULL", [*others, keep, keep])
        self.db.execute("UPDATE stories SET follows = NULL WHERE id = ? AND follows = ?",
                        [keep, keep])
        self.db.execute(f"DELETE FROM stories WHERE id IN ({marks})", others)

    def _update_story(self, story_id: int, article: Article, *, lead: bool, flag: bool) -> None:
        """Recount a story after `article` joined it; flag it when told to."""
        story = self.db.execute("SELECT entities, languages FROM stories WHERE id = ?",
                                [story_id]).fetchone()
        langs = sorted(set(json.loads(story[1])) | ({article.lang} if article.lang else set()))
        entities = sorted(set(json.loads(story[0])) | set(article.entities))
        count, published = self.db.execute(
            "SELECT COUNT(*), MIN(published_at) FROM articles WHERE story_id = ?",
            [story_id]).fetchone()
        self.db.execute(
            "UPDATE stories SET last_seen = MAX(last_seen, ?), article_count = ?, languages = ?, "
            "entities = ?, flagged = MAX(flagged, ?), "
            "lead_article_id = COALESCE(lead_article_id, ?), "
            "published_at = COALESCE(?, first_seen) WHERE id = ?",
            [article.fetched_at, count, json.dumps(langs), json.dumps(entities, ensure_ascii=False),
             1 if flag else 0, article.id if lead else None, published, story_id])

    @staticmethod
    def _article_row(a: Article) -> dict[str, Any]:
        return {
            "url": a.url, "source": a.source, "title": a.title, "text": a.text, "lang": a.lang,
            "lang_confidence": a.lang_confidence, "title_en": a.title_en, "text_en": a.text_en,
            "translation_status": a.translation_status,
            "translation_package": a.translation_package,
            "translation_error": a.translation_error, "published_at": a.published_at,
            "fetched_at": a.fetched_at, "fetched_url": a.fetched_url, "author": a.author,
            "content_hash": a.content_hash, "story_id": a.story_id,
            "duplicate_of": a.duplicate_of, "relevant": int(a.relevant),
            "entities": json.dumps(a.entities, ensure_ascii=False),
            "topic_terms": json.dumps(a.topic_terms, ensure_ascii=False),
            "evidence": json.dumps(a.evidence, ensure_ascii=False) if a.evidence else None,
        }

    def articles_to_translate(self, *, statuses: tuple[str, ...], ids: list[int] | None = None,
                              languages: tuple[str, ...] | None = None,
                              limit: int = 100_000) -> list[Article]:
        """Articles whose translation is in one of `statuses` (optionally only `ids`, only
        `languages`)."""
        marks = ",".join("?" * len(statuses))
        sql = f"SELECT * FROM articles WHERE translation_status IN ({marks})"
        params: list[Any] = list(statuses)
        if languages is not None:
            sql += f" AND lang IN ({','.join('?' * len(languages)) or 'NULL'})"
            params += list(languages)
        if ids is not None:
            if not ids:
                return []
            sql += f" AND id IN ({','.join('?' * len(ids))})"
            params += ids
        sql += " ORDER BY id LIMIT ?"
        cur = self.db.execute(sql, [*params, limit])
        cols = [d[0] for d in cur.description]
        return [_article_from_row(dict(zip(cols, r, strict=True))) for r in cur.fetchall()]

    def save_translation(self, article: Article) -> None:
        """Record a translation result; the story headline follows its lead article."""
        if article.id is None:
            raise StoreError("cannot save the translation of an unsaved article")
        self._write_fts()  # the row to update may wait in the batch
        with self._write():
            self.db.execute(
                "UPDATE articles SET title_en = ?, text_en = ?, translation_status = ?, "
                "translation_package = ?, translation_error = ? WHERE id = ?",
                [article.title_en, article.text_en, article.translation_status,
                 article.translation_package, article.translation_error, article.id])
            self.db.execute("UPDATE articles_fts SET title_en = ?, text_en = ? WHERE rowid = ?",
                            [fts.search_form(article.title_en), fts.search_form(article.text_en),
                             article.id])
            if article.title_en:
                self.db.execute("UPDATE stories SET title_en = ? WHERE lead_article_id = ?",
                                [article.title_en, article.id])

    # ---------------------------------------------------------------- translation cache
    def cached_translations(self, package: str, sentences: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        unique = list(dict.fromkeys(sentences))
        for i in range(0, len(unique), 500):
            chunk = unique[i:i + 500]
            rows = self.db.execute(
                f"SELECT source, target FROM translation_cache WHERE package = ? AND source IN "
                f"({','.join('?' * len(chunk))})", [package, *chunk]).fetchall()
            out.update({r[0]: r[1] for r in rows})
        return out

    def cache_translations(self, package: str, pairs: list[tuple[str, str]]) -> None:
        if not pairs:
            return
        with self._write():
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO translation_cache (package, source, target) "
                "VALUES (?, ?, ?)", [(package, s, t) for s, t in pairs])

    # ---------------------------------------------------------------- sources
    def source_state(self, name: str) -> SourceState | None:
        cur = self.db.execute(
            "SELECT name, last_run_at, last_success_at, last_error, last_error_at, "
            "consecutive_failures, next_due_at FROM source_state WHERE name = ?", [name])
        row = cur.fetchone()
        return SourceState(row[0], row[1], row[2], row[3], row[4], row[5] or 0, row[6]) \
            if row else None

    def record_source_result(self, name: str, *, ok: bool, error: str | None,
                             next_due_at: str | None, counted: bool = True) -> None:
        """A pass's outcome for a source. A failure not `counted` (the network was down)
        is remembered as its last error but changes neither its failures nor its due time."""
        now = utcnow()
        with self._write():
            self.db.execute("INSERT OR IGNORE INTO source_state (name) VALUES (?)", [name])
            if not ok and not counted:
                self.db.execute("UPDATE source_state SET last_run_at = ?, last_error = ?, "
                                "last_error_at = ? WHERE name = ?", [now, error, now, name])
            elif ok:
                self.db.execute(
                    "UPDATE source_state SET last_run_at = ?, last_success_at = ?, "
                    "consecutive_failures = 0, next_due_at = ? WHERE name = ?",
                    [now, now, next_due_at, name])
            else:
                self.db.execute(
                    "UPDATE source_state SET last_run_at = ?, last_error = ?, last_error_at = ?, "
                    "consecutive_failures = consecutive_failures + 1, next_due_at = ? "
                    "WHERE name = ?", [now, error, now, next_due_at, name])

    def source_health(self, names: list[str]) -> list[SourceState]:
        """Per configured source: its state (blank if it never ran) and its article count."""
        out = []
        for name in names:
            state = self.source_state(name) or SourceState(name)
            state.articles = self.db.execute(
                "SELECT COUNT(*) FROM articles WHERE source = ?", [name]).fetchone()[0]
            state.retired_links = self.db.execute(
                "SELECT COUNT(*) FROM links WHERE source = ? AND status = 'retired'",
                [name]).fetchone()[0]
            out.append(state)
        return out

    # ---------------------------------------------------------------- runs and views
    def start_run(self, command: str) -> int:
        with self._write():
            return int(self.db.execute("INSERT INTO runs (started_at, command) VALUES (?, ?)",
                                       [utcnow(), command]).lastrowid or 0)

    def finish_run(self, run_id: int, report: dict[str, Any]) -> None:
        with self._write():
            self.db.execute("UPDATE runs SET finished_at = ?, report = ? WHERE id = ?",
                            [utcnow(), json.dumps(report, ensure_ascii=False), run_id])

    def stories(self, *, flagged: bool = False, since: str | None = None,
                limit: int = 200) -> list[StoryRow]:
        """Stories, newest first (optionally only flagged ones, or seen since `since`)."""
        sql = f"SELECT {STORY_COLUMNS} FROM stories WHERE 1 = 1"
        params: list[Any] = []
        if flagged:
            sql += " AND flagged = 1"
        if since:
            sql += " AND last_seen >= ?"
            params.append(since)
        sql += " ORDER BY first_seen DESC, id DESC LIMIT ?"
        return [_story_row(r) for r in self.db.execute(sql, [*params, limit]).fetchall()]

    def story(self, story_id: int) -> StoryRow | None:
        row = self.db.execute(f"SELECT {STORY_COLUMNS} FROM stories WHERE id = ?",
                              [story_id]).fetchone()
        return _story_row(row) if row else None

    def follow_hits(self, keys: list[str], *, before: str, story_id: int,
                    per_key: int = 20) -> list[FollowHit]:
        """Earlier stories (than `before`, other than `story_id`) whose articles carry one
        of the follow `keys`, the newest `per_key` per key, with the keys they share."""
        from .follows import FollowHit
        hits: dict[int, FollowHit] = {}
        for key in dict.fromkeys(keys):
            for other, published in self.db.execute(
                    "SELECT a.story_id, COALESCE(s.published_at, s.first_seen) FROM article_keys k "
                    "JOIN articles a ON a.id = k.article_id JOIN stories s ON s.id = a.story_id "
                    "WHERE k.key = ? AND k.seen_at < ? AND a.story_id != ? "
                    "ORDER BY k.seen_at DESC LIMIT ?", [key, before, story_id, per_key]):
                hits.setdefault(other, FollowHit(other, published)).keys.add(key)
        return list(hits.values())

    def follow_keys_of(self, story_id: int) -> list[str]:
        """The follow keys the articles of a story carry."""
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT k.key FROM articles a JOIN article_keys k ON k.article_id = a.id "
            "WHERE a.story_id = ? AND k.key LIKE 'follow:%'", [story_id])]

    def later_stories(self, keys: list[str], *, after: str, story_id: int,
                      per_key: int = 20) -> list[int]:
        """Stories (other than `story_id`) whose articles carry one of `keys`, seen after
        `after`: they may continue the story just placed."""
        found: dict[int, None] = {}
        for key in dict.fromkeys(keys):
            for (other,) in self.db.execute(
                    "SELECT a.story_id FROM article_keys k JOIN articles a ON a.id = k.article_id "
                    "WHERE k.key = ? AND k.seen_at > ? AND a.story_id != ? "
                    "ORDER BY k.seen_at LIMIT ?",
                    [key, after, story_id, per_key]):
                found[other] = None
        return list(found)

    def set_follows(self, story_id: int, follows: int, evidence: dict[str, Any]) -> None:
        with self._write():
            self.db.execute("UPDATE stories SET follows = ?, follows_evidence = ? WHERE id = ?",
                            [follows, json.dumps(evidence, ensure_ascii=False), story_id])

    def story_reach(self, story_id: int) -> tuple[int, int, str]:
        """(distinct outlets, distinct languages, its lead article's original headline)."""
        row = self.db.execute(
            "SELECT COUNT(DISTINCT a.source), COUNT(DISTINCT a.lang), "
            "(SELECT l.title FROM articles l WHERE l.id = s.lead_article_id) "
            "FROM stories s JOIN articles a ON a.story_id = s.id WHERE s.id = ?",
            [story_id]).fetchone()
        return int(row[0] or 0), int(row[1] or 0), str(row[2] or "")

    def set_importance(self, story_id: int, value: float) -> None:
        with self._write():
            self.db.execute("UPDATE stories SET importance = ? WHERE id = ?", [value, story_id])

    def old_news(self, fresh_days: float) -> int:
        """Relevant stories left unflagged because they were published more than
        `fresh_days` before this store first saw them (`stories.fresh_days`)."""
        return int(self.db.execute(
            "SELECT COUNT(*) FROM stories s WHERE s.flagged = 0 AND s.published_at IS NOT "
            "NULL AND julianday(s.first_seen) - julianday(s.published_at) > ? AND EXISTS "
            "(SELECT 1 FROM articles a WHERE a.story_id = s.id AND a.relevant = 1)",
            [fresh_days]).fetchone()[0])

    def pending_translation_by_language(self) -> dict[str, int]:
        """How many articles wait for a translation package, per language."""
        rows = self.db.execute("SELECT lang, COUNT(*) FROM articles WHERE translation_status "
                               "= 'pending' GROUP BY lang ORDER BY lang").fetchall()
        return {str(lang): int(n) for lang, n in rows}

    def counts(self) -> dict[str, int]:
        one = self.db.execute
        return {
            "articles": one("SELECT COUNT(*) FROM articles").fetchone()[0],
            "duplicates": one("SELECT COUNT(*) FROM articles WHERE duplicate_of IS NOT NULL"
                              ).fetchone()[0],
            "stories": one("SELECT COUNT(*) FROM stories").fetchone()[0],
            "flagged": one("SELECT COUNT(*) FROM stories WHERE flagged = 1").fetchone()[0],
            "pending_translation": one("SELECT COUNT(*) FROM articles WHERE "
                                       "translation_status = 'pending'").fetchone()[0],
            "fetches": one("SELECT COUNT(*) FROM fetches").fetchone()[0],
        }

    # ---------------------------------------------------------------- digest
    def digest_stories(self, *, since: str, limit: int = 500) -> list[DigestRow]:
        """Flagged stories no sent digest carried yet, seen at or after `since` (ISO 8601,
        UTC; `last_seen`: first seen then, or joined by an article then), most important
        first, each with its lead article, all its articles (oldest first) and the story
        it follows."""
        stories = [_story_row(r) for r in self.db.execute(
            f"SELECT {STORY_COLUMNS} FROM stories WHERE flagged = 1 AND digest_id IS NULL "
            "AND last_seen >= ? ORDER BY importance IS NULL, importance DESC, first_seen DESC, "
            "id DESC LIMIT ?", [since, limit]).fetchall()]
        if not stories:
            return []
        marks = ",".join("?" * len(stories))
        cur = self.db.execute(
            f"SELECT * FROM articles WHERE story_id IN ({marks}) "
            "ORDER BY COALESCE(published_at, fetched_at), id", [s.id for s in stories])
        cols = [d[0] for d in cur.description]
        by_story: dict[int, list[Article]] = {}
        for r in cur.fetchall():
            article = _article_from_row(dict(zip(cols, r, strict=True)))
            by_story.setdefault(article.story_id or 0, []).append(article)
        out = []
        for story in stories:
            articles = by_story.get(story.id, [])
            lead = next((a for a in articles if a.id == story.lead_article_id),
                        articles[0] if articles else None)
            out.append(DigestRow(story, lead, articles,
                                 self._followed(story.follows) if story.follows else None))
        return out

    def _followed(self, story_id: int) -> FollowedStory | None:
        row = self.db.execute(
            "SELECT s.id, s.title_en, COALESCE(s.published_at, s.first_seen), a.url "
            "FROM stories s LEFT JOIN articles a ON a.id = s.lead_article_id WHERE s.id = ?",
            [story_id]).fetchone()
        return FollowedStory(row[0], row[1] or "", row[2], row[3]) if row else None

    def record_digest(self, story_ids: list[int], *, created_at: str, sent_at: str,
                      recipients: list[str], message_id: str) -> int:
        """Record a digest the SMTP server accepted and mark its stories as sent, in one
        transaction. A story already carried by another digest keeps that one."""
        with self._write():
            digest_id = int(self.db.execute(
                "INSERT INTO digests (created_at, sent_at, recipients, story_count, message_id) "
                "VALUES (?, ?, ?, ?, ?)",
                [created_at, sent_at, json.dumps(recipients, ensure_ascii=False),
                 len(story_ids), message_id]).lastrowid or 0)
            for i in range(0, len(story_ids), 500):
                chunk = story_ids[i:i + 500]
                self.db.execute(
                    f"UPDATE stories SET digest_id = ? WHERE digest_id IS NULL AND id IN "
                    f"({','.join('?' * len(chunk))})", [digest_id, *chunk])
        return digest_id

    def last_digest_at(self) -> str | None:
        """When the last digest that was sent was made (ISO 8601), or None."""
        value = self.db.execute("SELECT created_at FROM digests WHERE sent_at IS NOT NULL "
                                "ORDER BY created_at DESC, id DESC LIMIT 1").fetchone()
        return str(value[0]) if value else None


STORY_COLUMNS = ("id, title_en, first_seen, last_seen, article_count, languages, entities, "
                 "flagged, digest_id, published_at, importance, follows, lead_article_id")


def _story_row(r: Any) -> StoryRow:
    return StoryRow(id=r[0], title_en=r[1] or "", first_seen=r[2], last_seen=r[3],
                    article_count=r[4], languages=json.loads(r[5] or "[]"),
                    entities=json.loads(r[6] or "[]"), flagged=bool(r[7]), digest_id=r[8],
                    published_at=r[9], importance=r[10], follows=r[11], lead_article_id=r[12])


def _article_from_row(row: dict[str, Any]) -> Article:
    return Article(
        id=row["id"], url=row["url"], source=row["source"], title=row["title"] or "",
        text=row["text"] or "", lang=row["lang"] or "",
        lang_confidence=row["lang_confidence"] or 0.0, title_en=row["title_en"],
        text_en=row["text_en"], translation_status=row["translation_status"],
        translation_package=row["translation_package"],
        translation_error=row["translation_error"], published_at=row["published_at"],
        fetched_at=row["fetched_at"], fetched_url=row["fetched_url"] or "",
        author=row["author"], content_hash=row["content_hash"], story_id=row["story_id"],
        duplicate_of=row["duplicate_of"], relevant=bool(row["relevant"]),
        entities=json.loads(row["entities"] or "[]"),
        topic_terms=json.loads(row["topic_terms"] or "[]"),
        evidence=json.loads(row["evidence"]) if row["evidence"] else {},
    )
