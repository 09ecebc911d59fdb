"""A hostile local web: real HTTP servers on several loopback addresses and ports serving
what a stranger's site can serve (issue 12's table), beside a healthy site.

    with HostileWeb() as web:
        web.site.url("/bomb.html")        # Content-Encoding: gzip, gzip
        web.internal.url("/secret.html")  # an internal service that must never be reached
        web.spellings("/secret.html")     # the internal URL written every way a resolver reads

Hosts (each a `SiteServer` on its own address or port):

- `site`      127.0.0.2: the sources' site: healthy articles and feeds, and the hostile cases
- `admin`     127.0.0.2, another port: a console beside the site (same address, other port)
- `internal`  127.0.0.3: an internal service holding `root:hunter2`
- `local`     127.0.0.1: what `localhost` reaches
- `v6`        [::1]: an internal service on IPv6 loopback
- `trap`      127.0.0.4: a site whose robots.txt makes a backtracking matcher spin for ever

Everything stays on loopback; nothing here reaches the network.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from html import escape
from types import TracebackType
from typing import Any, Self

import httpx

from pipeline.config import FetchConfig
from pipeline.demo import server as demo_server
from pipeline.demo.server import RequestInfo, Resource, SiteServer
from pipeline.errors import FetchError
from pipeline.fetch import Fetcher, FetchRecord, make_client

from .fixtures_http import Outcome, fetch_config

SECRET = "root:hunter2"
BOMB_BYTES = 128 * 1024 * 1024  # what the gzip bombs unpack to (the real one was 4.3 GB)
ROBOTS_TRAP = "User-agent: *\nDisallow: /*a*a*a*a*a*a*a*a*a*a*a*a*b\n"
TRAP_PATH = "/" + "a" * 59  # 60 characters, no "b": the backtracking matcher never ends
LONG_HREF = 128 * 1024

Resolver = Callable[[str, int], Awaitable[list[str]]]


# ---------------------------------------------------------------------- bodies

def _zeros_compressed(total: int, wbits: int) -> bytes:
    """`total` zero bytes compressed, without ever holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(1024 * 1024)
    parts = [packer.compress(block) for _ in range(total // len(block))]
    return b"".join(parts) + packer.flush()


@functools.cache
def gzip_bomb(total: int = BOMB_BYTES) -> bytes:
    return _zeros_compressed(total, 16 + zlib.MAX_WBITS)


@functools.cache
def deflate_bomb(total: int = BOMB_BYTES) -> bytes:
    return _zeros_compressed(total, zlib.MAX_WBITS)


@functools.cache
def double_gzip_bomb(total: int = BOMB_BYTES) -> bytes:
    """`Content-Encoding: gzip, gzip`: a gzip bomb, gzipped again (a few kB on the wire)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return packer.compress(gzip_bomb(total)) + packer.flush()


_STORIES = [
    ("Xiaomi opens its second car plant in Beijing",
     [("Xiaomi said on Monday that the second phase of its Yizhuang factory has started "
      "building the SU7 electric sedan."),
      ("The plant can make 150,000 vehicles a year once both phases run at full speed, the "
      "company told investors in a filing.")]),
    ("BAIC and CATL agree on a battery cell plant",
     [("BAIC signed an agreement with CATL to build a battery cell plant in Qingdao, the two "
      "companies announced in a joint statement."),
      ("Production of lithium iron phosphate cells is due to start in 2026, supplying the "
      "Arcfox brand and other BAIC models.")]),
    ("Port of Genoa expands its container terminal",
     [("The port authority of Genoa approved a plan to lengthen the quay of its main "
      "container terminal by four hundred metres."),
      ("Work on the new berth begins next spring and should take three years, the authority "
      "said after its board meeting on Thursday.")]),
]


def article_html(number: int, title: str | None = None) -> bytes:
    """A healthy news article with enough text to be one; numbers 1-3 are three different
    stories, others repeat them under another title."""
    story_title, lines = _STORIES[(number - 1) % len(_STORIES)]
    title = title or (story_title if number <= len(_STORIES) else f"{story_title} ({number})")
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in lines)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
            f"</title><meta property='article:published_time' content='2024-05-0{number % 9 + 1}"
            f"T08:00:00+00:00'></head><body><main><article><h1>{escape(title)}</h1>"
            f"{paragraphs}</article></main></body></html>").encode()


def rss(links: Iterable[str], title: str = "Hostile") -> Resource:
    items = "".join(f"<item><title>Item {i}</title><link>{escape(url)}</link></item>"
                    for i, url in enumerate(links))
    body = (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>{title}</title><link>http://127.0.0.2/</link>{items}</channel></rss>")
    return Resource(body.encode(), "application/rss+xml; charset=utf-8")


def sitemap_index(children: Iterable[str]) -> Resource:
    body = ("<?xml version='1.0' encoding='UTF-8'?><sitemapindex "
            "xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
            + "".join(f"<sitemap><loc>{escape(c)}</loc></sitemap>" for c in children)
            + "</sitemapindex>")
    return Resource(body.encode(), "application/xml")


def nested_json_feed(depth: int = 100_000) -> str:
    """200 kB of brackets: json.loads recurses until Python's stack limit."""
    return '{"version": "https://jsonfeed.org/version/1.1", "items": ' + "[" * depth \
        + "]" * depth + "}"


def nested_xml_feed(depth: int = 100_000) -> str:
    return ("<?xml version='1.0'?><rss version='2.0'><channel><title>deep</title>"
            + "<x>" * depth + "</x>" * depth + "</channel></rss>")


def long_href_listing(base: str, good: list[str]) -> str:
    """A listing page with one 128 kB href among ordinary article links."""
    long_href = "/news/" + "a" * LONG_HREF
    links = "".join(f"<li><a href='{g}'>Story {i}</a></li>" for i, g in enumerate(good))
    return (f"<!doctype html><html><head><title>News</title></head><body><ul>"
            f"<li><a href='{long_href}'>Long</a></li>{links}</ul></body></html>")


# ---------------------------------------------------------------------- handlers

class Slow:
    """A handler that answers after `seconds` (a slow or hanging site); `arrived` is set
    when the first request arrives. Sleeps in slices so a stopped web ends it quickly."""

    def __init__(self, seconds: float, body: bytes | None = None) -> None:
        self.seconds = seconds
        self.body = body or article_html(99)
        self.arrived = threading.Event()
        self.stopped = threading.Event()
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, request: RequestInfo) -> Resource:
        with self._lock:
            self.count += 1
        self.arrived.set()
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline and not self.stopped.is_set():
            time.sleep(0.05)
        return Resource(self.body)


def redirect(location: str) -> Resource:
    return Resource(b"", status=302, headers={"Location": location}, etag=False)


class _V6Server(demo_server._Server):
    address_family = socket.AF_INET6


class V6SiteServer(SiteServer):
    """A `SiteServer` on an IPv6 address (`::1`)."""

    def start(self) -> Self:
        if self._server is not None:
            return self
        server = _V6Server((self.host, self.port), demo_server._RequestHandler)
        server.site = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("not started")
        return f"http://[{self.host}]:{self.port}"


class TrickleServer:
    """A server that sends its headers, then one byte a second for ever (a byte-per-second
    site): only the fetcher's own deadline ends the request."""

    def __init__(self, host: str = "127.0.0.2") -> None:
        self._sock = socket.create_server((host, 0))
        self.host, self.port = host, self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def _serve(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                             b"Content-Length: 100000\r\n\r\n")
                while not self._stop.wait(1.0):
                    conn.sendall(b"x")
            except OSError:
                pass

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=2)


