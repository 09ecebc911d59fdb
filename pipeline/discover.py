"""Find article links in what a source publishes: feeds, sitemaps and listing pages.

Pure: text in, `Discovered` out. The fetch stage decides what to request next (a sitemap
index names child sitemaps to fetch), the store remembers the links.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from .dedup import strip_tracking
from .errors import FeedError

if TYPE_CHECKING:  # imported where used: a pass whose sources answer 304 parses nothing
    import lxml.html
    from lxml import etree


@dataclass(slots=True)
class FoundLink:
    url: str
    title: str | None = None
    published: str | None = None  # ISO 8601 when the source says


@dataclass(slots=True)
class Discovered:
    links: list[FoundLink] = field(default_factory=list)
    child_sitemaps: list[str] = field(default_factory=list)  # a sitemap index's children
    warning: str | None = None


def discover(kind: str, text: str, base_url: str) -> Discovered:
    if kind == "feed":
        return parse_feed(text, base_url)
    if kind == "sitemap":
        return parse_sitemap(text, base_url)
    if kind == "page":
        return parse_listing(text, base_url)
    raise ValueError(f"unknown source kind {kind!r}")


def _iso(struct: time.struct_time | None) -> str | None:
    if not struct:
        return None
    return datetime(*struct[:6], tzinfo=UTC).isoformat()


def _norm_date(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def _http_only(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https")


_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def parse_feed(text: str, base_url: str) -> Discovered:
    """RSS 0.9x/1.0/2.0 and Atom through feedparser; JSON Feed by hand (feedparser lacks it)."""
    if not text.strip():
        raise FeedError("malformed feed: the document is empty", url=base_url)
    if text.lstrip().startswith("{"):
        return _parse_json_feed(text, base_url)
    import feedparser

    # The text is already decoded: a declaration naming its old charset would only confuse.
    parsed = feedparser.parse(_XML_DECLARATION.sub("", text, count=1))
    links: list[FoundLink] = []
    for entry in parsed.entries:
        href = entry.get("link") or ""
        if not href:
            continue
        url = strip_tracking(urljoin(base_url, href))
        if _http_only(url):
            links.append(FoundLink(url=url, title=entry.get("title"),
                                   published=_iso(_entry_date(entry))))
    if parsed.bozo and not links:
        reason = parsed.get("bozo_exception") or "not a feed"
        raise FeedError(f"malformed feed: {reason}", url=base_url)
    if not parsed.version and not links:
        # Well-formed, but no RSS/Atom root: an HTML error or login page served in its place.
        root = "an HTML page" if re.search(r"<html[\s>]", text[:2048], re.IGNORECASE) else "no RSS or Atom"
        raise FeedError(f"malformed feed: not a feed ({root})", url=base_url)
    warning = f"feed parsed with errors: {parsed.get('bozo_exception')}" if parsed.bozo else None
    return Discovered(links=_unique(links), warning=warning)


def _entry_date(entry: dict[str, Any]) -> time.struct_time | None:
    # Read the dict directly: FeedParserDict.get("published_parsed") falls back to
    # updated_parsed with a DeprecationWarning.
    return dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")


def _parse_json_feed(text: str, base_url: str) -> Discovered:
    try:
        data = json.loads(text)
        items = data["items"]
    except (ValueError, KeyError, TypeError) as exc:
        raise FeedError(f"malformed JSON feed: {exc}", url=base_url) from exc
    if not isinstance(items, list):
        raise FeedError("malformed JSON feed: \"items\" is not a list", url=base_url)
    links = []
    for item in items:
        if not isinstance(item, dict):
            raise FeedError("malformed JSON feed: an item is not an object", url=base_url)
        title = item.get("title")
        href = item.get("url") or item.get("external_url")
        if isinstance(href, str) and href:
            url = strip_tracking(urljoin(base_url, href))
            if _http_only(url):
                published = item.get("date_published")
                links.append(FoundLink(
                    url=url, title=title if isinstance(title, str) else None,
                    published=_norm_date(published) if isinstance(published, str) else None))
    return Discovered(links=_unique(links))


def parse_sitemap(text: str, base_url: str) -> Discovered:
    """<urlset> (with news: extensions) or <sitemapindex>; newest entries first."""
    from lxml import etree

    try:
        root = etree.fromstring(text.encode("utf-8"),
                                parser=etree.XMLParser(recover=True, resolve_entities=False,
                                                       no_network=True, huge_tree=False))
    except etree.XMLSyntaxError as exc:
        raise FeedError(f"malformed sitemap: {exc}", url=base_url) from exc
    if root is None:
        raise FeedError("malformed sitemap: no XML document", url=base_url)
    tag = etree.QName(root).localname
    if tag == "sitemapindex":
        children = []
        for node in root:
            loc = _child_text(node, "loc")
            if loc:
                children.append((_norm_date(_child_text(node, "lastmod")) or "", loc.strip()))
        children.sort(reverse=True)
        return Discovered(child_sitemaps=[urljoin(base_url, loc) for _, loc in children])
    if tag != "urlset":
        raise FeedError(f"not a sitemap: root element <{tag}>", url=base_url)
    links = []
    for node in root:
        loc = _child_text(node, "loc")
        if not loc:
            continue
        news_title = news_date = None
        for sub in node.iter():
            name = etree.QName(sub).localname if isinstance(sub.tag, str) else ""
            if name == "title" and sub.text:
                news_title = sub.text.strip()
            elif name == "publication_date" and sub.text:
                news_date = sub.text
        published = _norm_date(news_date) or _norm_date(_child_text(node, "lastmod"))
        url = strip_tracking(urljoin(base_url, loc.strip()))
        if _http_only(url):
            links.append(FoundLink(url=url, title=news_title, published=published))
    links.sort(key=lambda link: link.published or "", reverse=True)
    return Discovered(links=_unique(links))


def _child_text(node: etree._Element, name: str) -> str | None:
    from lxml import etree

    for child in node:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            text: str | None = child.text
            return text
    return None


_NOT_ARTICLE = re.compile(
    r"/(tag|tags|category|categories|author|authors|about|contact|privacy|terms|login|"
    r"register|search|page|feed|rss|topics?|section|video|videos|gallery|cookie|archive|"
    r"archivio|legal|help|copyright|contract|sitemap|categorie|static|includes|foto|"
    r"channel|column|lanmu|pindao|list|sezione|rubrica)"
    r"s?(/|$|\.|_)",
    re.IGNORECASE)
_ASSET = re.compile(r"\.(jpe?g|png|gif|svg|webp|css|js|pdf|zip|mp[34]|xml|json|ico)$",
                    re.IGNORECASE)
_DATED = re.compile(r"/\d{4}[/-]?\d{1,2}([/-]?\d{1,2})?/")
_ARTICLE_HINT = re.compile(
    r"(/\d{4}[/-]\d{1,2}([/-]\d{1,2})?/)|(\d{5,})|(/[^/]*[a-z0-9]+[-_][a-z0-9]+[-_][a-z0-9]+[^/]*$)|"
    r"(/[^/]+/[^/]+\.s?html?$)", re.IGNORECASE)
_SECOND_LEVEL = {"com", "co", "org", "net", "gov", "edu", "ac", "or", "ne", "go"}


def site_of(host: str) -> str:
    """The registrable part of a host, roughly: news.163.com → 163.com,
    www.bbc.co.uk → bbc.co.uk. A portal's articles often live on a sibling subdomain."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def looks_like_article(url: str, base_url: str) -> bool:
    """A link on the same site whose path has the shape of an article, not a section.

    Article shapes: a date in the path (/2024/05/01/…), a long number (…-100233400/,
    …/1004154.shtml), a slug of three or more words, or a page file below a section
    (/news/a.html); a date-path `…/slug/index.html` (CNN) counts too. Sections, tags,
    authors, archives and legal pages do not; neither do one-level pages like /contract.shtml.
    """
    parts, base = urlsplit(url), urlsplit(base_url)
    if parts.scheme not in ("http", "https"):
        return False
    if site_of(parts.hostname or "") != site_of(base.hostname or ""):
        return False
    path = parts.path or "/"
    if path in ("/", "") or _ASSET.search(path) or _NOT_ARTICLE.search(path):
        return False
    index = re.search(r"/(index|default)\.\w+$", path)
    if index:
        folder = path[: index.start() + 1]
        return bool(_DATED.search(folder)) and folder.count("/") >= 4
    return bool(_ARTICLE_HINT.search(path))


