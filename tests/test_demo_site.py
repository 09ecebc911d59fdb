"""The bundled sample news web and the test server it runs on: real servers, real HTTP."""

from __future__ import annotations

import itertools
import re
import threading
import time
import tomllib
import urllib.robotparser
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import feedparser
import httpx
import pytest
import trafilatura

from pipeline.demo import ConnectionAbort, DemoWeb, RequestInfo, Resource, SiteServer, truth
from pipeline.demo.site import articles

SITEMAP_NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9",
              "news": "http://www.google.com/schemas/sitemap-news/0.9"}


@pytest.fixture(scope="module")
def web() -> Iterator[DemoWeb]:
    with DemoWeb() as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.meta: dict[str, str] = {}
        self.canonical: str | None = None
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        elif tag == "meta" and "property" in a:
            self.meta[a["property"]] = a.get("content", "")
        elif tag == "link" and a.get("rel") == "canonical":
            self.canonical = a["href"]
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def _parse(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def _decode(web: DemoWeb, outlet: str, body: bytes) -> str:
    return body.decode("gbk" if outlet == "qiche" else "utf-8")


# -- SiteServer ---------------------------------------------------------------------------------

def test_conditional_get_answers_304_to_etag_and_to_last_modified(client: httpx.Client) -> None:
    modified = datetime(2024, 3, 13, 8, 0, tzinfo=UTC)
    with SiteServer({"/feed.xml": Resource(b"<rss/>", "application/rss+xml",
                                           last_modified=modified)}) as site:
        first = client.get(site.url("/feed.xml"))
        assert first.status_code == 200 and first.content == b"<rss/>"
        etag, last_modified = first.headers["etag"], first.headers["last-modified"]
        assert last_modified == "Wed, 13 Mar 2024 08:00:00 GMT"

        by_etag = client.get(site.url("/feed.xml"), headers={"If-None-Match": etag})
        by_date = client.get(site.url("/feed.xml"), headers={"If-Modified-Since": last_modified})
        assert (by_etag.status_code, by_etag.content) == (304, b"")
        assert (by_date.status_code, by_date.content) == (304, b"")

        stale_etag = client.get(site.url("/feed.xml"), headers={"If-None-Match": '"other"'})
        older = format_datetime(modified - timedelta(days=1), usegmt=True)
        stale_date = client.get(site.url("/feed.xml"), headers={"If-Modified-Since": older})
        assert stale_etag.status_code == 200 and stale_date.status_code == 200

        site.add("/feed.xml", Resource(b"<rss>new</rss>", "application/rss+xml",
                                       last_modified=modified + timedelta(hours=1)))
        changed = client.get(site.url("/feed.xml"), headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.content == b"<rss>new</rss>"
        assert [r.status for r in site.requests] == [200, 304, 304, 200, 200, 200]


def test_routes_with_and_without_query_head_and_404(client: httpx.Client) -> None:
    with SiteServer({"/a.html": Resource(b"<p>A</p>"),
                     "/a.html?page=2": Resource(b"<p>A2</p>")}) as site:
        tracked = client.get(site.url("/a.html?utm_source=x&utm_medium=rss"))
        assert tracked.content == b"<p>A</p>"
        assert client.get(site.url("/a.html?page=2")).content == b"<p>A2</p>"
        head = client.head(site.url("/a.html"))
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == "8"
        missing = client.get(site.url("/nope"))
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert site.count("/a.html") == 3
        assert site.count("/a.html?page=2") == 1
        assert [(r.method, r.status) for r in site.requests][-2:] == [("HEAD", 200), ("GET", 404)]


def test_content_type_is_sent_verbatim_or_omitted(client: httpx.Client) -> None:
    with SiteServer({"/gbk": Resource("汽车".encode("gbk"), "text/html"),
                     "/bare": Resource(b"x", "")}) as site:
        assert client.get(site.url("/gbk")).headers["content-type"] == "text/html"
        assert "content-type" not in client.get(site.url("/bare")).headers


def test_handler_sees_request_and_count(client: httpx.Client) -> None:
    def flaky(req: RequestInfo) -> Resource:
        if req.count < 3:
            return Resource(b"busy", status=503, headers={"Retry-After": "1"}, etag=False)
        return Resource(f"ok {req.headers['user-agent']}".encode())

    with SiteServer({"/flaky": flaky}) as site:
        statuses = [client.get(site.url("/flaky"), headers={"User-Agent": "probe"})
                    for _ in range(3)]
        assert [r.status_code for r in statuses] == [503, 503, 200]
        assert statuses[0].headers["retry-after"] == "1"
        assert statuses[2].text == "ok probe"
        assert site.requests[0].headers["user-agent"] == "probe"


def test_slow_handler_does_not_block_other_requests() -> None:
    def slow(req: RequestInfo) -> Resource:
        time.sleep(1.5)
        return Resource(b"late")

    with SiteServer({"/slow": slow, "/fast": Resource(b"fast")}) as site:
        results: dict[str, float] = {}

        def fetch_slow() -> None:
            httpx.get(site.url("/slow"), timeout=10)
            results["slow"] = time.monotonic()

        thread = threading.Thread(target=fetch_slow)
        thread.start()
        time.sleep(0.2)  # the slow request is now inside its handler
        started = time.monotonic()
        assert httpx.get(site.url("/fast"), timeout=10).content == b"fast"
        results["fast"] = time.monotonic()
        thread.join()
        assert results["fast"] - started < 0.5
        assert results["fast"] < results["slow"]


def test_connection_abort_drops_the_connection(client: httpx.Client) -> None:
    def drop(req: RequestInfo) -> Resource:
        raise ConnectionAbort

    def broken(req: RequestInfo) -> Resource:
        raise RuntimeError("boom")

    with SiteServer({"/drop": drop, "/broken": broken, "/ok": Resource(b"ok")}) as site:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(site.url("/drop"))
        failed = client.get(site.url("/broken"))
        assert failed.status_code == 500 and "boom" in failed.text
        assert client.get(site.url("/ok")).content == b"ok"  # still serving
        assert [r.status for r in site.requests] == [0, 500, 200]


def test_stop_frees_the_port() -> None:
    site = SiteServer({"/": Resource(b"hi")}).start()
    url = site.url("/")
    assert httpx.get(url).content == b"hi"
    site.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
    with pytest.raises(RuntimeError):
        _ = site.base_url


# -- the sample news web ------------------------------------------------------------------------

def test_truth_covers_the_brief() -> None:
    entries = truth()
    assert len(entries) >= 25
    assert {e["lang"] for e in entries} == {"en", "it", "zh"}
    assert len({e["outlet"] for e in entries}) >= 3
    seeds = {e["seed"]: e for e in entries if e["seed"]}
    assert sorted(seeds) == ["000", "001", "002", "003", "004"]
    stories = {}
    for seed, entry in seeds.items():
        stories.setdefault(entry["story"], set()).add(seed)
    assert sorted(stories.values(), key=sorted) == [{"000"}, {"001"}, {"002", "003", "004"}]
    assert seeds["004"]["lang"] == "it"
    assert all(seeds[s]["relevant"] for s in seeds)
    assert len({(e["outlet"], e["path"]) for e in entries}) == len(entries)
    by_id = {e["id"]: e for e in entries}
    for e in entries:
        assert not e["relevant"] or e["entities"], e["id"]
        datetime.strptime(e["published"], "%Y-%m-%d")
        if e["duplicate_of"]:
            original = by_id[e["duplicate_of"]]
            assert original["duplicate_of"] is None
            assert (original["story"], original["lang"]) == (e["story"], e["lang"])
            assert original["outlet"] != e["outlet"]
    # the traps the brief asks for
    assert any(e["entities"] == ["Xiaomi"] and not e["relevant"] for e in entries)  # phones
    assert any(not e["entities"] and e["lang"] == "zh" for e in entries)  # other carmaker
    zh_stories = {e["story"] for e in entries if e["lang"] == "zh" and e["relevant"]}
    other_stories = {e["story"] for e in entries if e["lang"] != "zh"}
    assert zh_stories & other_stories and zh_stories - other_stories
    baic = sorted(e["published"] for e in entries if "BAIC" in e["entities"])
    later = date.fromisoformat(baic[-1]) - date.fromisoformat(seeds["000"]["published"])
    assert later > timedelta(days=300)  # a follow-up a year on


def _alias_pattern(alias: str) -> re.Pattern[str]:
    if alias.isascii():
        return re.compile(r"(?<![0-9A-Za-z])" + re.escape(alias) + r"(?![0-9A-Za-z])")
    return re.compile(re.escape(alias))


def test_truth_entities_match_the_watchlist_aliases_in_the_texts() -> None:
    """The watch entities of each article are exactly the watch names whose packaged aliases
    occur in its title or body (so SU75 is not SU7, and negatives mention no watch name)."""
    defaults = tomllib.loads(resources.files("pipeline").joinpath("defaults.toml")
                             .read_text("utf-8"))
    patterns = {w["name"]: [_alias_pattern(a) for a in w["aliases"]] for w in defaults["watch"]}
    by_id = {a.id: a for a in articles()}
    for entry in truth():
        article = by_id[entry["id"]]
        text = article.title + "\n" + article.body
        found = sorted(name for name, pats in patterns.items() if any(p.search(text) for p in pats))
        assert found == sorted(entry["entities"]), entry["id"]
    trap = by_id["drivelines-su75-loader"]
    assert "SU75" in trap.body and not _alias_pattern("SU7").search(trap.body)


def test_every_truth_article_is_served_as_described(web: DemoWeb, client: httpx.Client) -> None:
    for entry in web.truth():
        url = web.url(entry["outlet"], entry["path"])
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith("text/html"), url
        assert response.headers["etag"] and response.headers["last-modified"]
        html = _decode(web, entry["outlet"], response.content)
        page = _parse(html)
        assert page.meta["article:published_time"][:10] == entry["published"], url
        assert entry["title"] in page.title
        original = entry["duplicate_of"] or entry["id"]
        assert page.canonical == web.article_url(original), url


def test_syndicated_copy_repeats_the_original_body(web: DemoWeb, client: httpx.Client) -> None:
    copies = [e for e in web.truth() if e["duplicate_of"]]
    assert copies
    for copy in copies:
        texts = []
        for article_id in (copy["id"], copy["duplicate_of"]):
            html = client.get(web.article_url(article_id)).text
            texts.append(trafilatura.extract(html, include_comments=False))
        assert texts[0] and texts[0] == texts[1]


def test_tracking_parameters_serve_the_same_page(web: DemoWeb, client: httpx.Client) -> None:
    url = web.article_url("evwire-xiaomi-su7-launch")
    plain = client.get(url)
    tracked = client.get(url + "?utm_source=newsletter&utm_medium=email&fbclid=abc")
    assert tracked.status_code == 200 and tracked.content == plain.content
    assert tracked.headers["etag"] == plain.headers["etag"]


@pytest.mark.parametrize("outlet", ["evwire", "drivelines", "autoblog-it", "qiche"])
def test_entry_documents_answer_304_on_a_second_conditional_get(
        web: DemoWeb, client: httpx.Client, outlet: str) -> None:
    url = web.url(outlet, web.outlet(outlet).entry_path)
    first = client.get(url)
    assert first.status_code == 200 and first.content
    again = client.get(url, headers={"If-None-Match": first.headers["etag"],
                                     "If-Modified-Since": first.headers["last-modified"]})
    by_date = client.get(url, headers={"If-Modified-Since": first.headers["last-modified"]})
    assert again.status_code == 304 and by_date.status_code == 304


def test_rss_feed_parses_and_links_every_article(web: DemoWeb, client: httpx.Client) -> None:
    feed = feedparser.parse(client.get(web.url("evwire", "/feed.xml")).content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "rss20"
    expected = {web.url("evwire", e["path"]) for e in web.truth() if e["outlet"] == "evwire"}
    assert {entry.link for entry in feed.entries} == expected
    for entry in feed.entries:
        assert entry.published_parsed and entry.id == entry.link and entry.author


def test_atom_feed_links_the_syndicated_copy_with_tracking(web: DemoWeb,
                                                           client: httpx.Client) -> None:
    feed = feedparser.parse(client.get(web.url("drivelines", "/atom.xml")).content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    links = {e.link for e in feed.entries}
    expected = {web.url("drivelines", e["path"]) for e in web.truth()
                if e["outlet"] == "drivelines"}
    assert {link.split("?")[0] for link in links} == expected
    tracked = [link for link in links if "utm_source=" in link]
    assert len(tracked) == 1
    copy = next(e for e in web.truth() if e["duplicate_of"])
    assert urlsplit(tracked[0]).path == copy["path"]
    assert client.get(tracked[0]).content == client.get(tracked[0].split("?")[0]).content


def test_sitemap_index_leads_to_a_news_sitemap_of_the_italian_articles(
        web: DemoWeb, client: httpx.Client) -> None:
    index = ET.fromstring(client.get(web.url("autoblog-it", "/sitemap.xml")).content)
    assert index.tag == f"{{{SITEMAP_NS['sm']}}}sitemapindex"
    children = [loc.text or "" for loc in index.findall("sm:sitemap/sm:loc", SITEMAP_NS)]
    assert len(children) == 1
    news = ET.fromstring(client.get(children[0]).content)
    urls = news.findall("sm:url", SITEMAP_NS)
    expected = {web.url("autoblog-it", e["path"]): e for e in web.truth() if e["lang"] == "it"}
    assert {u.findtext("sm:loc", namespaces=SITEMAP_NS) for u in urls} == set(expected)
    for u in urls:
        entry = expected[u.findtext("sm:loc", namespaces=SITEMAP_NS) or ""]
        published = u.findtext("news:news/news:publication_date", namespaces=SITEMAP_NS) or ""
        assert published[:10] == entry["published"]
        assert u.findtext("news:news/news:title", namespaces=SITEMAP_NS) == entry["title"]
        assert u.findtext("news:news/news:publication/news:language",
                          namespaces=SITEMAP_NS) == "it"
        assert u.findtext("sm:lastmod", namespaces=SITEMAP_NS)


def test_gbk_outlet_declares_no_charset_anywhere(web: DemoWeb, client: httpx.Client) -> None:
    entry = next(e for e in web.truth() if e["outlet"] == "qiche")
    for path in ("/news/", entry["path"], "/about.html"):
        response = client.get(web.url("qiche", path))
        assert response.headers["content-type"] == "text/html"
        with pytest.raises(UnicodeDecodeError):
            response.content.decode("utf-8")
        html = response.content.decode("gbk")
        assert "charset" not in html.lower()
        assert "汽车资讯网" in html
    article = client.get(web.url("qiche", entry["path"])).content.decode("gbk")
    assert entry["title"] in article


def test_listing_page_links_articles_and_other_pages(web: DemoWeb, client: httpx.Client) -> None:
    listing_url = web.url("qiche", "/news/")
    page = _parse(client.get(listing_url).content.decode("gbk"))
    internal = {urljoin(listing_url, h) for h in page.hrefs if not h.startswith("http")}
    articles_here = {web.url("qiche", e["path"]) for e in web.truth() if e["outlet"] == "qiche"}
    bare = {u.split("?")[0] for u in internal}
    assert articles_here <= bare
    assert any("utm_source=" in u for u in internal)  # the hot box: same article, tracked
    others = bare - articles_here
    article_shape = re.compile(r"/news/\d{8}/\d+\.html$")
    for path in ("/about.html", "/contact.html", "/channel/xinnengyuan.html"):
        assert web.url("qiche", path) in others
    robots = urllib.robotparser.RobotFileParser()
    robots.parse(client.get(web.url("qiche", "/robots.txt")).text.splitlines())
    private = [u for u in others if not robots.can_fetch("tidings", u)]
    assert private, "the listing should tempt crawlers with a robots-forbidden link"
    for url in others - set(private):
        if url.rstrip("/") != web.url("qiche", "").rstrip("/"):
            assert client.get(url).status_code == 200, url
    assert all(article_shape.search(u) for u in articles_here)
    assert not any(article_shape.search(u) for u in others - set(private))


def test_every_outlet_serves_robots_txt(web: DemoWeb, client: httpx.Client) -> None:
    for outlet in web.outlets:
        response = client.get(web.url(outlet.name, "/robots.txt"))
        assert response.status_code == 200
        robots = urllib.robotparser.RobotFileParser()
        robots.parse(response.text.splitlines())
        assert robots.can_fetch("tidings", web.url(outlet.name, outlet.entry_path))
        assert not robots.can_fetch("tidings", web.url(outlet.name, "/private/x.html"))


@pytest.mark.parametrize("article_id", ["evwire-xiaomi-su7-launch", "drivelines-nio-onvo-l60",
                                        "autoblog-baic-arriva-italia", "qiche-xiaomi-yizhuang"])
def test_trafilatura_strips_the_boilerplate(web: DemoWeb, client: httpx.Client,
                                            article_id: str) -> None:
    article = next(a for a in articles() if a.id == article_id)
    html = _decode(web, article.outlet, client.get(web.article_url(article_id)).content)
    text = trafilatura.extract(html, include_comments=False) or ""
    paragraphs = [p for p in article.body.split("\n\n") if p.strip()]
    assert paragraphs[0].strip()[:60] in text and paragraphs[-1].strip()[-60:] in text
    for junk in ("cookie", "Cookie", "ADVERTISEMENT", "Pubblicità", "广告", "Related stories",
                 "Read next", "相关阅读", "Potrebbe interessarti", "Range anxiety", "gearhead_77",
                 "Lascia un commento", "期待早日量产", "newsletter", "Newsletter"):
        assert junk not in text, (article_id, junk)


def test_config_toml_is_a_valid_tidings_config(web: DemoWeb, tmp_path: Path) -> None:
    from pipeline.config import load_config

    path = tmp_path / "demo.toml"
    path.write_text(web.config_toml(str(tmp_path / "demo.db")), encoding="utf-8")
    config = load_config(path, env={})
    assert [s.name for s in config.sources] == [o.name for o in web.outlets]
    assert {s.kind for s in config.sources} == {"feed", "sitemap", "page"}
    assert config.fetch.host_delay == 0.05 and config.fetch.robots is True
    assert all(s.url.startswith("http://127.0.0.1:") for s in config.sources)
    assert "[[watch]]" not in path.read_text("utf-8")


def test_now_hides_articles_published_later_and_advance_publishes_them(
        client: httpx.Client) -> None:
    today = date(2026, 11, 28)
    entries = truth(today)
    cutoff = datetime.fromisoformat(sorted(e["published"] for e in entries)[-3]).replace(
        tzinfo=UTC) + timedelta(days=1)
    with DemoWeb(now=cutoff, today=today) as early:
        later = [e for e in entries if e["published"] > cutoff.date().isoformat()]
        assert later and len(early.published()) == len(entries) - len(later)
        feed_url = early.url("evwire", "/feed.xml")
        first = client.get(feed_url)
        assert client.get(early.url(later[0]["outlet"], later[0]["path"])).status_code == 404
        appeared = early.advance(datetime(2030, 1, 1, tzinfo=UTC))
        assert {e["id"] for e in appeared} == {e["id"] for e in later}
        assert client.get(early.url(later[0]["outlet"], later[0]["path"])).status_code == 200
        refreshed = client.get(feed_url, headers={"If-None-Match": first.headers["etag"]})
        assert refreshed.status_code == 200
        assert len(feedparser.parse(refreshed.content).entries) > \
            len(feedparser.parse(first.content).entries)


def test_articles_are_dated_relative_to_today_keeping_order_and_spacing(
        client: httpx.Client) -> None:
    """The newest article was published the day before the web runs; every other one
    keeps its distance to it, and the dates in URLs move with the dates."""
    written = {a.id: a for a in articles()}
    for today in (date(2026, 11, 28), date(2031, 2, 1)):
        with DemoWeb(today=today) as web:
            entries = web.truth()
            newest = max(entries, key=lambda e: e["published"])
            assert newest["published"] == (today - timedelta(days=1)).isoformat()
            shift = date.fromisoformat(newest["published"]) - \
                written[newest["id"]].published.date()
            for entry in entries:
                article = written[entry["id"]]
                assert entry["published"] == (article.published.date() + shift).isoformat()
                page = client.get(web.url(entry["outlet"], entry["path"]))
                assert page.status_code == 200, entry["path"]
                html = _decode(web, entry["outlet"], page.content)
                meta = _parse(html).meta["article:published_time"]
                assert datetime.fromisoformat(meta) == article.published + shift
                written_dates = re.findall(r"\d{4}[/-]?\d\d[/-]?\d\d", article.path)
                if written_dates:  # the URL says the new date too
                    assert entry["path"] != article.path
                    assert re.sub(r"\D", "", re.findall(r"\d{4}[/-]?\d\d[/-]?\d\d",
                                                        entry["path"])[0]) == \
                        entry["published"].replace("-", "")
            stamps = [datetime.fromisoformat(_parse(_decode(
                web, e["outlet"], client.get(web.url(e["outlet"], e["path"])).content)).meta[
                "article:published_time"]) for e in entries]
            gaps = [b - a for a, b in itertools.pairwise(sorted(stamps))]
            originals = sorted(a.published for a in written.values())
            assert gaps == [b - a for a, b in itertools.pairwise(originals)]