class CountingSite(SiteServer):
    """A `SiteServer` that counts the TCP connections it accepted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections = 0

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        if add:
            with self._lock:
                self.connections += 1
        super()._track(conn, add=add)


# ---------------------------------------------------------------------- the web

class HostileWeb:
    """All the servers, started and stopped together."""

    def __init__(self, slow_seconds: float = 30.0) -> None:
        self.site = SiteServer(host="127.0.0.2")
        self.admin = SiteServer(host="127.0.0.2")
        self.internal = SiteServer(host="127.0.0.3")
        self.local = SiteServer(host="127.0.0.1")
        self.v6 = V6SiteServer(host="::1")
        self.trap = SiteServer(host="127.0.0.4")
        self.slow = Slow(slow_seconds)
        self._servers = [self.site, self.admin, self.internal, self.local, self.v6, self.trap]

    def __enter__(self) -> Self:
        for server in self._servers:
            server.start()
        self._routes()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.slow.stopped.set()
        for server in self._servers:
            server.stop()

    # -- what each host serves -----------------------------------------------------------
    def _routes(self) -> None:
        site = self.site
        secret = Resource(f"<html><body><pre>{SECRET}</pre></body></html>".encode())
        for private in (self.admin, self.internal, self.local, self.v6):
            private.add("/secret.html", secret)
            private.add("/robots.txt", Resource(b"User-agent: *\nAllow: /\n", "text/plain"))
        site.add("/robots.txt", Resource(b"User-agent: *\nDisallow: /private/\n",
                                         "text/plain"))
        for n in range(1, 4):
            site.add(f"/news/2024/05/0{n}/healthy-article-{n}.html", Resource(article_html(n)))
        site.add("/healthy.xml", rss(self.healthy_articles()))
        gz = {"Content-Encoding": "gzip"}
        site.add("/bomb.html", Resource(double_gzip_bomb(), headers={
            "Content-Encoding": "gzip, gzip"}))
        site.add("/bomb1.html", Resource(gzip_bomb(), headers=gz))
        site.add("/bomb-deflate.html", Resource(deflate_bomb(), headers={
            "Content-Encoding": "deflate"}))
        site.add("/sitemap-bomb.xml.gz", Resource(gzip_bomb(), "application/x-gzip"))
        site.add("/brotli.html", Resource(b"\x0b\x02\x80hello\x03", headers={
            "Content-Encoding": "br"}))
        site.add("/corrupt-gzip.html", Resource(b"\x1f\x8b\x08\x00garbage-not-deflate",
                                                headers=gz))
        site.add("/bomb.xml", rss([site.url("/bomb.html")], "bomb"))
        for scheme, target in self.non_web_targets().items():
            site.add(f"/to-{scheme}", redirect(target))
        site.add("/redirects.xml", rss([site.url(f"/to-{s}") for s in self.non_web_targets()]))
        site.add("/nested.json", Resource(nested_json_feed().encode(),
                                          "application/feed+json"))
        site.add("/nested.xml", Resource(nested_xml_feed().encode(), "application/rss+xml"))
        site.add("/long-href.html", Resource(long_href_listing(
            site.base_url, self.healthy_articles()).encode()))
        site.add("/retry-after.html", Resource(b"busy", status=503,
                                               headers={"Retry-After": "60"}))
        site.add("/retry-after.xml", rss([site.url("/retry-after.html")], "busy"))
        for n in range(6):
            site.add(f"/slow-{n}.html", self.slow)
        site.add("/slow.xml", rss([site.url(f"/slow-{n}.html") for n in range(6)], "slow"))
        site.add("/ssrf.xml", rss(self.spellings("/secret.html"), "ssrf"))
        site.add("/to-internal", redirect(self.internal.url("/secret.html")))
        site.add("/to-internal.xml", rss([site.url("/to-internal")], "redirect"))
        site.add("/sitemap-index.xml", sitemap_index(
            [self.internal.url("/sitemap.xml"), self.v6.url("/sitemap.xml")]))
        self.trap.add("/robots.txt", Resource(ROBOTS_TRAP.encode(), "text/plain"))
        self.trap.add(TRAP_PATH, Resource(article_html(7)))
        self.trap.add("/trap.xml", rss([self.trap.url(TRAP_PATH)], "trap"))

    def healthy_articles(self) -> list[str]:
        return [self.site.url(f"/news/2024/05/0{n}/healthy-article-{n}.html")
                for n in range(1, 4)]

    @staticmethod
    def non_web_targets() -> dict[str, str]:
        return {"mailto": "mailto:editor@example.com",
                "data": "data:text/html;base64,PGgxPmhpPC9oMT4=",
                "javascript": "javascript:alert(document.cookie)"}

    def spellings(self, path: str) -> list[str]:
        """The internal hosts' `path`, written every way a resolver reads it."""
        port = self.internal.port
        return [
            self.internal.url(path),                     # 127.0.0.3, dotted
            f"http://2130706435:{port}{path}",           # decimal
            f"http://0x7f000003:{port}{path}",           # hex
            f"http://0177.0.0.3:{port}{path}",           # octal
            f"http://127.3:{port}{path}",                # short form
            f"http://[::ffff:127.0.0.3]:{port}{path}",   # IPv4-mapped IPv6
            self.admin.url(path),                        # the source's address, other port
            f"http://localhost:{self.local.port}{path}",  # a name for loopback
            self.v6.url(path),                           # [::1]
        ]

    @property
    def private_servers(self) -> list[SiteServer]:
        return [self.admin, self.internal, self.local, self.v6]

    def private_requests(self) -> list[str]:
        """Every request an internal server received (there must be none)."""
        return [f"{s.base_url}{r.path}" for s in self.private_servers for r in s.requests]

    def sources(self, robots: bool = True) -> list[dict[str, Any]]:
        """Every hostile case as a configured source, plus the healthy one."""
        site = self.site
        out = [
            {"name": "healthy", "url": site.url("/healthy.xml"), "kind": "feed"},
            {"name": "bomb", "url": site.url("/bomb.xml"), "kind": "feed"},
            {"name": "redirects", "url": site.url("/redirects.xml"), "kind": "feed"},
            {"name": "nested-json", "url": site.url("/nested.json"), "kind": "feed"},
            {"name": "nested-xml", "url": site.url("/nested.xml"), "kind": "feed"},
            {"name": "long-href", "url": site.url("/long-href.html"), "kind": "page"},
            {"name": "retry-after", "url": site.url("/retry-after.xml"), "kind": "feed"},
            {"name": "slow", "url": site.url("/slow.xml"), "kind": "feed"},
            {"name": "ssrf", "url": site.url("/ssrf.xml"), "kind": "feed"},
            {"name": "to-internal", "url": site.url("/to-internal.xml"), "kind": "feed"},
            {"name": "child-sitemaps", "url": site.url("/sitemap-index.xml"),
             "kind": "sitemap"},
        ]
        if robots:
            out.append({"name": "robots-trap", "url": self.trap.url("/trap.xml"),
                        "kind": "feed"})
        return out


