"""The fetch stage against a real HTTP server on 127.0.0.1 that fails the way real sites do.

Each test serves a tiny site with `pipeline.demo.server.SiteServer`, fetches through a real
`Fetcher` + httpx client, and asserts on what a user would notice: the text that came out,
the error raised, how many requests the site saw, how long the politeness rules took, and
the request log (one `FetchRecord` per HTTP request, the `fetches` table's rows).
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import threading
import time
from datetime import UTC, datetime

import pytest

from pipeline.demo.server import ConnectionAbort, RequestInfo, Resource, SiteServer
from pipeline.discover import discover
from pipeline.errors import (
    FeedError,
    HTTPStatusError,
    NotHTML,
    RobotsDisallowed,
    TooManyRedirects,
    TransportError,
)
from pipeline.fetch import Fetcher, FetchRecord

from .fixtures_http import CORPUS, fetch_config, fetch_one, settled, with_fetcher

ARTICLE = ("<!DOCTYPE html><html><head><title>Xiaomi opens its second car factory</title>"
           "</head><body><article><h1>Xiaomi opens its second car factory</h1>"
           "<p>Xiaomi said on Monday that its second EV plant in Beijing is ready.</p>"
           "</article></body></html>")


def html(text: str = ARTICLE, *, status: int = 200, **kw: object) -> Resource:
    return Resource(text.encode("utf-8"), status=status, **kw)  # type: ignore[arg-type]


class Counter:
    """A handler's own request counter: counts on arrival, before any sleep."""

    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def bump(self) -> int:
        with self.lock:
            self.n += 1
            return self.n


# ------------------------------------------------------------------------------ retries

def test_500_then_success_is_retried_and_logged_twice() -> None:
    with SiteServer({"/a.html": lambda req: html("boom", status=500) if req.count == 1
                     else html()}) as site:
        out = fetch_one(site.url("/a.html"))
    assert out.error is None
    assert out.fetched is not None and out.fetched.page is not None
    assert "second EV plant" in out.fetched.page.text
    assert [r.status for r in out.records] == [500, 200]
    assert out.records[0].error == "HTTP 500"
    assert out.records[1].error is None


def test_503_forever_gives_up_after_retries_plus_one_attempts() -> None:
    with SiteServer({"/down.html": html("busy", status=503)}) as site:
        url = site.url("/down.html")
        out = fetch_one(url, retries=3)
        seen = settled(site).count("/down.html")
    assert isinstance(out.error, HTTPStatusError)
    assert out.error.status == 503
    assert "503" in str(out.error)
    assert out.error.url == url and out.error.source == "test"
    assert seen == 4
    assert [r.status for r in out.records] == [503] * 4


def test_429_retry_after_is_honoured() -> None:
    with SiteServer({"/rate.html": lambda req: html("slow down", status=429,
                                                    headers={"Retry-After": "1"})
                     if req.count == 1 else html()}) as site:
        out = fetch_one(site.url("/rate.html"), max_retry_wait=5, backoff=0.01)
        first, second = list(settled(site).requests_for("/rate.html"))
    assert out.error is None and out.fetched is not None
    assert [r.status for r in out.records] == [429, 200]
    waited = (second.at - first.at).total_seconds()
    assert waited >= 0.9, f"retried after {waited:.2f} s, Retry-After said 1 s"


def test_retry_after_longer_than_max_retry_wait_is_capped() -> None:
    """A site asking for an hour must not stall the pass: the wait is capped."""
    with SiteServer({"/rate.html": lambda req: html("later", status=429,
                                                    headers={"Retry-After": "3600"})
                     if req.count == 1 else html()}) as site:
        out = fetch_one(site.url("/rate.html"), max_retry_wait=0.2)
    assert out.error is None
    assert out.seconds < 2


def test_page_slower_than_the_timeout_is_a_retried_transport_error() -> None:
    arrivals = Counter()

    def slow(req: RequestInfo) -> Resource:
        arrivals.bump()
        time.sleep(1.5)
        return html()

    with SiteServer({"/slow.html": slow}) as site:
        out = fetch_one(site.url("/slow.html"), timeout=0.3, retries=1)
    assert isinstance(out.error, TransportError)
    assert "timed out" in str(out.error)
    assert arrivals.n == 2  # the first attempt and one retry
    assert len(out.records) == 2
    assert all(r.status is None and "timed out" in (r.error or "") for r in out.records)
    assert out.seconds < 1.5  # each attempt was cut at the timeout, not waited out