def parse_listing(text: str, base_url: str) -> Discovered:
    """Links on a listing page that look like articles, in page order."""
    if not text.strip():
        raise FeedError("empty listing page", url=base_url)
    import lxml.html
    from lxml import etree

    try:
        doc = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        raise FeedError(f"listing page cannot be parsed: {exc}", url=base_url) from exc
    base_href = doc.xpath("//base/@href")
    base = urljoin(base_url, base_href[0]) if base_href else base_url
    links = []
    for anchor in doc.iter("a"):
        href = (anchor.get("href") or "").strip()
        if not href or href.startswith(("#", "mailto:", "javascript:", "tel:")):
            continue
        url = strip_tracking(urljoin(base, href))
        if looks_like_article(url, base_url):
            links.append(FoundLink(url=url, title=_anchor_title(anchor)))
    return Discovered(links=_unique(links))


def _anchor_title(anchor: lxml.html.HtmlElement) -> str | None:
    """The link's text; for an image link, its title attribute or the image's alt text."""
    text = " ".join(anchor.text_content().split())
    if not text:
        alts = [img.get("alt") or "" for img in anchor.iter("img")]
        text = " ".join((anchor.get("title") or next((a for a in alts if a.strip()), "")).split())
    return text or None


def _unique(links: list[FoundLink]) -> list[FoundLink]:
    """First occurrence of each URL, in order; a title or date found on a later occurrence
    (the headline link after the picture link) fills in what the first one lacked."""
    seen: dict[str, FoundLink] = {}
    for link in links:
        first = seen.setdefault(link.url, link)
        if first is not link:
            first.title = first.title or link.title
            first.published = first.published or link.published
    return list(seen.values())
