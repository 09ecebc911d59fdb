"""The records that flow through tidings.

One `Article` travels from stage to stage (extract → language → translate → dedup →
stories → relevance → store); each stage returns it updated. `Page` is what the fetch
stage hands to extraction; `PassReport` is what one pass tells the user.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utcnow() -> str:
    """Current UTC time as ISO 8601 with seconds, the one timestamp format of the store."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


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


@dataclass(slots=True)
class FetchError_:
    source: str
    url: str
    error: str

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "url": self.url, "error": self.error}


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
    skipped: int = 0
    errors: list[FetchError_] = field(default_factory=list)
    failed_sources: list[str] = field(default_factory=list)
    backed_off: list[str] = field(default_factory=list)
    interrupted: bool = False

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
        }