def test_slow_first_answer_then_fast_succeeds() -> None:
    def slow_once(req: RequestInfo) -> Resource:
        if req.count == 1:
            time.sleep(1.0)
        return html()

    with SiteServer({"/slow.html": slow_once}) as site:
        out = fetch_one(site.url("/slow.html"), timeout=0.3)
    assert out.error is None and out.fetched is not None and out.fetched.page is not None
    assert [r.status for r in out.records] == [None, 200]


def test_dropped_connection_is_retried() -> None:
    def drop_once(req: RequestInfo) -> Resource:
        if req.count == 1:
            raise ConnectionAbort
        return html()

    with SiteServer({"/drop.html": drop_once}) as site:
        out = fetch_one(site.url("/drop.html"))
    assert out.error is None and out.fetched is not None and out.fetched.page is not None
    assert len(out.records) == 2
    assert out.records[0].status is None and out.records[0].error
    assert out.records[1].status == 200


def test_connection_refused_is_a_transport_error() -> None:
    site = SiteServer().start()
    url = site.url("/gone.html")
    site.stop()
    out = fetch_one(url, retries=1)
    assert isinstance(out.error, TransportError)
    assert len(out.records) == 2


@pytest.mark.parametrize("status", [404, 403, 410], ids=lambda s: f"HTTP{s}")
def test_client_errors_are_not_retried(status: int) -> None:
    with SiteServer({"/x.html": html("no", status=status)}) as site:
        out = fetch_one(site.url("/x.html"), retries=3)
        seen = settled(site).count("/x.html")
    assert isinstance(out.error, HTTPStatusError)
    assert out.error.status == status
    assert seen == 1
    assert len(out.records) == 1 and out.records[0].status == status


def test_unrouted_path_is_a_404_without_retry() -> None:
    with SiteServer({}) as site:
        out = fetch_one(site.url("/missing.html"))
        assert settled(site).count("/missing.html") == 1
    assert isinstance(out.error, HTTPStatusError) and out.error.status == 404


# ------------------------------------------------------------------------------ size caps

def test_body_larger_than_max_bytes_is_cut_and_reported() -> None:
    paragraph = "<p>" + "Xiaomi builds cars in Beijing. " * 40 + "</p>\n"
    big = "<html><head><title>Big</title></head><body>" + paragraph * 200 + "THE-END</body></html>"
    assert len(big) > 200_000
    with SiteServer({"/big.html": html(big)}) as site:
        out = fetch_one(site.url("/big.html"), max_bytes=4096)
    assert out.fetched is not None and out.fetched.page is not None
    page = out.fetched.page
    assert page.truncated
    assert len(page.text.encode("utf-8")) <= 4096
    assert page.text.startswith("<html><head><title>Big")
    assert "THE-END" not in page.text
    (record,) = out.records
    assert record.status == 200 and record.bytes <= 4096
    assert "max_bytes" in (record.error or "")


def test_body_within_max_bytes_is_not_truncated() -> None:
    with SiteServer({"/a.html": html()}) as site:
        out = fetch_one(site.url("/a.html"), max_bytes=4096)
    assert out.fetched is not None and out.fetched.page is not None
    assert not out.fetched.page.truncated
    assert out.records[0].error is None


def test_truncated_utf8_chinese_page_without_declaration_stays_utf8() -> None:
    """Cut at max_bytes in the middle of a multi-byte character: still read as UTF-8."""
    body = ("<html><head><title>小米汽车</title></head><body>"
            + "<p>小米汽车北京工厂二期正式投产，年产能十五万辆。</p>" * 400
            + "</body></html>").encode("utf-8")
    cut = 4096
    while body[cut - 1] < 0x80 or body[cut] < 0x80 or (body[cut] & 0xC0) != 0x80:
        cut += 1  # make the cut fall inside a character
    with SiteServer({"/zh.html": Resource(body, "text/html")}) as site:
        out = fetch_one(site.url("/zh.html"), max_bytes=cut)
    assert out.fetched is not None and out.fetched.page is not None
    page = out.fetched.page
    assert page.truncated
    assert page.charset == "utf-8"
    assert "小米汽车北京工厂二期正式投产" in page.text


