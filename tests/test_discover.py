"""Finding article links in what sources publish: real feeds, sitemaps, listing pages."""

from __future__ import annotations

import re

import pytest

from pipeline import charset
from pipeline.discover import discover, looks_like_article, parse_listing
from pipeline.errors import FeedError

from .fixtures_http import CorpusFile, decoded, feeds, pages

# feed file → (links at least, a title that must be among them)
FEEDS = {
    "qq-news-china-gb2312": (20, "习近平谈抗战：牢记历史是要以史为鉴、面向未来"),
    "acnnewswire-gb2312": (8, "亚洲开发银行新闻稿亚行贷款力推中国河南省海河流域环境污染治理"),
    "guardian-us": (50, "Trump State of the Union address promised unity but emphasized discord"),
    "physorg-scitech": (30, "SuperBIT: A low-cost, balloon-borne telescope to rival Hubble"),
    "npr-technology": (25, "Keller Rinaudo: How can delivery drones save lives?"),
    "heise-newsticker-rdf": (60, "Mega-Deal: IBM übernimmt Red Hat"),
    "golem-iso-8859-1": (40, "Let's Play: Twitch will Streamer zusammen spielen und singen lassen"),
    "heise-developer-atom": (15, "Java-Anwendungsserver: Red Hat gibt WildFly 10 frei"),
    "ansa-generated-it": (10, "Riflettori sul Super-G, a Bormio Franzoni e Paris ci riprovano"),
}


@pytest.mark.parametrize("item", feeds(), ids=lambda f: f"{f.kind.split()[0]}:{f.name}")
def test_every_corpus_feed_parses_to_titled_links(item: CorpusFile) -> None:
    minimum, title = FEEDS[item.name]
    text = decoded(item.path)[0]
    found = discover("feed", text, "http://127.0.0.1/feed")
    assert len(found.links) >= minimum
    assert all(link.title and link.title.strip() == link.title for link in found.links)
    assert all(link.url.startswith(("http://", "https://")) for link in found.links)
    assert title in {link.title for link in found.links}
    assert len({link.url for link in found.links}) == len(found.links)


def test_dated_feeds_give_iso_dates() -> None:
    text = decoded("feeds/qq-news-china-gb2312.xml")[0]  # "2018-09-18 14:38:10", no zone
    found = discover("feed", text, "http://news.qq.com/")
    assert found.links[0].published == "2018-09-18T14:38:10+00:00"
    guardian = discover("feed", decoded("feeds/guardian-us.xml")[0], "https://theguardian.com")
    assert all(re.match(r"\d{4}-\d\d-\d\dT", link.published or "") for link in guardian.links)


def test_gb2312_feed_titles_come_out_in_chinese() -> None:
    raw = (pages()[0].file.parent.parent.parent / "feeds/qq-news-china-gb2312.xml").read_bytes()
    text, used, _ = charset.decode(raw, "application/rss+xml")  # no charset in the header
    assert used == "gb18030"
    titles = [link.title or "" for link in discover("feed", text, "http://news.qq.com/").links]
    assert "习近平为何如此强调崇尚英雄？" in titles
    assert all(re.search("[\u4e00-\u9fff]", t) for t in titles)


TRACKED = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>A</title><link>https://example.com/news/a-b-c.html?utm_source=rss&amp;utm_medium=feed&amp;id=7</link></item>
<item><title>B</title><link>https://example.com/news/x.html?WT.mc_id=abc&amp;wt_mc=rss.feed&amp;fbclid=1&amp;spm=a2c</link></item>
<item><title>C</title><link>https://example.com/news/y.html#comments</link></item>
</channel></rss>"""


def test_tracking_parameters_are_removed_from_feed_links() -> None:
    urls = [link.url for link in discover("feed", TRACKED, "https://example.com/").links]
    assert urls == ["https://example.com/news/a-b-c.html?id=7",
                    "https://example.com/news/x.html",
                    "https://example.com/news/y.html"]


SITEMAP_INDEX = """<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://example.com/sitemap-2024-04.xml</loc><lastmod>2024-04-30</lastmod></sitemap>
  <sitemap><loc>/sitemap-2024-05.xml.gz</loc><lastmod>2024-05-31T10:00:00+02:00</lastmod></sitemap>
</sitemapindex>"""

NEWS_SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>https://example.com/2024/05/01/xiaomi-su7.html?utm_campaign=x</loc>
    <news:news><news:publication><news:name>Ex</news:name><news:language>en</news:language>
      </news:publication>
      <news:publication_date>2024-05-01T09:30:00+08:00</news:publication_date>
      <news:title>Xiaomi SU7 deliveries pass 10,000</news:title></news:news></url>
  <url><loc>https://example.com/2024/05/02/baic-arcfox.html</loc>
    <news:news><news:publication_date>2024-05-02</news:publication_date>
      <news:title>北汽极狐新工厂投产</news:title></news:news></url>
</urlset>"""


def test_sitemap_index_gives_children_newest_first() -> None:
    found = discover("sitemap", SITEMAP_INDEX, "https://example.com/sitemap.xml")
    assert found.links == []
    assert found.child_sitemaps == ["https://example.com/sitemap-2024-05.xml.gz",
                                    "https://example.com/sitemap-2024-04.xml"]


def test_news_sitemap_gives_titles_and_dates() -> None:
    found = discover("sitemap", NEWS_SITEMAP, "https://example.com/news-sitemap.xml")
    assert [(link.url, link.title, link.published) for link in found.links] == [
        ("https://example.com/2024/05/02/baic-arcfox.html", "北汽极狐新工厂投产",
         "2024-05-02T00:00:00+00:00"),
        ("https://example.com/2024/05/01/xiaomi-su7.html", "Xiaomi SU7 deliveries pass 10,000",
         "2024-05-01T01:30:00+00:00"),
    ]


