"""Find article links in what a source publishes: feeds, sitemaps and listing pages.

Pure: text in, `Discovered` out. The frontier decides what to request next (a sitemap
index names child sitemaps to fetch), the store remembers the links.

A document is a stranger's: nesting deeper than `MAX_DEPTH` is a `FeedError` (never a
`RecursionError`), an href longer than `MAX_HREF_CHARS` is skipped before any work is done
on it, and at most `MAX_LINKS` links (or child sitemaps) are taken from one document.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from . import netguard
from .dedup import strip_tracking
from .errors import FeedError
from .models import iso_utc

MAX_HREF_CHARS = 2048
MAX_LINKS = 5000
MAX_DEPTH = 256  # elements or brackets; libxml2's own limit without XML_PARSE_HUGE

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


def _http_only(url: str) -> bool:
    try:
        return urlsplit(url).scheme in ("http", "https")
    except ValueError:  # e.g. "http://[oops/": not an address at all
        return False


def _link(base_url: str, href: str, *, untrack: bool = True) -> str | None:
    """The absolute (and untracked) URL an href names; None when it is too long to be a
    link (checked before any parsing, which is what would cost) or not a web address."""
    if len(href) > MAX_HREF_CHARS:
        return None
    try:
        url = urljoin(base_url, href.strip())
        url = strip_tracking(url) if untrack else url
    except ValueError:
        return None
    return url if _http_only(url) else None


class _TooDeep(Exception):
    pass


class _DepthGauge:
    """An lxml parser target that only measures nesting, and gives up past MAX_DEPTH."""

    def __init__(self) -> None:
        self.depth = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep

    def end(self, tag: str) -> None:
        self.depth -= 1

    def data(self, data: str) -> None:
        pass

    def close(self) -> None:
        pass


def _too_deep(xml: bytes) -> bool:
    """Is the document nested deeper than MAX_DEPTH? One pass of libxml2, no tree."""
    from lxml import etree

    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True,
                             huge_tree=False, target=_DepthGauge())
    try:
        etree.fromstring(xml, parser)
    except _TooDeep:
        return True
    except etree.LxmlError:
        return False  # not well-formed: feedparser decides what it is
    return False


_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def parse_feed(text: str, base_url: str) -> Discovered:
    """RSS 0.9x/1.0/2.0 and Atom through feedparser; JSON Feed by hand (feedparser lacks it)."""
    if not text.strip():
        raise FeedError("malformed feed: the document is empty", url=base_url)
    if text.lstrip().startswith("{"):
        return _parse_json_feed(text, base_url)
    import feedparser

    # The text is already decoded: a declaration naming its old charset would only confuse.
    text = _XML_DECLARATION.sub("", text, count=1)
    if _too_deep(text.encode("utf-8")):
        raise FeedError(f"malformed feed: elements nested more than {MAX_DEPTH} deep",
                        url=base_url)
    parsed = feedparser.parse(text)
    links: list[FoundLink] = []
    for entry in parsed.entries:
        href = entry.get("link") or ""
        url = _link(base_url, href) if isinstance(href, str) and href else None
        if url:
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
    return Discovered(links=_unique(links)[:MAX_LINKS], warning=warning)


def _entry_date(entry: dict[str, Any]) -> time.struct_time | None:
    # Read the dict directly: FeedParserDict.get("published_parsed") falls back to
    # updated_parsed with a DeprecationWarning.
    return dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")


def _parse_json_feed(text: str, base_url: str) -> Discovered:
    try:
        data = json.loads(text)
        items = data["items"]
    except RecursionError as exc:  # the C decoder's own depth guard
        raise FeedError("malformed JSON feed: nested too deeply", url=base_url) from exc
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
        url = _link(base_url, href) if isinstance(href, str) and href else None
        if url:
            published = item.get("date_published")
            links.append(FoundLink(
                url=url, title=title if isinstance(title, str) else None,
                published=iso_utc(published) if isinstance(published, str) else None))
    return Discovered(links=_unique(links)[:MAX_LINKS])


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
            child = _link(base_url, loc, untrack=False) if loc else None  # "?from=" is kept
            if child:
                children.append((iso_utc(_child_text(node, "lastmod")) or "", child))
        children.sort(reverse=True)
        return Discovered(child_sitemaps=[url for _, url in children][:MAX_LINKS])
    if tag != "urlset":
        raise FeedError(f"not a sitemap: root element <{tag}>", url=base_url)
    links = []
    for node in root:
        loc = _child_text(node, "loc")
        url = _link(base_url, loc) if loc else None
        if not url:
            continue
        news_title = news_date = None
        for sub in node.iter():
            name = etree.QName(sub).localname if isinstance(sub.tag, str) else ""
            if name == "title" and sub.text:
                news_title = sub.text.strip()
            elif name == "publication_date" and sub.text:
                news_date = sub.text
        published = iso_utc(news_date) or iso_utc(_child_text(node, "lastmod"))
        links.append(FoundLink(url=url, title=news_title, published=published))
    links.sort(key=lambda link: link.published or "", reverse=True)
    return Discovered(links=_unique(links)[:MAX_LINKS])


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
# Article shapes, each a regular expression that runs in linear time on its own: a date
# folder, a long number, a slug of three words in the last segment, a page file below a
# section. (One alternation of them, with `[^/]*[a-z0-9]+…[^/]*$`, was quadratic in the
# length of a path: a 128 kB href took minutes.)
_DATE_FOLDER = re.compile(r"/\d{4}[/-]\d{1,2}(?:[/-]\d{1,2})?/")
_LONG_NUMBER = re.compile(r"\d{5}")
_SLUG = re.compile(r"[a-z0-9][-_][a-z0-9]+[-_][a-z0-9]", re.IGNORECASE)
_PAGE_FILE = re.compile(r".\.s?html?$", re.IGNORECASE)
_SECOND_LEVEL = {"com", "co", "org", "net", "gov", "edu", "ac", "or", "ne", "go"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def site_of(host: str) -> str:
    """The registrable part of a host, roughly: news.163.com → 163.com,
    www.bbc.co.uk → bbc.co.uk. A portal's articles often live on a sibling subdomain.
    An IP address is its own site (127.0.0.1 and 10.0.0.1 are not one site)."""
    host = host.lower().rstrip(".")
    ip = netguard.parse_ip(host)
    if ip is not None:
        return str(ip)
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _same_site(url: str, base_url: str) -> bool:
    """Same registrable site, and the same port when either names one: two ports of one
    host are two servers (an admin console beside the site), 80 and 443 one site."""
    try:
        parts, base = urlsplit(url), urlsplit(base_url)
        port, base_port = parts.port, base.port
    except ValueError:
        return False
    if site_of(parts.hostname or "") != site_of(base.hostname or ""):
        return False
    defaults = (_DEFAULT_PORTS.get(parts.scheme), _DEFAULT_PORTS.get(base.scheme))
    if port in (None, *defaults) and base_port in (None, *defaults):
        return True
    return (port or defaults[0]) == (base_port or defaults[1])


def _article_shaped(path: str) -> bool:
    segments = path.split("/")
    last = segments[-1]
    below_a_section = len(segments) >= 3 and segments[-2] != ""
    return bool(_DATE_FOLDER.search(path) or _LONG_NUMBER.search(path) or _SLUG.search(last)
                or (below_a_section and _PAGE_FILE.search(last)))


def looks_like_article(url: str, base_url: str) -> bool:
    """A link on the same site whose path has the shape of an article, not a section.

    Article shapes: a date in the path (/2024/05/01/…), a long number (…-100233400/,
    …/1004154.shtml), a slug of three or more words, or a page file below a section
    (/news/a.html); a date-path `…/slug/index.html` (CNN) counts too. Sections, tags,
    authors, archives and legal pages do not; neither do one-level pages like /contract.shtml.
    """
    if len(url) > MAX_HREF_CHARS:
        return False
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return False
    if not _same_site(url, base_url):
        return False
    path = parts.path or "/"
    if path in ("/", "") or _ASSET.search(path) or _NOT_ARTICLE.search(path):
        return False
    index = re.search(r"/(index|default)\.\w+$", path)
    if index:
        folder = path[: index.start() + 1]
        return bool(_DATED.search(folder)) and folder.count("/") >= 4
    return _article_shaped(path)


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
    base_href = [h for h in doc.xpath("//base/@href") if len(h) <= MAX_HREF_CHARS]
    base = (_link(base_url, base_href[0]) or base_url) if base_href else base_url
    links = []
    for anchor in doc.iter("a"):
        href = anchor.get("href") or ""
        if not href or len(href) > MAX_HREF_CHARS:
            continue
        href = href.strip()
        if not href or href.startswith(("#", "mailto:", "javascript:", "tel:")):
            continue
        url = _link(base, href)
        if url and looks_like_article(url, base_url):
            links.append(FoundLink(url=url, title=_anchor_title(anchor)))
            if len(links) >= 4 * MAX_LINKS:
                break  # enough: what follows is repetition or a trap
    return Discovered(links=_unique(links)[:MAX_LINKS])


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