# ------------------------------------------------------------------------------ redirects

def test_redirect_chain_is_followed_with_a_record_per_hop() -> None:
    with SiteServer({
        "/old": Resource(b"", status=301, headers={"Location": "/moved"}, etag=False),
        "/moved": Resource(b"", status=302, headers={"Location": "/final.html?utm_source=x"},
                           etag=False),
        "/final.html": html(),
    }) as site:
        old, moved, final = site.url("/old"), site.url("/moved"), site.url("/final.html")
        out = fetch_one(old)
    assert out.error is None and out.fetched is not None and out.fetched.page is not None
    assert out.fetched.url == old
    assert out.fetched.final_url.startswith(final)
    assert [r.status for r in out.records] == [301, 302, 200]
    assert [r.url for r in out.records][:2] == [old, moved]


def test_redirect_loop_raises_too_many_redirects() -> None:
    with SiteServer({
        "/a": Resource(b"", status=302, headers={"Location": "/b"}, etag=False),
        "/b": Resource(b"", status=302, headers={"Location": "/a"}, etag=False),
    }) as site:
        out = fetch_one(site.url("/a"), max_redirects=4)
        seen = settled(site).count("/a") + settled(site).count("/b")
    assert isinstance(out.error, TooManyRedirects)
    assert "4 redirects" in str(out.error)
    assert seen == 5  # the first request and four redirects followed, then it stopped
    assert len(out.records) == 5


# ------------------------------------------------------------------------------ robots.txt

def test_path_disallowed_by_robots_is_never_requested() -> None:
    robots = "User-agent: *\nDisallow: /private/\n"
    with SiteServer({"/robots.txt": Resource(robots.encode(), "text/plain"),
                     "/private/secret.html": html(), "/news/ok.html": html()}) as site:
        cfg = fetch_config(robots=True)
        blocked = fetch_one(site.url("/private/secret.html"), config=cfg)
        allowed = fetch_one(site.url("/news/ok.html"), config=cfg)
        assert settled(site).count("/private/secret.html") == 0
        assert settled(site).count("/news/ok.html") == 1
    assert isinstance(blocked.error, RobotsDisallowed)
    assert "robots.txt" in str(blocked.error)
    assert allowed.error is None


@pytest.mark.parametrize(("robots", "path", "allowed"), [
    ("User-agent: *\nAllow: /\nDisallow: /private/\n", "/private/a.html", False),
    ("User-agent: *\nDisallow: /private/\nAllow: /private/public.html\n",
     "/private/public.html", True),
    ("User-agent: *\nDisallow: /*.pdf$\n", "/files/report.pdf", False),
    ("User-agent: *\nDisallow: /*.pdf$\n", "/files/report.pdf.html", True),
    ("User-agent: *\nDisallow: /*?print=\n", "/news/a.html?print=1", False),
    ("User-agent: *\nDisallow: /\n\nUser-agent: tidings-test\nAllow: /\n", "/a.html", True),
    ("User-agent: *\nAllow: /\n\nUser-agent: Tidings-Test\nDisallow: /news\n",
     "/news/a.html", False),
    ("User-agent: *\nDisallow:\n", "/a.html", True),
], ids=["longest-match-wins-over-earlier-allow", "longer-allow-wins", "wildcard-and-end",
        "end-anchor-not-matched", "query-wildcard", "our-group-beats-star",
        "our-group-case-insensitive", "empty-disallow-allows-all"])
def test_robots_rules_follow_rfc_9309(robots: str, path: str, allowed: bool) -> None:
    bare = path.split("?", 1)[0]
    with SiteServer({"/robots.txt": Resource(robots.encode(), "text/plain"),
                     bare: html()}) as site:
        out = fetch_one(site.url(path), robots=True)
        requested = settled(site).count(bare)
    if allowed:
        assert out.error is None, out.error
        assert requested == 1
    else:
        assert isinstance(out.error, RobotsDisallowed)
        assert requested == 0


