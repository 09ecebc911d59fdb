"""Extraction: trafilatura turns a page into title, main text, date, author, canonical URL.

Pure. A page without article text raises `ExtractError` so it is reported and skipped,
never stored as an empty article.
"""

from __future__ import annotations

import re
from html import unescape

from .dedup import canonical_url, content_hash
from .errors import ExtractError
from .han import HAN_RUN
from .models import Article, Page, iso_utc, utcnow


def text_size(text: str) -> int:
    """Characters that carry content; a Chinese character counts as three letters."""
    cjk = sum(map(len, HAN_RUN.findall(text)))  # by runs: one object per run, not per character
    return (len(text) - cjk) + 3 * cjk


def extract(page: Page, *, min_chars: int = 120) -> Article:
    import trafilatura  # here, not at the top: a pass that extracts nothing never loads it

    try:
        doc = trafilatura.bare_extraction(
            page.text, url=page.final_url, with_metadata=True, include_comments=False,
            include_tables=True, include_images=False, include_links=False,
            deduplicate=False, favor_precision=True)
    except Exception as exc:  # trafilatura raises assorted lxml/value errors on bad HTML
        raise ExtractError(f"extraction failed: {exc}", url=page.url) from exc
    text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    size = text_size(text) if doc is not None else 0
    if doc is None or size < min_chars:
        raise ExtractError(f"no article text ({size} characters of content, "
                           f"at least {min_chars} needed)", url=page.url)
    if _is_section_page(getattr(doc, "pagetype", None),
                        f"{page.final_url} {getattr(doc, 'url', None) or ''}"):
        raise ExtractError("a section or home page (og:type website), not an article",
                           url=page.url)
    meta: dict[str, str | None] = {key: getattr(doc, key, None)
                                   for key in ("title", "date", "url", "author")}
    title = (meta["title"] or _html_title(page.text) or page.hint_title or "").strip()
    published = iso_utc(meta["date"]) or iso_utc(page.hint_published)
    now = utcnow()
    if published is not None and published > now:  # a date in the future is not trusted
        published = now
    return Article(
        url=canonical_url(page.final_url, meta["url"]),
        fetched_url=page.url,
        source=page.source,
        title=title,
        text=text,
        author=(meta["author"] or None),
        published_at=published,
        fetched_at=now,
        content_hash=content_hash(text),
    )


_ARTICLE_ID = re.compile(r"\d{4,}")


def _is_section_page(pagetype: str | None, url: str) -> bool:
    """og:type "website" marks home and section pages; some sites put it on articles too,
    so it only counts when the URL carries no article id or date either."""
    return (pagetype or "").lower() == "website" and not _ARTICLE_ID.search(url)


_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)


def _html_title(html: str) -> str | None:
    """The document's <title>, when trafilatura found none (it misses it on pages with
    stray markup before <html>, like the old GB2312 captures)."""
    match = _TITLE.search(html[:200_000])
    if not match:
        return None
    title = " ".join(unescape(re.sub(r"<[^>]+>", "", match.group(1))).split())
    return title or None
