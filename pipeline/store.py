"""The SQLite store: the only module that speaks SQL.

WAL mode so datasette can read while a pass writes; every article is committed in its own
transaction together with its story and index rows, so a crash loses at most the article
in hand. The frontier table `links` remembers every announced article link until it is
processed, so nothing is lost when a feed later answers 304.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from . import fts, migrations
from .errors import StoreError
from .models import Article, utcnow
from .stories import Candidate, Fingerprint, Placement

BUSY_TIMEOUT_MS = 30_000


@dataclass(slots=True)
class Link:
    """An article link a source announced (feed item, sitemap entry, listing link)."""

    url: str
    source: str
    title: str | None = None
    published: str | None = None
    attempts: int = 0


@dataclass(slots=True)
class SavedArticle:
    article: Article
    new_story: bool
    flagged_now: bool  # this article made its story flagged


class Store:
    """A tidings store on one SQLite file. Use from one thread."""

    def __init__(self, db: Database, path: Path | None) -> None:
        self.db = db
        self.path = path

    # ---------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | Path) -> Store:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = Database(sqlite3.connect(str(path), check_same_thread=False))
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            with db.ensure_autocommit_on():
                db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            # Story candidates walk a large index: keep hot pages in memory and read
            # the file through mmap, so a deep lookup costs no syscall per page.
            db.execute("PRAGMA cache_size = -65536")
            db.execute("PRAGMA mmap_size = 268435456")
            db.execute("PRAGMA foreign_keys = ON")
            migrations.apply(db)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store {path}: {exc}") from exc
        return cls(db, path)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        with self.db.atomic():
            yield

    # ---------------------------------------------------------------- fetch log
    def record_fetches(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        if rows:
            with self.db.atomic():
                self.db.table("fetches").insert_all(rows)

    # ---------------------------------------------------------------- conditional GET
    def validators(self, url: str) -> tuple[str | None, str | None]:
        row = self.db.execute("SELECT etag, last_modified FROM http_cache WHERE url = ?",
                              [url]).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def save_validators(self, url: str, etag: str | None, last_modified: str | None,
                        body: str | None = None) -> None:
        with self.db.atomic():
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
        if datetime.fromisoformat(row[1]) < datetime.now(UTC) - max_age:
            return None
        return str(row[0])

    # ---------------------------------------------------------------- frontier
    def add_links(self, links: list[Link]) -> int:
        """Remember announced links; links already stored as articles are marked done.
        Returns how many links were new to the store."""
        new = 0
        now = utcnow()
        with self.db.atomic():
            for link in links:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO links (url, source, discovered_at, hint_title, "
                    "hint_published, status) VALUES (?, ?, ?, ?, ?, 'pending')",
                    [link.url, link.source, now, link.title, link.published])
                if cur.rowcount:
                    new += 1
                    known = self.article_id_for_url(link.url)
                    if known is not None:
                        self.db.execute("UPDATE links SET status = 'done', article_id = ?, "
                                        "updated_at = ? WHERE url = ?", [known, now, link.url])
        return new

    def pending_links(self, source: str, *, limit: int, max_attempts: int = 5) -> list[Link]:
        rows = self.db.execute(
            "SELECT url, source, hint_title, hint_published, attempts FROM links "
            "WHERE source = ? AND status = 'pending' AND attempts < ? "
            "ORDER BY COALESCE(hint_published, discovered_at) DESC LIMIT ?",
            [source, max_attempts, limit]).fetchall()
        return [Link(url=r[0], source=r[1], title=r[2], published=r[3], attempts=r[4])
                for r in rows]

    def finish_link(self, url: str, status: str, *, error: str | None = None,
                    article_id: int | None = None) -> None:
        """status: done | skipped | failed (failed links are retried on later passes)."""
        with self.db.atomic():
            self._finish_link(url, status, error, article_id)

    def _finish_link(self, url: str, status: str, error: str | None,
                     article_id: int | None) -> None:
        db_status = "pending" if status == "failed" else status
        self.db.execute(
            "UPDATE links SET status = ?, last_error = ?, article_id = COALESCE(?, article_id), "
            "attempts = attempts + 1, updated_at = ? WHERE url = ?",
            [db_status, error, article_id, utcnow(), url])

    # ---------------------------------------------------------------- articles
    def article_id_for_url(self, url: str) -> int | None:
        row = self.db.execute("SELECT id FROM articles WHERE url = ? OR fetched_url = ? LIMIT 1",
                              [url, url]).fetchone()
        return int(row[0]) if row else None

    def candidates(self, keys: list[str], *, around: str, window_days: float,
                   per_key: int | Mapping[str, int] = 20) -> list[Candidate]:
        """Stored articles sharing an index key with a new one, within the time window.
        At most `per_key` (newest) per key — or per key prefix, from a mapping such as
        `stories.key_weights()` — so the cost does not grow with the store."""
        caps = per_key if isinstance(per_key, Mapping) else {}
        default = per_key if isinstance(per_key, int) else 20
        if not keys:
            return []
        centre = _parse_time(around)
        low = (centre - timedelta(days=window_days)).isoformat()
        high = (centre + timedelta(days=window_days)).isoformat()
        ids: dict[int, None] = {}
        for key in dict.fromkeys(keys):
            for (article_id,) in self.db.execute(
                    "SELECT article_id FROM article_keys WHERE key = ? AND seen_at BETWEEN ? AND ? "
                    "ORDER BY seen_at DESC LIMIT ?",
                    [key, low, high, caps.get(key.split(":", 1)[0], default)]):
                ids[article_id] = None
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT id, story_id, duplicate_of, COALESCE(published_at, fetched_at), lang, "
            f"fingerprint FROM articles WHERE id IN ({marks})", list(ids)).fetchall()
        return [Candidate(article_id=r[0], story_id=r[1], duplicate_of=r[2], seen_at=r[3],
                          lang=r[4] or "", fingerprint=Fingerprint.from_json(json.loads(r[5])))
                for r in rows if r[5]]

    def save_article(self, article: Article, placement: Placement, fp: Fingerprint,
                     keys: list[str], *, link_url: str | None = None) -> SavedArticle:
        """Insert the article, create or update its story, index it: one transaction."""
        with self.db.atomic():
            now = utcnow()
            seen = article.published_at or article.fetched_at
            new_story = False
            flagged_now = False
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
            self.db.execute("INSERT INTO articles_fts (rowid, title, text, title_en, text_en) "
                            "VALUES (?, ?, ?, ?, ?)",
                            [article_id, fts.search_form(article.title),
                             fts.search_form(article.text), fts.search_form(article.title_en),
                             fts.search_form(article.text_en)])
            if article.duplicate_of is None:
                self.db.execute(
                    "INSERT OR IGNORE INTO article_keys (key, article_id, seen_at) VALUES "
                    + ",".join(["(?, ?, ?)"] * len(keys)),
                    [v for key in keys for v in (key, article_id, seen)]) if keys else None
            if story_id is not None and placement.merge:
                self._merge_stories(story_id, placement.merge)
            if story_id is not None:
                flagged_now = self._update_story(story_id, article, lead=new_story)
            if link_url:
                self._finish_link(link_url, "done", None, article_id)
        return SavedArticle(article=article, new_story=new_story, flagged_now=flagged_now)

    def merge_stories(self, keep: int, others: list[int]) -> None:
        """Fold the stories `others` into `keep`, in one transaction (the reasons are in
        the evidence of the article that bridged them)."""
        with self.db.atomic():
            self._merge_stories(keep, others)

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
        langs: set[str] = set()
        entities: set[str] = set()
        for lang, ents in self.db.execute(
                "SELECT lang, entities FROM articles WHERE story_id = ?", [keep]).fetchall():
            langs.update([lang] if lang else [])
            entities.update(json.loads(ents or "[]"))
        count = self.db.execute("SELECT COUNT(*) FROM articles WHERE story_id = ?",
                                [keep]).fetchone()[0]
        digest = next((h[3] for h in halves if h[3] is not None), None)
        lead = next((h[4] for h in halves if h[4] is not None), None)
        self.db.execute(
            "UPDATE stories SET first_seen = ?, last_seen = ?, flagged = ?, digest_id = ?, "
            "lead_article_id = ?, article_count = ?, languages = ?, entities = ? WHERE id = ?",
            [min(h[0] for h in halves), max(h[1] for h in halves),
             max(h[2] for h in halves), digest, lead, count, json.dumps(sorted(langs)),
             json.dumps(sorted(entities), ensure_ascii=False), keep])
        self.db.execute(f"DELETE FROM stories WHERE id IN ({marks})", others)

    def _update_story(self, story_id: int, article: Article, *, lead: bool) -> bool:
        """Recount a story after an article joined it. A story is flagged when it becomes
        relevant while new to this store; later coverage never flags it again."""
        story = self.db.execute("SELECT flagged, entities, languages FROM stories WHERE id = ?",
                                [story_id]).fetchone()
        langs = sorted(set(json.loads(story[2])) | ({article.lang} if article.lang else set()))
        entities = sorted(set(json.loads(story[1])) | set(article.entities))
        count = self.db.execute("SELECT COUNT(*) FROM articles WHERE story_id = ?",
                                [story_id]).fetchone()[0]
        flag_now = bool(article.relevant and not story[0] and article.duplicate_of is None)
        self.db.execute(
            "UPDATE stories SET last_seen = MAX(last_seen, ?), article_count = ?, languages = ?, "
            "entities = ?, flagged = MAX(flagged, ?), "
            "lead_article_id = COALESCE(lead_article_id, ?) WHERE id = ?",
            [article.fetched_at, count, json.dumps(langs), json.dumps(entities, ensure_ascii=False),
             1 if flag_now else 0, article.id if lead else None, story_id])
        return flag_now

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
        with self.db.atomic():
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
        with self.db.atomic():
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO translation_cache (package, source, target) "
                "VALUES (?, ?, ?)", [(package, s, t) for s, t in pairs])

    # ---------------------------------------------------------------- sources
    def source_state(self, name: str) -> dict[str, Any] | None:
        cur = self.db.execute("SELECT * FROM source_state WHERE name = ?", [name])
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None

    def record_source_result(self, name: str, *, ok: bool, error: str | None,
                             next_due_at: str | None) -> None:
        now = utcnow()
        with self.db.atomic():
            self.db.execute("INSERT OR IGNORE INTO source_state (name) VALUES (?)", [name])
            if ok:
                self.db.execute(
                    "UPDATE source_state SET last_run_at = ?, last_success_at = ?, "
                    "consecutive_failures = 0, next_due_at = ? WHERE name = ?",
                    [now, now, next_due_at, name])
            else:
                self.db.execute(
                    "UPDATE source_state SET last_run_at = ?, last_error = ?, last_error_at = ?, "
                    "consecutive_failures = consecutive_failures + 1, next_due_at = ? "
                    "WHERE name = ?", [now, error, now, next_due_at, name])

    def source_health(self, names: list[str]) -> list[dict[str, Any]]:
        """Per configured source: its state row (or blanks) and how many articles it gave."""
        out = []
        for name in names:
            state = self.source_state(name) or {
                "name": name, "last_run_at": None, "last_success_at": None, "last_error": None,
                "last_error_at": None, "consecutive_failures": 0, "next_due_at": None}
            state["articles"] = self.db.execute(
                "SELECT COUNT(*) FROM articles WHERE source = ?", [name]).fetchone()[0]
            out.append(state)
        return out

    # ---------------------------------------------------------------- runs and views
    def start_run(self, command: str) -> int:
        with self.db.atomic():
            return int(self.db.execute("INSERT INTO runs (started_at, command) VALUES (?, ?)",
                                       [utcnow(), command]).lastrowid or 0)

    def finish_run(self, run_id: int, report: dict[str, Any]) -> None:
        with self.db.atomic():
            self.db.execute("UPDATE runs SET finished_at = ?, report = ? WHERE id = ?",
                            [utcnow(), json.dumps(report, ensure_ascii=False), run_id])

    def stories(self, *, flagged: bool = False, since: str | None = None,
                limit: int = 200) -> list[dict[str, Any]]:
        sql = "SELECT * FROM stories WHERE 1 = 1"
        params: list[Any] = []
        if flagged:
            sql += " AND flagged = 1"
        if since:
            sql += " AND last_seen >= ?"
            params.append(since)
        sql += " ORDER BY first_seen DESC, id DESC LIMIT ?"
        cur = self.db.execute(sql, [*params, limit])
        cols = [d[0] for d in cur.description]
        out = []
        for r in cur.fetchall():
            row = dict(zip(cols, r, strict=True))
            row["languages"] = json.loads(row["languages"])
            row["entities"] = json.loads(row["entities"])
            out.append(row)
        return out

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


    # ---- digest (owned by the digest work)
    def digest_stories(self, *, since: str, limit: int = 500) -> list[dict[str, Any]]:
        """Flagged stories no sent digest carried yet, seen at or after `since` (ISO 8601,
        UTC; `last_seen`: first seen then, or joined by an article then), newest first.
        Each row has its lead article (`lead`: title, title_en, text, text_en, lang,
        translation_status) and every article of the story (`articles`: url, source, lang,
        title, title_en, duplicate_of), oldest first."""
        cur = self.db.execute(
            "SELECT id, title_en, first_seen, last_seen, article_count, languages, entities, "
            "lead_article_id FROM stories WHERE flagged = 1 AND digest_id IS NULL "
            "AND last_seen >= ? ORDER BY first_seen DESC, id DESC LIMIT ?", [since, limit])
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        if not rows:
            return []
        marks = ",".join("?" * len(rows))
        cur = self.db.execute(
            "SELECT id, story_id, url, source, lang, title, title_en, text, text_en, "
            "translation_status, duplicate_of, published_at, fetched_at FROM articles "
            f"WHERE story_id IN ({marks}) ORDER BY COALESCE(published_at, fetched_at), id",
            [r["id"] for r in rows])
        acols = [d[0] for d in cur.description]
        by_story: dict[int, list[dict[str, Any]]] = {}
        for r in cur.fetchall():
            article = dict(zip(acols, r, strict=True))
            by_story.setdefault(article["story_id"], []).append(article)
        for row in rows:
            row["languages"] = json.loads(row["languages"] or "[]")
            row["entities"] = json.loads(row["entities"] or "[]")
            articles = by_story.get(row["id"], [])
            lead = next((a for a in articles if a["id"] == row["lead_article_id"]), None)
            row["lead"] = lead or (articles[0] if articles else None)
            row["articles"] = [{k: a[k] for k in ("url", "source", "lang", "title", "title_en",
                                                  "duplicate_of")} for a in articles]
        return rows

    def record_digest(self, story_ids: list[int], *, created_at: str, sent_at: str,
                      recipients: list[str], message_id: str) -> int:
        """Record a digest the SMTP server accepted and mark its stories as sent, in one
        transaction. A story already carried by another digest keeps that one."""
        with self.db.atomic():
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

    def last_digest(self) -> dict[str, Any] | None:
        """The most recently sent digest, or None."""
        cur = self.db.execute("SELECT * FROM digests WHERE sent_at IS NOT NULL "
                              "ORDER BY sent_at DESC, id DESC LIMIT 1")
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None
    # ---- end of digest section


def _parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = datetime.now(UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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