def test_missing_robots_txt_allows_everything() -> None:
    with SiteServer({"/a.html": html()}) as site:
        out = fetch_one(site.url("/a.html"), robots=True)
        assert settled(site).count("/robots.txt") == 1
    assert out.error is None and out.fetched is not None
    assert [r.status for r in out.records] == [404, 200]
    assert out.records[0].kind == "robots"


def test_robots_txt_server_error_means_the_host_is_not_crawled() -> None:
    with SiteServer({"/robots.txt": Resource(b"oops", "text/plain", status=500),
                     "/a.html": html()}) as site:
        cfg = fetch_config(robots=True, retries=1)

        async def two(fetcher: Fetcher, records: list[FetchRecord]) -> list[object]:
            out: list[object] = []
            for path in ("/a.html", "/b.html"):
                try:
                    out.append(await fetcher.fetch(site.url(path), source="s", kind="article"))
                except RobotsDisallowed as exc:
                    out.append(exc)
            return out

        results = asyncio.run(with_fetcher(cfg, two))
        assert settled(site).count("/a.html") == 0
        assert settled(site).count("/robots.txt") == 2  # one attempt + one retry, then remembered
    for result in results:
        assert isinstance(result, RobotsDisallowed)
        message = str(result)
        assert "robots.txt" in message and "500" in message and "not crawling" in message


def test_robots_disabled_fetches_disallowed_paths() -> None:
    with SiteServer({"/robots.txt": Resource(b"User-agent: *\nDisallow: /\n", "text/plain"),
                     "/a.html": html()}) as site:
        out = fetch_one(site.url("/a.html"), robots=False)
        assert settled(site).count("/robots.txt") == 0
    assert out.error is None


def test_robots_txt_is_fetched_once_per_host_per_pass() -> None:
    with SiteServer({"/robots.txt": Resource(b"User-agent: *\nAllow: /\n", "text/plain"),
                     "/a.html": html(), "/b.html": html()}) as site:
        cfg = fetch_config(robots=True)

        async def many(fetcher: Fetcher, records: list[FetchRecord]) -> None:
            await asyncio.gather(*(fetcher.fetch(site.url(p), source="s", kind="article")
                                   for p in ("/a.html", "/b.html", "/a.html")))

        asyncio.run(with_fetcher(cfg, many))
        assert settled(site).count("/robots.txt") == 1


# ------------------------------------------------------------------------------ content types

def test_malformed_feed_raises_feed_error_from_discover() -> None:
    broken = b"<?xml version='1.0'?><rss version='2.0'><channel><title>x</title><item>\x00<<"
    with SiteServer({"/feed.xml": Resource(broken, "application/rss+xml")}) as site:
        out = fetch_one(site.url("/feed.xml"), kind="feed")
    assert out.fetched is not None and out.fetched.page is not None
    with pytest.raises(FeedError, match="malformed feed"):
        discover("feed", out.fetched.page.text, out.fetched.final_url)


@pytest.mark.parametrize("body", [
    "<html><head><title>Service unavailable</title></head><body><h1>Try later</h1></body></html>",
    "",
    '{"version": "https://jsonfeed.org/version/1", "items": 5}',
    '{"version": "https://jsonfeed.org/version/1", "items": ["not an item"]}',
], ids=["html-error-page", "empty-body", "json-items-not-a-list", "json-item-not-an-object"])
def test_what_is_not_a_feed_is_a_feed_error(body: str) -> None:
    with pytest.raises(FeedError):
        discover("feed", body, "http://127.0.0.1/feed")


def test_pdf_is_skipped_with_a_reason_without_reading_the_body() -> None:
    pdf = b"%PDF-1.7\n" + b"0" * 2_000_000
    with SiteServer({"/report.pdf": Resource(pdf, "application/pdf")}) as site:
        out = fetch_one(site.url("/report.pdf"))
    assert isinstance(out.error, NotHTML)
    assert "application/pdf" in str(out.error)
    (record,) = out.records
    assert record.status == 200 and record.bytes == 0
    assert "application/pdf" in (record.error or "")


