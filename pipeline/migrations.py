"""Schema of the store as recorded migrations (sqlite-utils `Migrations`).

Each function is one change, applied once and recorded in `_sqlite_migrations` (set
"tidings"); add new ones at the end, never edit an applied one. Which are pending is read
with one plain query: sqlite-utils (80–200 ms to import: it pulls numpy, dateutil and
pluggy) is imported only when one is due, so opening an up-to-date store costs nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database

SET = "tidings"
TABLE = "_sqlite_migrations"
MIGRATIONS: list[Callable[[Database], None]] = []  # in order; each named by its function


def migration(fn: Callable[[Database], None]) -> Callable[[Database], None]:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_contract_tables(db: Database) -> None:
    """The tables of the contract (DESIGN.md) and the bookkeeping a pass needs."""
    db.execute("""
    CREATE TABLE IF NOT EXISTS stories (
        id INTEGER PRIMARY KEY,
        title_en TEXT,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        article_count INTEGER NOT NULL DEFAULT 0,
        languages TEXT NOT NULL DEFAULT '[]',
        entities TEXT NOT NULL DEFAULT '[]',
        flagged INTEGER NOT NULL DEFAULT 0,
        digest_id INTEGER REFERENCES digests(id),
        lead_article_id INTEGER,
        created_at TEXT NOT NULL
    )""")
    db.execute("""
    CREATE TABLE IF NOT EXISTS articles (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        title TEXT,
        text TEXT,
        lang TEXT,
        lang_confidence REAL,
        title_en TEXT,
        text_en TEXT,
        translation_status TEXT NOT NULL,
        translation_package TEXT,
        translation_error TEXT,
        published_at TEXT,
        fetched_at TEXT NOT NULL,
        fetched_url TEXT,
        author TEXT,
        content_hash TEXT NOT NULL,
        story_id INTEGER REFERENCES stories(id),
        duplicate_of INTEGER REFERENCES articles(id),
        relevant INTEGER NOT NULL DEFAULT 0,
        entities TEXT NOT NULL DEFAULT '[]',
        topic_terms TEXT NOT NULL DEFAULT '[]',
        fingerprint TEXT,
        evidence TEXT
    )""")
    db.execute("""
    CREATE TABLE IF NOT EXISTS fetches (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        source TEXT,
        kind TEXT,
        status INTEGER,
        error TEXT,
        fetched_at TEXT NOT NULL,
        elapsed_ms INTEGER,
        bytes INTEGER,
        conditional INTEGER NOT NULL DEFAULT 0
    )""")
    db.execute("""
    CREATE TABLE IF NOT EXISTS digests (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        recipients TEXT,
        story_count INTEGER NOT NULL DEFAULT 0,
        message_id TEXT
    )""")
    # Conditional GET validators per URL (feeds, sitemaps, listing pages, robots.txt).
    db.execute("""
    CREATE TABLE IF NOT EXISTS http_cache (
        url TEXT PRIMARY KEY,
        etag TEXT,
        last_modified TEXT,
        body TEXT,
        updated_at TEXT NOT NULL
    )""")
    # The frontier: every article link a source announced, until it is processed, so a
    # crash or a failed page never loses a link even when the feed next answers 304.
    db.execute("""
    CREATE TABLE IF NOT EXISTS links (
        url TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        discovered_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        hint_title TEXT,
        hint_published TEXT,
        article_id INTEGER,
        updated_at TEXT
    )""")
    db.execute("""
    CREATE TABLE IF NOT EXISTS article_keys (
        key TEXT NOT NULL,
        article_id INTEGER NOT NULL REFERENCES articles(id),
        seen_at TEXT NOT NULL,
        PRIMARY KEY (key, article_id)
    ) WITHOUT ROWID""")
    db.execute("""
    CREATE TABLE IF NOT EXISTS translation_cache (
        package TEXT NOT NULL,
        source TEXT NOT NULL,
        target TEXT NOT NULL,
        PRIMARY KEY (package, source)
    )""")
    db.execute("""
    CREATE TABLE IF NOT EXISTS source_state (
        name TEXT PRIMARY KEY,
        last_run_at TEXT,
        last_success_at TEXT,
        last_error TEXT,
        last_error_at TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        next_due_at TEXT
    )""")
    db.execute("""
    CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        command TEXT,
        report TEXT
    )""")
    for sql in (
        "CREATE INDEX IF NOT EXISTS idx_articles_content_hash ON articles(content_hash)",
        "CREATE INDEX IF NOT EXISTS idx_articles_story ON articles(story_id)",
        "CREATE INDEX IF NOT EXISTS idx_articles_fetched_at ON articles(fetched_at)",
        "CREATE INDEX IF NOT EXISTS idx_articles_source ON articles(source, fetched_at)",
        "CREATE INDEX IF NOT EXISTS idx_articles_translation ON articles(translation_status, lang)",
        "CREATE INDEX IF NOT EXISTS idx_articles_fetched_url ON articles(fetched_url)",
        "CREATE INDEX IF NOT EXISTS idx_stories_flagged ON stories(flagged, first_seen)",
        "CREATE INDEX IF NOT EXISTS idx_stories_digest ON stories(digest_id, flagged)",
        "CREATE INDEX IF NOT EXISTS idx_fetches_source ON fetches(source, fetched_at)",
        "CREATE INDEX IF NOT EXISTS idx_fetches_url ON fetches(url)",
        "CREATE INDEX IF NOT EXISTS idx_links_status ON links(source, status)",
        "CREATE INDEX IF NOT EXISTS idx_article_keys_article ON article_keys(article_id)",
    ):
        db.execute(sql)
    # Full-text search in the CJK-aware search form (see pipeline/fts.py); rowid = article id.
    db.execute("""
    CREATE VIRTUAL TABLE IF NOT EXISTS articles_fts USING fts5(
        title, text, title_en, text_en, tokenize = 'unicode61 remove_diacritics 2'
    )""")


@migration
def m002_fetch_redirects(db: Database) -> None:
    """Where a redirect pointed, so a 301 is not mistaken for an error."""
    db.execute("ALTER TABLE fetches ADD COLUMN redirect_to TEXT")


@migration
def m003_story_index_by_time(db: Database) -> None:
    """Candidates are the newest articles per key within a time window: without this index
    SQLite reads and sorts every row of a common key, and placement slows as the store
    grows (2.05 ms at 100k articles against 0.47 ms at 1k; flat with it)."""
    db.execute("CREATE INDEX IF NOT EXISTS idx_article_keys_key_seen "
               "ON article_keys(key, seen_at)")


@migration
def m004_story_freshness_follows_importance(db: Database) -> None:
    """What the digest needs to say of a story: when it was published (`published_at`,
    ISO 8601: the earliest publication time of its articles, else its first_seen), which
    earlier story it continues (`follows`, with `follows_evidence` as JSON) and how much
    it matters (`importance`, see pipeline/importance.py). NULL until the story stage
    fills them."""
    db.execute("ALTER TABLE stories ADD COLUMN published_at TEXT")
    db.execute("ALTER TABLE stories ADD COLUMN follows INTEGER REFERENCES stories(id)")
    db.execute("ALTER TABLE stories ADD COLUMN follows_evidence TEXT")
    db.execute("ALTER TABLE stories ADD COLUMN importance REAL")
    # The stories that continue a given one (datasette's "links from other tables" on a
    # story's page, and the lookup of a story's follow-ups) without a full scan.
    db.execute("CREATE INDEX IF NOT EXISTS idx_stories_follows ON stories(follows)")
    # The digest's selection (flagged, not yet sent, seen since …), sorted by importance
    # afterwards: with 100,000 stories of which 20,000 flagged and never sent, 0.21 ms
    # against 9.4 ms through idx_stories_digest, which cannot range over last_seen
    # (python bench/digest_selection.py).
    db.execute("CREATE INDEX IF NOT EXISTS idx_stories_unsent ON stories(flagged, last_seen) "
               "WHERE digest_id IS NULL")


@migration
def m005_story_articles_covering_index(db: Database) -> None:
    """A story's count, earliest publication, outlets and languages, recounted each time an
    article joins it, read from the index alone: without it each recount reads every row
    of the story (5.1 ms against 0.13 ms for a story of 1,974 articles; the outlets and
    languages 3.7 ms against 0.5 ms). It serves every lookup the index on story_id did."""
    db.execute("CREATE INDEX IF NOT EXISTS idx_articles_story_cover "
               "ON articles(story_id, published_at, source, lang)")
    db.execute("DROP INDEX IF EXISTS idx_articles_story")


@migration
def m006_article_keys_by_time(db: Database) -> None:
    """`article_keys` ordered as the candidate query reads it, (key, seen_at, article_id),
    and without its foreign key on `articles`: a pass inserts ~45 key rows an article,
    and the second index on (key, seen_at) plus the per-row parent lookup made that insert
    1.03 ms an article in the profiled pass, 0.41 without them (docs/stories.md, Scale).
    The keys are written only right after their article, in the same transaction, so the
    constraint guarded nothing; `idx_article_keys_article` still serves the lookups by
    article."""
    db.execute("""
    CREATE TABLE article_keys_by_time (
        key TEXT NOT NULL,
        article_id INTEGER NOT NULL,
        seen_at TEXT NOT NULL,
        PRIMARY KEY (key, seen_at, article_id)
    ) WITHOUT ROWID""")
    db.execute("INSERT INTO article_keys_by_time (key, article_id, seen_at) "
               "SELECT key, article_id, seen_at FROM article_keys ORDER BY key, seen_at, "
               "article_id")
    db.execute("DROP TABLE article_keys")  # and its two indexes
    db.execute("ALTER TABLE article_keys_by_time RENAME TO article_keys")
    db.execute("CREATE INDEX idx_article_keys_article ON article_keys(article_id)")


def pending(conn: sqlite3.Connection) -> list[str]:
    """The names of the migrations this store has not had (read-only)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        [TABLE]).fetchone():
        return [fn.__name__ for fn in MIGRATIONS]
    applied = {row[0] for row in conn.execute(f"SELECT name FROM {TABLE} WHERE "
                                              "migration_set = ?", [SET])}
    return [fn.__name__ for fn in MIGRATIONS if fn.__name__ not in applied]


def apply(conn: sqlite3.Connection) -> None:
    """Apply the pending migrations, each in its own transaction with its record, through
    sqlite-utils' `Migrations` (the record stays the one sqlite-utils reads and writes)."""
    if not pending(conn):
        return
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations
    migrations = Migrations(SET)
    for fn in MIGRATIONS:
        migrations()(fn)
    migrations.apply(Database(conn))
