"""The records that flow through tidings, and the one way it reads a timestamp.

One `Article` travels from stage to stage (the order is written once, in
`pipeline.runner`); each stage returns it updated. `Link` is what a source announces,
`Page` what the fetch stage hands to extraction, `PassReport` what one pass tells the
user; `StoryRow` and `SourceHealth` are what the store gives back to show.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


def utcnow() -> str:
    """Current UTC time as ISO 8601 with seconds, the one timestamp format of the store."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (naive means UTC); None when absent or
    unreadable. The one parser of stored and announced times: callers choose the fallback."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso_utc(value: str | None) -> str | None:
    """A date or timestamp from a page, feed or sitemap, normalised to ISO 8601 in UTC
    (a bare date is midnight UTC); None when absent or unreadable."""
    parsed = parse_time(value)
    return parsed.astimezone(UTC).isoformat() if parsed else None


@dataclass(slots=True)
class Link:
    """An article link a source announced (feed item, sitemap entry, listing link)."""

    url: str
    source: str
    title: str | None = None
    published: str | None = None
    attempts: int = 0


@dataclass(slots=True)
class Page:
    """A fetched HTTP body, decoded, with what we learned while fetching it."""

    url: str  # the URL we asked for (after tracking parameters were removed)
    final_url: str  # after redirects
    source: str
    status: int
    content_type: str
    text: str  # decoded body
    charset: str  # the charset used to decode `text`
    charset_origin: str  # "header" | "meta" | "bom" | "detected" | "utf-8-sniffed"
    truncated: bool = False
    elapsed_ms: int = 0
    hint_title: str | None = None  # title the feed/sitemap gave for this link
    hint_published: str | None = None


@dataclass(slots=True)
class Article:
    """One fetched page's cleaned content, and everything the stages learn about it."""

    url: str  # canonical URL: the identity of the article
    source: str
    title: str = ""
    text: str = ""
    fetched_url: str = ""
    author: str | None = None
    published_at: str | None = None
    fetched_at: str = field(default_factory=utcnow)
    lang: str = ""
    lang_confidence: float = 0.0
    title_en: str | None = None
    text_en: str | None = None
    translation_status: str = "pending"
    translation_package: str | None = None
    translation_error: str | None = None
    content_hash: str = ""
    story_id: int | None = None
    duplicate_of: int | None = None
    relevant: bool = False
    entities: list[str] = field(default_factory=list)
    topic_terms: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)  # why it joined its story
    id: int | None = None

    def english_title(self) -> str:
        """The English headline when there is one, else the original."""
        return self.title_en or self.title

    def english_text(self) -> str:
        """The English text when there is one, else the original."""
        return self.text_en or self.text

    def replace(self, **changes: Any) -> Article:
        return dataclasses.replace(self, **changes)


class Fate(StrEnum):
    """What became of one announced link in a pass."""

    NEW = "new"  # a new article (in a new or a known story)
    DUPLICATE = "duplicate"  # it repeats a stored article
    KNOWN = "known"  # its URL is stored already
    NO_TEXT = "no_text"  # the page holds no article


@dataclass(slots=True)
class ReportedError:
    """One failure a pass reports (`--json` `errors`): which source, which URL, why."""

    source: str
    url: str
    error: str

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "url": self.url, "error": self.error}


@dataclass(slots=True)
class SkippedSource:
    """A source a pass left out because it is backing off after failures."""

    source: str
    reason: str
    until: str  # ISO 8601 UTC: when it is due again

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "reason": self.reason, "until": self.until}


@dataclass(slots=True)
class PassReport:
    """Counts of one `tidings run`; `as_dict` is the contract of `--json`."""

    sources: int = 0
    fetched: int = 0
    new_articles: int = 0
    duplicates: int = 0
    new_stories: int = 0
    flagged: int = 0
    translated: int = 0
    pending_translation: int = 0
    pages_skipped: int = 0  # links that gave no article (not HTML, robots, no text)
    errors: list[ReportedError] = field(default_factory=list)
    failed_sources: list[str] = field(default_factory=list)
    skipped: list[SkippedSource] = field(default_factory=list)
    interrupted: bool = False
    unreachable: str | None = None  # no source could be reached: the network's verdict

    def count(self, fate: Fate, *, new_story: bool = False, flagged: bool = False) -> Fate:
        """Count what became of one link; returns `fate`."""
        self.flagged += flagged
        if fate is Fate.NEW:
            self.new_articles += 1
            self.new_stories += new_story
        elif fate is Fate.NO_TEXT:
            self.pages_skipped += 1
        else:
            self.duplicates += 1
        return fate

    def as_dict(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "fetched": self.fetched,
            "new_articles": self.new_articles,
            "duplicates": self.duplicates,
            "new_stories": self.new_stories,
            "flagged": self.flagged,
            "translated": self.translated,
            "pending_translation": self.pending_translation,
            "errors": [e.as_dict() for e in self.errors],
            "skipped": [s.as_dict() for s in self.skipped],
        }


@dataclass(slots=True)
class StoryRow:
    """A story as the store shows it (`tidings stories`, the demo)."""

    id: int
    title_en: str
    first_seen: str
    last_seen: str
    article_count: int
    languages: list[str]
    entities: list[str]
    flagged: bool
    digest_id: int | None = None
    published_at: str | None = None  # earliest publication of its articles, else first_seen
    importance: float | None = None
    follows: int | None = None  # the earlier story this one continues
    lead_article_id: int | None = None


@dataclass(slots=True)
class FollowedStory:
    """The earlier story a story follows, as the digest links it."""

    id: int
    title_en: str
    published_at: str | None
    url: str | None  # its lead article


@dataclass(slots=True)
class DigestRow:
    """A flagged story not yet sent, with what its digest card shows."""

    story: StoryRow
    lead: Article | None
    articles: list[Article]  # oldest first
    follows: FollowedStory | None = None


@dataclass(slots=True)
class SourceState:
    """What the store remembers of a source between passes: its health and backoff."""

    name: str
    last_run_at: str | None = None
    last_success_at: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    consecutive_failures: int = 0
    next_due_at: str | None = None
    articles: int = 0  # articles it gave, filled by `Store.source_health`
    retired_links: int = 0  # links given up after repeated failures, likewise

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