def test_pdf_without_content_type_is_sniffed_and_skipped() -> None:
    with SiteServer({"/report": Resource(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "")}) as site:
        out = fetch_one(site.url("/report"))
    assert isinstance(out.error, NotHTML)
    assert "not HTML" in str(out.error)


def test_image_is_not_html() -> None:
    with SiteServer({"/a.png": Resource(b"\x89PNG\r\n\x1a\n", "image/png")}) as site:
        out = fetch_one(site.url("/a.png"))
    assert isinstance(out.error, NotHTML) and "image/png" in str(out.error)


# ------------------------------------------------------------------------------ charsets

ZH_IT = "<p>小米汽车北京亦庄工厂二期投产。Perché la città è più efficiente: già 100 000 veicoli.</p>"


@pytest.mark.parametrize("declared", ["iso-8859-1", "gb2312", "windows-1252"])
def test_wrong_declared_charset_over_utf8_bytes_gives_the_right_text(declared: str) -> None:
    body = f"<html><head><title>小米汽车</title></head><body>{ZH_IT}</body></html>"
    with SiteServer({"/a.html": Resource(body.encode("utf-8"),
                                         f"text/html; charset={declared}")}) as site:
        out = fetch_one(site.url("/a.html"))
    assert out.fetched is not None and out.fetched.page is not None
    assert ZH_IT in out.fetched.page.text
    assert out.fetched.page.charset == "utf-8"


def test_iso_8859_1_declared_over_cp1252_bytes() -> None:
    text = "<html><body><p>L’azienda “Xiaomi” — 5 € per l’auto</p></body></html>"
    with SiteServer({"/it.html": Resource(text.encode("cp1252"),
                                          "text/html; charset=iso-8859-1")}) as site:
        out = fetch_one(site.url("/it.html"))
    assert out.fetched is not None and out.fetched.page is not None
    assert "L’azienda “Xiaomi” — 5 € per l’auto" in out.fetched.page.text


ZH_TEXT = ("小米汽车宣布，北京亦庄工厂二期工程正式投产，年产能达到十五万辆。"
           "北汽集团与小米签署战略合作协议，双方将在新能源汽车领域展开合作。")


@pytest.mark.parametrize("content_type", ["text/html", ""], ids=["text/html", "no-header"])
@pytest.mark.parametrize("codec", ["gbk", "gb18030", "gb2312"])
def test_chinese_page_declaring_no_charset_anywhere(codec: str, content_type: str) -> None:
    body = (f"<html><head><title>小米汽车工厂投产</title></head>"
            f"<body><p>{ZH_TEXT}</p></body></html>").encode(codec)
    with SiteServer({"/zh.html": Resource(body, content_type)}) as site:
        out = fetch_one(site.url("/zh.html"))
    assert out.fetched is not None and out.fetched.page is not None
    page = out.fetched.page
    assert ZH_TEXT in page.text
    assert "<title>小米汽车工厂投产</title>" in page.text
    assert page.charset == "gb18030" and page.charset_origin == "detected"


def test_real_gbk_page_with_its_declaration_stripped() -> None:
    """A 2005 sohu page (GBK with user-defined-area pairs), meta charset removed."""
    raw = (CORPUS / "html/zh/sohu-finance-skii-2005.html").read_bytes()
    stripped = raw.replace(b"charset=gb2312", b"").replace(b'encoding="gb2312"', b"")
    assert b"charset=" not in stripped[:4096].lower()
    expected = (CORPUS / "expected/sohu-finance-skii-2005.txt").read_text(encoding="utf-8")
    line = max(expected.splitlines(), key=len)[:40]
    with SiteServer({"/skii.html": Resource(stripped, "text/html")}) as site:
        out = fetch_one(site.url("/skii.html"))
    assert out.fetched is not None and out.fetched.page is not None
    assert line in out.fetched.page.text
    assert "\ufffd" not in out.fetched.page.text