@pytest.mark.parametrize("text", ["", "<html><body>Not found</body></html>", "garbage {{"],
                         ids=["empty", "html", "garbage"])
def test_what_is_not_a_sitemap_is_a_feed_error(text: str) -> None:
    with pytest.raises(FeedError):
        discover("sitemap", text, "https://example.com/sitemap.xml")


# ------------------------------------------------------------------ listing pages

# name → (base URL: the page's canonical, or where MANIFEST notes say it was captured,
#         links at least, an article URL that must be found (prefix), URLs that must not)
LISTINGS = {
    "list-cnn-homepage": ("http://edition.cnn.com/", 150,
                          ("http://edition.cnn.com/2014/07/24/world/europe/"
                          "ukraine-malaysia-airlines-crash/index.html"),
                          ["http://edition.cnn.com/interactive_legal.html"]),
    "list-yahoo-uk-homepage": ("https://uk.yahoo.com/", 15,
                               "http://uk.news.yahoo.com/mh17-parents-living-hell-beyond-hell",
                               []),
    "list-corriere-mezzogiorno-bari-cronaca": (
        "http://corrieredelmezzogiorno.corriere.it/bari/notizie/cronaca/", 20,
        "http://corrieredelmezzogiorno.corriere.it/bari/notizie/cronaca/2014/8-novembre-2014/",
        [("http://corrieredelmezzogiorno.corriere.it/bari/notizie/archivio/cronaca/"
         "archivio_cronaca_1.shtml"),
         "http://corrieredelmezzogiorno.corriere.it/bari/aziende/categorie/AVVOCATI.html"]),
    "list-quotidianodipuglia-search": ("http://www.quotidianodipuglia.it/", 50,
                                       "http://www.quotidianodipuglia.it/attualita/", []),
    "list-gobari-cronaca": ("http://go-bari.it/notizie/cronaca/.html", 20,
                            ("http://go-bari.it/notizie/cronaca/26214-incidente-stradale-a-"
                            "barletta-un-morto.html"), []),
    "list-bari-repubblica-cronaca": ("http://bari.repubblica.it/cronaca/", 12,
                                     ("http://bari.repubblica.it/cronaca/2014/11/10/news/"
                                     "incidente_al_porto-100233400/"),
                                     [("http://bari.repubblica.it/static/rep-locali/rep-bari/"
                                      "includes/2013-v1/sthome.html")]),
    "list-qq-homepage-2018": ("http://www.qq.com/", 200, "http://new.qq.com/omn/20180913/",
                              ["http://www.qq.com/contract.shtml",
                               "http://www.qq.com/copyright.shtml"]),
    "list-163-rolling-news": ("http://news.163.com/latest/", 25,
                              "https://news.163.com/20/0816/22/FK6F0U6D0001899O.html", []),
    "list-tencent-news-center": ("https://new.qq.com/ch/top/", 20,
                                 "https://new.qq.com/omn/20200704/", []),
}
_ARTICLE_SHAPE = re.compile(r"\d{4}|\d{5,}|[a-z0-9]+[-_][a-z0-9]+[-_][a-z0-9]+", re.IGNORECASE)


@pytest.mark.parametrize("item", [p for p in pages() if p.name.startswith("list-")],
                         ids=lambda p: p.name)
def test_listing_page_gives_article_links(item: CorpusFile) -> None:
    base, minimum, must, must_not = LISTINGS[item.name]
    found = parse_listing(decoded(item.path)[0], base)
    urls = [link.url for link in found.links]
    assert len(urls) >= minimum
    assert any(url.startswith(must) for url in urls), must
    for url in must_not:
        assert url not in urls
    shaped = sum(1 for url in urls if _ARTICLE_SHAPE.search(url.split("//", 1)[1]))
    assert shaped / len(urls) >= 0.9
    titled = sum(1 for link in found.links if link.title)
    assert titled / len(urls) >= 0.9
    assert not any("utm_" in url or "#" in url for url in urls)


@pytest.mark.parametrize(("url", "expected"), [
    ("https://example.com/2024/05/01/xiaomi-su7/", True),
    ("https://example.com/news/xiaomi-opens-second-factory", True),
    ("https://example.com/a/20240501/012345.htm", True),
    ("https://example.com/2014/07/24/world/crash/index.html", True),
    ("https://news.example.com/world/a-b-c.html", True),
    ("https://example.com/", False),
    ("https://example.com/index.html", False),
    ("https://example.com/news/index.html", False),
    ("https://example.com/category/auto/", False),
    ("https://example.com/tag/xiaomi", False),
    ("https://example.com/about/our-news-team", False),
    ("https://example.com/author/jane-doe-smith", False),
    ("https://example.com/contract.shtml", False),
    ("https://example.com/images/2024/05/01/photo-of-car.jpg", False),
    ("https://other.org/2024/05/01/xiaomi-su7/", False),
    ("mailto:news@example.com", False),
])
def test_looks_like_article(url: str, expected: bool) -> None:
    assert looks_like_article(url, "https://www.example.com/news/") is expected


def test_child_sitemap_urls_keep_their_query() -> None:
    """Tracking parameters are stripped from article links, not from child sitemaps, whose
    `?from=…` or `?ref=…` may be what selects them."""
    index = SITEMAP_INDEX.replace("/sitemap-2024-05.xml.gz", "/sitemap.xml?from=2024-05&amp;ref=a")
    found = discover("sitemap", index, "https://example.com/sitemap.xml")
    assert "https://example.com/sitemap.xml?from=2024-05&ref=a" in found.child_sitemaps