# ---------------------------------------------------------------------- fetching

class RecordingTransport(httpx.AsyncBaseTransport):
    """Stands in for the network where a real connection must not be made (10.0.0.5,
    169.254.169.254): records what would have been requested, answers 200."""

    def __init__(self) -> None:
        self.requested: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requested.append(str(request.url))
        return httpx.Response(200, html="<html><body>reached</body></html>")


def guarded_fetch(url: str, *, sources: Iterable[str], kind: str = "article",
                  config: FetchConfig | None = None,
                  transport: httpx.AsyncBaseTransport | None = None,
                  resolve: Resolver | None = None,
                  cancel_after: float | None = None, within: float = 60.0,
                  **overrides: Any) -> Outcome:
    """Fetch `url` as the runner would, with the configured `sources`' origins allowed.

    `cancel_after` cancels the fetch after that many seconds (as the runner does on
    SIGTERM); the outcome's `error` is then None and `seconds` says when it ended. `within`
    bounds the whole fetch (a hang fails the test instead of stalling the suite)."""
    from pipeline.netguard import source_origins  # new in issue 12: imported here so the
    cfg = config or fetch_config(**overrides)     # rest of this module loads on older code

    async def run() -> Outcome:
        records: list[FetchRecord] = []
        outcome = Outcome(records=records)
        async with make_client(cfg, transport) as client:
            extra: dict[str, Any] = {"resolve": resolve} if resolve is not None else {}
            fetcher = Fetcher(cfg, client, record=records.append,
                              allowed=source_origins(sources), **extra)
            started = time.monotonic()
            task = asyncio.ensure_future(fetcher.fetch(url, source="hostile", kind=kind))
            if cancel_after is not None:
                await asyncio.sleep(cancel_after)
                task.cancel()
            try:
                outcome.fetched = await asyncio.wait_for(task, within)
            except FetchError as exc:
                outcome.error = exc
            except asyncio.CancelledError:
                pass
            outcome.seconds = time.monotonic() - started
        return outcome

    return asyncio.run(run())


def lying_resolver(answers: dict[str, list[str]]) -> Resolver:
    """A resolver that answers from `answers` (DNS that says one thing, then another)."""

    async def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    return resolve