def test_header_charset_wins_over_meta() -> None:
    body = ("<html><head><meta charset='utf-8'></head><body><p>" + ZH_TEXT
            + "</p></body></html>").encode("gbk")
    with SiteServer({"/zh.html": Resource(body, "text/html; charset=GBK")}) as site:
        out = fetch_one(site.url("/zh.html"))
    assert out.fetched is not None and out.fetched.page is not None
    assert ZH_TEXT in out.fetched.page.text
    assert out.fetched.page.charset_origin == "header"


# ------------------------------------------------------------------------------ conditional GET

def test_conditional_get_returns_304_without_a_page() -> None:
    modified = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    with SiteServer({"/feed.xml": Resource(b"<rss version='2.0'><channel/></rss>",
                                           "application/rss+xml",
                                           last_modified=modified)}) as site:
        first = fetch_one(site.url("/feed.xml"), kind="feed")
        assert first.fetched is not None
        etag, last_modified = first.fetched.etag, first.fetched.last_modified
        assert etag and last_modified == "Wed, 01 May 2024 08:30:00 GMT"
        second = fetch_one(site.url("/feed.xml"), kind="feed", validators=(etag, last_modified))
        request = settled(site).requests[-1]
    assert second.fetched is not None
    assert second.fetched.status == 304 and second.fetched.not_modified
    assert second.fetched.page is None
    assert request.headers.get("If-None-Match") == etag
    assert request.headers.get("If-Modified-Since") == last_modified
    (record,) = second.records
    assert record.status == 304 and record.conditional
    assert not first.records[0].conditional


def test_changed_document_answers_200_to_a_conditional_get() -> None:
    with SiteServer({"/feed.xml": Resource(b"<rss version='2.0'><channel/></rss>",
                                           "application/rss+xml")}) as site:
        first = fetch_one(site.url("/feed.xml"), kind="feed")
        assert first.fetched is not None
        site.add("/feed.xml", Resource(b"<rss version='2.0'><channel><title>new</title>"
                                       b"</channel></rss>", "application/rss+xml"))
        second = fetch_one(site.url("/feed.xml"), kind="feed",
                           validators=(first.fetched.etag, None))
    assert second.fetched is not None and second.fetched.status == 200
    assert second.fetched.page is not None and "new" in second.fetched.page.text


# ------------------------------------------------------------------------------ politeness

def test_requests_to_one_host_are_spaced_by_host_delay() -> None:
    with SiteServer({f"/{i}.html": html() for i in range(3)}) as site:
        cfg = fetch_config(host_delay=0.3)

        async def three(fetcher: Fetcher, records: list[FetchRecord]) -> None:
            await asyncio.gather(*(fetcher.fetch(site.url(f"/{i}.html"), source="s",
                                                 kind="article") for i in range(3)))

        started = time.monotonic()
        asyncio.run(with_fetcher(cfg, three))
        elapsed = time.monotonic() - started
        times = sorted(r.at for r in settled(site).requests)
    assert elapsed >= 0.6
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(gap >= 0.28 for gap in gaps), gaps


def test_different_hosts_are_fetched_concurrently() -> None:
    def slow(req: RequestInfo) -> Resource:
        time.sleep(0.4)
        return html()

    sites = [SiteServer({"/a.html": slow, "/b.html": slow}).start() for _ in range(3)]
    try:
        cfg = fetch_config(host_delay=0.3)

        async def all_hosts(fetcher: Fetcher, records: list[FetchRecord]) -> None:
            await asyncio.gather(*(fetcher.fetch(s.url(p), source="s", kind="article")
                                   for s in sites for p in ("/a.html", "/b.html")))

        started = time.monotonic()
        asyncio.run(with_fetcher(cfg, all_hosts))
        elapsed = time.monotonic() - started
    finally:
        for s in sites:
            s.stop()
    serial = 6 * 0.4 + 3 * 0.3
    # per host: 0.4 + 0.3 delay + 0.4 = 1.1 s; hosts side by side, not 3.3 s in a row
    assert elapsed < 1.8, f"{elapsed:.2f} s (serial would be {serial:.1f} s)"
    assert elapsed >= 1.1


