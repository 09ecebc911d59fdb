"""The Atom feed of new developments (RFC 4287), built with the standard library. Pure.

`tidings serve` answers ``/tidings/new_developments.atom`` with it: the datasette plugin
hands over the rows of the `new_developments` canned query, so the feed's entries are
exactly that query's rows, in its order (most important first). Each entry carries the
English headline, the publication time (``published``; ``updated`` is when coverage last
grew), a summary, the watched companies as categories, a link to the lead article
(``alternate``) and one to the story's coverage in datasette (``related``).

Entry ids are tag URIs (RFC 4151) made of the story id and its first-seen time, so they
stay the same whatever host name the feed is read under, and two stores never share one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from markupsafe import escape

from .models import parse_time

__all__ = ["ATOM_TYPE", "FeedEntry", "atom_feed"]

ATOM_NS = "http://www.w3.org/2005/Atom"
#: Content-Type of the feed.
ATOM_TYPE = "application/atom+xml; charset=utf-8"
FEED_ID = "tag:tidings,2026:new_developments"


@dataclass(slots=True)
class FeedEntry:
    """One story as the feed shows it."""

    story_id: int
    headline: str
    first_seen: str  # ISO 8601
    published: str  # ISO 8601: the story's publication time (else first seen)
    updated: str  # ISO 8601: when coverage last grew
    summary: str = ""
    link: str | None = None  # the lead article (http/https only)
    coverage: str | None = None  # the story's coverage page in datasette
    entities: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    importance: float | None = None
    follows: str | None = None  # headline of the story it continues
    follows_link: str | None = None


def atom_feed(entries: Sequence[FeedEntry], *, title: str, self_url: str,
              page_url: str | None = None, now: datetime | None = None) -> bytes:
    """The feed as UTF-8 XML. `self_url` is where it is served, `page_url` the HTML page
    it mirrors; `now` is the feed's `updated` when it has no entries."""
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(_q("feed"))
    _text(feed, "id", FEED_ID)
    _text(feed, "title", title)
    fallback = _rfc3339((now or datetime.now(UTC)).isoformat(), "1970-01-01T00:00:00Z")
    updated = max((_rfc3339(e.updated, fallback) for e in entries), default=fallback)
    _text(feed, "updated", updated)
    ET.SubElement(feed, _q("link"), rel="self", type="application/atom+xml", href=self_url)
    if page_url:
        ET.SubElement(feed, _q("link"), rel="alternate", type="text/html", href=page_url)
    author = ET.SubElement(feed, _q("author"))
    _text(author, "name", "tidings")
    _text(feed, "generator", "tidings")
    for e in entries:
        entry = ET.SubElement(feed, _q("entry"))
        _text(entry, "id", f"tag:tidings,2026:story/{e.story_id}/{e.first_seen}")
        _text(entry, "title", e.headline or f"story {e.story_id}")
        seen = _rfc3339(e.first_seen, fallback)
        published = _rfc3339(e.published, seen)
        _text(entry, "published", published)
        _text(entry, "updated", max(_rfc3339(e.updated, seen), published))
        if e.link:
            ET.SubElement(entry, _q("link"), rel="alternate", type="text/html", href=e.link)
        if e.coverage:
            ET.SubElement(entry, _q("link"), rel="related", type="text/html", href=e.coverage,
                          title="All coverage of this story")
        for name in e.entities:
            ET.SubElement(entry, _q("category"), term=name)
        if e.summary:
            _text(entry, "summary", e.summary)
        _text(entry, "content", _content_html(e), type="html")
    ET.indent(feed)  # readable when opened in a browser
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


def _content_html(e: FeedEntry) -> str:
    """The entry's body for feed readers: summary, who covered it, what it follows.
    Page text is escaped; the result is itself escaped again as XML text."""
    parts = [f"<p>{escape(e.summary)}</p>"] if e.summary else []
    facts = [", ".join(e.entities)] if e.entities else []
    if e.sources:
        facts.append(f"{len(e.sources)} {'outlet' if len(e.sources) == 1 else 'outlets'}"
                     f" ({', '.join(e.sources)})")
    if e.languages:
        facts.append(", ".join(e.languages))
    if e.importance is not None:
        facts.append(f"importance {e.importance:.1f}")
    if facts:
        parts.append(f"<p>{escape(' · '.join(facts))}</p>")
    if e.follows:
        follows = (f'<a href="{escape(e.follows_link)}">{escape(e.follows)}</a>'
                   if e.follows_link else str(escape(e.follows)))
        parts.append(f"<p>Follows: {follows}</p>")
    if e.coverage:
        parts.append(f'<p><a href="{escape(e.coverage)}">All coverage of this story</a></p>')
    return "".join(parts)


def _q(tag: str) -> str:
    return f"{{{ATOM_NS}}}{tag}"


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, _q(tag), attrs)
    element.text = _xml_safe(text)
    return element


def _xml_safe(text: str) -> str:
    """Drop the characters XML 1.0 cannot carry (a page may contain any)."""
    return "".join(c for c in text if c in "\t\n\r" or " " <= c <= "\ud7ff"
                   or "\ue000" <= c <= "\ufffd" or c >= "\U00010000")


def _rfc3339(value: str, fallback: str) -> str:
    """An ISO 8601 time as RFC 3339 in UTC (naive means UTC), e.g. 2026-11-27T10:00:00Z;
    `fallback` when it is not a time."""
    moment = parse_time(value)
    if moment is None:
        return fallback
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
