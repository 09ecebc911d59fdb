"""Extraction: trafilatura turns a page into title, main text, date, author, canonical URL.

Pure. A page without article text raises `ExtractError` so it is reported and skipped,
never stored as an empty article.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import trafilatura

from .dedup import canonical_url, content_hash
from .errors import ExtractError
from .models import Article, Page

_CJK = re.compile(r"[\u3400-\u9fff]")


def text_size(text: str) -> int:
    """Characters that carry content; a Chinese character counts as three letters."""
    cjk = len(_CJK.findall(text))
    return (len(text) - cjk) + 3 * cjk


def extract(page: Page, *, min_chars: int = 120) -> Article:
    try:
        doc = trafilatura.bare_extraction(
            page.text, url=page.final_url, with_metadata=True, include_comments=False,
            include_tables=True, include_images=False, include_links=False,
            deduplicate=False, favor_precision=True)
    except Exception as exc:  # trafilatura raises assorted lxml/value errors on bad HTML
        raise ExtractError(f"extraction failed: {exc}", url=page.url) from exc
    text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    if doc is None or text_size(text) < min_chars:
        size = text_size(text)
        raise ExtractError(f"no article text ({size} characters of content, "
                           f"at least {min_chars} needed)", url=page.url)
    title = (doc.title or page.hint_title or "").strip()
    published = _iso_date(doc.date) or page.hint_published
    return Article(
        url=canonical_url(page.final_url, doc.url),
        fetched_url=page.url,
        source=page.source,
        title=title,
        text=text,
        author=(doc.author or None),
        published_at=published,
        content_hash=content_hash(text),
    )


def _iso_date(value: str | None) -> str | None:
    """trafilatura gives YYYY-MM-DD; store ISO 8601 (UTC midnight when no time is known)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()