def test_host_delay_does_not_hold_up_other_hosts() -> None:
    """While one host's politeness delay runs, a request to another host goes ahead."""
    with SiteServer({"/a.html": html(), "/b.html": html()}) as slow_host, \
            SiteServer({"/c.html": html()}) as other:
        cfg = fetch_config(host_delay=1.5, concurrency=1)
        finished: dict[str, float] = {}

        async def scenario(fetcher: Fetcher, records: list[FetchRecord]) -> None:
            started = time.monotonic()

            async def get(url: str, after: float = 0.0) -> None:
                await asyncio.sleep(after)
                await fetcher.fetch(url, source="s", kind="article")
                finished[url] = time.monotonic() - started

            await asyncio.gather(get(slow_host.url("/a.html")), get(slow_host.url("/b.html")),
                                 get(other.url("/c.html"), after=0.2))

        asyncio.run(with_fetcher(cfg, scenario))
        second, elsewhere = slow_host.url("/b.html"), other.url("/c.html")
    assert finished[second] >= 1.4
    assert finished[elsewhere] < 1.0, finished


def test_user_agent_is_sent_as_configured() -> None:
    agent = "tidings/9.9 (+https://example.org/bot; analyst@example.org)"
    with SiteServer({"/robots.txt": Resource(b"User-agent: *\nAllow: /\n", "text/plain"),
                     "/a.html": html()}) as site:
        out = fetch_one(site.url("/a.html"), user_agent=agent, robots=True)
        agents = [r.headers.get("User-Agent") for r in settled(site).requests]
    assert out.error is None
    assert agents == [agent, agent]  # robots.txt and the page


# ------------------------------------------------------------------------------ sitemaps

SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>http://127.0.0.1/news/2024/05/01/xiaomi-su7-deliveries.html</loc>
       <lastmod>2024-05-01T08:00:00Z</lastmod></url>
  <url><loc>http://127.0.0.1/news/2024/05/02/baic-arcfox-plant.html?utm_source=rss</loc>
       <lastmod>2024-05-02T08:00:00Z</lastmod></url>
</urlset>
"""


@pytest.mark.parametrize("content_type", ["application/x-gzip", "application/gzip",
                                          "application/octet-stream"])
def test_gzip_sitemap_file_is_decoded(content_type: str) -> None:
    with SiteServer({"/sitemap.xml.gz": Resource(gzip.compress(SITEMAP.encode()),
                                                 content_type)}) as site:
        out = fetch_one(site.url("/sitemap.xml.gz"), kind="sitemap")
    assert out.error is None, out.error
    assert out.fetched is not None and out.fetched.page is not None
    found = discover("sitemap", out.fetched.page.text, out.fetched.final_url)
    assert [link.url for link in found.links] == [
        "http://127.0.0.1/news/2024/05/02/baic-arcfox-plant.html",
        "http://127.0.0.1/news/2024/05/01/xiaomi-su7-deliveries.html",
    ]


def test_gzip_content_encoding_is_decoded() -> None:
    with SiteServer({"/sitemap.xml": Resource(gzip.compress(SITEMAP.encode()),
                                              "application/xml",
                                              headers={"Content-Encoding": "gzip"})}) as site:
        out = fetch_one(site.url("/sitemap.xml"), kind="sitemap")
        sent = settled(site).requests[0].headers.get("Accept-Encoding") or ""
    assert "gzip" in sent
    assert out.fetched is not None and out.fetched.page is not None
    assert "xiaomi-su7-deliveries" in out.fetched.page.text


def test_gzip_sitemap_bigger_than_max_bytes_when_unpacked_is_marked_truncated() -> None:
    entries = "".join(f"<url><loc>http://127.0.0.1/news/{i:06d}-a-b.html</loc></url>\n"
                      for i in range(5000))
    xml = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
    packed = gzip.compress(xml.encode())
    assert len(packed) < 100_000 < len(xml)
    with SiteServer({"/s.xml.gz": Resource(packed, "application/x-gzip")}) as site:
        out = fetch_one(site.url("/s.xml.gz"), kind="sitemap", max_bytes=100_000)
    assert out.fetched is not None and out.fetched.page is not None
    assert out.fetched.page.truncated
    assert len(out.fetched.page.text) <= 100_000
