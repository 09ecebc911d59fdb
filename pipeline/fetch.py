"""The fetch stage: polite, bounded HTTP with httpx.

Polite by default: an identifying User-Agent, robots.txt (RFC 9309, `robots.py`), a delay
between requests to one host (with jitter) while different hosts are fetched concurrently.
Bounded: every attempt of one URL, with the waits between them, ends within
`DEADLINE_TIMEOUTS` × `timeout` (time spent queueing for the host's politeness delay is not
counted); bodies are streamed and cut at `max_bytes` *after* decoding, one content-encoding
layer at most; a redirect limit; retries only where a retry can help (timeouts, connection
errors, 429, 5xx) with exponential backoff that honours Retry-After when the deadline allows.
Only web addresses, only public ones (`netguard.py`): a link, child sitemap or redirect to a
loopback, private, link-local, multicast or reserved address is refused unless its host and
port are a configured source's (`allowed`) or `fetch.allow_private` is on; names are
resolved and every address checked, and the peer actually connected to is checked again
before the body is read. Every request becomes a `FetchRecord`. Every wait is an `await`,
so cancelling the task that fetches ends it at once.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import time
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from . import charset, netguard
from .config import FetchConfig
from .errors import (
    FetchError,
    HTTPStatusError,
    NotHTML,
    Refused,
    RobotsDisallowed,
    TooManyRedirects,
    TransportError,
)
from .models import Page, utcnow
from .robots import RobotsRules

REDIRECTS = (301, 302, 303, 307, 308)
RETRY_STATUSES = (429, 500, 502, 503, 504, 507, 508, 509, 520, 521, 522, 523, 524)
ROBOTS_MAX_AGE_HOURS = 24
DEADLINE_TIMEOUTS = 2  # one URL's attempts and waits end within this many `timeout`s
MAX_URL_CHARS = 8192
ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
             "deflate": zlib.MAX_WBITS}
_ACCEPT = {
    "article": ("text/html", "application/xhtml+xml"),
    "page": ("text/html", "application/xhtml+xml"),
    "feed": ("xml", "rss", "atom", "json", "text/html", "text/plain"),
    "sitemap": ("xml", "gzip", "text/plain", "octet-stream"),  # .xml.gz often octet-stream
    "robots": ("",),
}


@dataclass(slots=True)
class FetchRecord:
    """One HTTP request, as the `fetches` table keeps it."""

    url: str
    source: str
    kind: str
    status: int | None
    error: str | None
    fetched_at: str
    elapsed_ms: int
    bytes: int = 0
    conditional: bool = False
    redirect_to: str | None = None

    def as_row(self) -> dict[str, Any]:
        return {"url": self.url, "source": self.source, "kind": self.kind,
                "status": self.status, "error": self.error, "fetched_at": self.fetched_at,
                "elapsed_ms": self.elapsed_ms, "bytes": self.bytes,
                "conditional": int(self.conditional), "redirect_to": self.redirect_to}


@dataclass(slots=True)
class Fetched:
    """The outcome of one logical fetch (after redirects and retries)."""

    url: str
    final_url: str
    status: int
    page: Page | None  # None when not modified
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


RobotsLoader = Callable[[str], Awaitable[str | None]]
RobotsSaver = Callable[[str, str], Awaitable[None]]
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host` (what httpx will connect to)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class _HostGate:
    """Serialises requests to one host and spaces them by the politeness delay."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.next_at = 0.0


class _Budget:
    """What is left of one URL's deadline; waiting for our turn at a host does not count."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def extend(self, seconds: float) -> None:
        self.end += seconds


class Fetcher:
    """Fetches URLs for the runner. Create one per pass, inside the event loop.

    `allowed` is the set of (host, port) that may be fetched whatever their address: the
    configured sources' (`netguard.source_origins`). With `allowed=None` no address is
    checked (for callers that fetch only what they were given); the runner passes its set.
    `resolve` is the name resolver (the system's by default)."""

    def __init__(self, config: FetchConfig, client: httpx.AsyncClient, *,
                 record: Callable[[FetchRecord], None],
                 load_robots: RobotsLoader | None = None,
                 save_robots: RobotsSaver | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 allowed: Collection[netguard.Origin] | None = None,
                 resolve: Resolver = system_resolve) -> None:
        self.config = config
        self.client = client
        self.record = record
        self.load_robots = load_robots
        self.save_robots = save_robots
        self.sleep = sleep
        self.allowed = None if allowed is None else frozenset(allowed)
        self.resolve = resolve
        self._gates: dict[str, _HostGate] = {}
        self._robots: dict[str, tuple[RobotsRules | None, str | None]] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self._delays: dict[str, float] = {}
        self._addresses: dict[tuple[str, int], list[netguard.IPAddress]] = {}
        self._slots = asyncio.Semaphore(config.concurrency)
        hooks = client.event_hooks
        if _hold_location not in hooks.get("response", []):
            client.event_hooks = {**hooks, "response": [*hooks.get("response", []),
                                                         _hold_location]}

    # ------------------------------------------------------------------ public
    async def fetch(self, url: str, *, source: str, kind: str,
                    validators: tuple[str | None, str | None] = (None, None)) -> Fetched:
        """GET `url`, following redirects; raise a `FetchError` subclass on failure."""
        budget = _Budget(DEADLINE_TIMEOUTS * self.config.timeout)
        current = url
        for hop in range(self.config.max_redirects + 1):
            verify_peer = await self._guard(current, source, redirected=hop > 0)
            if self.config.robots and kind != "robots":
                asked = time.monotonic()
                await self._check_robots(current, source)  # a fetch with its own deadline
                budget.extend(time.monotonic() - asked)
            outcome = await self._with_retries(current, source=source, kind=kind,
                                               validators=validators, budget=budget,
                                               verify_peer=verify_peer)
            if isinstance(outcome, str):  # a redirect target
                current = outcome
                validators = (None, None)
                continue
            outcome.url = url
            return outcome
        raise TooManyRedirects(f"more than {self.config.max_redirects} redirects",
                               url=url, source=source)

    # ------------------------------------------------------------------ addresses
    async def _guard(self, url: str, source: str, *, redirected: bool) -> bool:
        """Refuse what is not a public web address; True when the peer must be checked
        after connecting (a name may resolve differently the second time)."""
        what = "redirect to" if redirected else "link to"
        if len(url) > MAX_URL_CHARS:
            raise Refused(f"refused: {what} a URL longer than {MAX_URL_CHARS} characters",
                          url=url[:MAX_URL_CHARS], source=source)
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise Refused(f"refused: {what} a malformed address ({exc})",
                          url=url, source=source) from exc
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            scheme = f"{parts.scheme}:" if parts.scheme else "an address without a scheme"
            raise Refused(f"refused: {what} {scheme[:40]} (not a web address)",
                          url=url, source=source)
        if self.allowed is None or self.config.allow_private:
            return False
        if netguard.origin(url) in self.allowed:
            return False
        host = parts.hostname
        literal = netguard.parse_ip(host)
        if literal is not None:
            addresses = [literal]
        else:
            addresses = await self._resolve(host, port or (443 if parts.scheme == "https"
                                                           else 80))
        for address in addresses:
            label = netguard.refusal(address)
            if label:
                reason = (netguard.explain(host, address, label) if literal is not None
                          else f"{host} resolves to {address}, {netguard.phrase(label)}")
                raise Refused(f"refused: {reason}", url=url, source=source)
        return True

    async def _resolve(self, host: str, port: int) -> list[netguard.IPAddress]:
        """The addresses `host` resolves to (cached per pass); [] when it does not resolve
        (httpx will fail the same way, and the peer check still applies)."""
        key = (host, port)
        if key not in self._addresses:
            try:
                async with asyncio.timeout(self.config.timeout):
                    found = await self.resolve(host, port)
            except (OSError, TimeoutError, UnicodeError):
                return []
            parsed = [netguard.parse_ip(a.split("%", 1)[0]) for a in found]
            self._addresses[key] = [a for a in parsed if a is not None]
        return self._addresses[key]

    def _check_peer(self, response: httpx.Response, url: str, source: str) -> None:
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if not peer:
            return  # no socket (a test transport): nothing was reached
        address = netguard.parse_ip(str(peer[0]).split("%", 1)[0])
        label = netguard.refusal(address) if address is not None else None
        if address is not None and label:
            host = urlsplit(url).hostname
            raise Refused(f"refused: {host} connected to {address}, {netguard.phrase(label)}",
                          url=url, source=source)

    # ------------------------------------------------------------------ robots.txt
    async def _check_robots(self, url: str, source: str) -> None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:
            if origin not in self._robots:
                self._robots[origin] = await self._load_rules(origin, source)
                rules = self._robots[origin][0]
                if rules is not None and rules.crawl_delay:
                    self._delays[parts.netloc] = rules.crawl_delay
        rules, problem = self._robots[origin]
        if problem:
            raise RobotsDisallowed(problem, url=url, source=source)
        if rules is not None and not rules.allowed(url):
            raise RobotsDisallowed(f"disallowed by robots.txt ({rules.rule_for(url)})",
                                   url=url, source=source)

    def _agent_token(self) -> str:
        return self.config.user_agent.split("/")[0].strip() or "tidings"

    async def _load_rules(self, origin: str, source: str) -> tuple[RobotsRules | None,
                                                                      str | None]:
        robots_url = origin + "/robots.txt"
        body = await self.load_robots(robots_url) if self.load_robots else None
        if body is None:
            try:
                fetched = await self.fetch(robots_url, source=source, kind="robots")
                body = fetched.page.text if fetched.page else ""
            except HTTPStatusError as exc:
                if exc.status is not None and 400 <= exc.status < 500:
                    body = ""  # RFC 9309: no robots.txt means everything is allowed
                else:
                    return None, f"robots.txt unavailable ({exc}); not crawling {origin}"
            except FetchError as exc:
                return None, f"robots.txt unreachable ({exc}); not crawling {origin}"
            if self.save_robots:
                await self.save_robots(robots_url, body)
        return RobotsRules.parse(body, self._agent_token()), None

    def crawl_delay(self, host: str) -> float:
        """The Crawl-delay robots.txt asks of `host` (netloc), at most 30 s."""
        return self._delays.get(host, 0.0)

    # ------------------------------------------------------------------ requests
    async def _with_retries(self, url: str, *, source: str, kind: str,
                            validators: tuple[str | None, str | None], budget: _Budget,
                            verify_peer: bool) -> Fetched | str:
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            if budget.left() <= 0:
                raise TransportError(f"gave up: no time left of this URL's "
                                     f"{budget.seconds:g} s", url=url, source=source)
            try:
                return await self._once(url, source=source, kind=kind, validators=validators,
                                        budget=budget, verify_peer=verify_peer)
            except _Retryable as exc:
                if attempt == attempts - 1:
                    raise exc.final from None
                wait = self._backoff(attempt, exc.retry_after)
                if wait >= budget.left():
                    why = (f"the site asks to wait {exc.retry_after:.3g} s"
                           if exc.retry_after is not None else "no time for another attempt")
                    raise type(exc.final)(
                        f"{exc.final} (not retried: {why} within this URL's "
                        f"{budget.seconds:.3g} s)", url=url, source=source,
                        status=exc.final.status) from None
                await self.sleep(wait)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.config.max_retry_wait)
        wait = self.config.backoff * (2 ** attempt)
        return float(min(wait * (1 + random.uniform(0, 0.25)), self.config.max_retry_wait))

    async def _once(self, url: str, *, source: str, kind: str,
                    validators: tuple[str | None, str | None], budget: _Budget,
                    verify_peer: bool) -> Fetched | str:
        host = urlsplit(url).netloc
        gate = self._gates.setdefault(host, _HostGate())
        headers = {"User-Agent": self.config.user_agent,
                   "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                   "Accept-Encoding": "gzip, deflate"}
        etag, last_modified = validators
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        conditional = bool(etag or last_modified)
        queued = time.monotonic()
        async with gate.lock:
            wait = gate.next_at - time.monotonic()
            if wait > 0:  # the host's politeness delay; other hosts go ahead meanwhile
                await self.sleep(wait)
            async with self._slots:
                budget.extend(time.monotonic() - queued)  # our turn came: the clock runs
                return await self._timed(url, host=host, gate=gate, source=source, kind=kind,
                                         headers=headers, conditional=conditional,
                                         limit=min(self.config.timeout, budget.left()),
                                         verify_peer=verify_peer)

    async def _timed(self, url: str, *, host: str, gate: _HostGate, source: str, kind: str,
                     headers: dict[str, str], conditional: bool, limit: float,
                     verify_peer: bool) -> Fetched | str:
        started = time.monotonic()
        record = FetchRecord(url=url, source=source, kind=kind, status=None, error=None,
                             fetched_at=utcnow(), elapsed_ms=0, conditional=conditional)
        try:
            async with asyncio.timeout(limit):
                return await self._request(url, kind=kind, source=source, headers=headers,
                                           record=record, verify_peer=verify_peer)
        except TimeoutError as exc:
            record.error = f"timed out after {limit:.3g} s"
            raise _Retryable(TransportError(record.error, url=url, source=source)) from exc
        except httpx.UnsupportedProtocol as exc:
            record.error = f"refused: {exc}"
            raise Refused(record.error, url=url, source=source) from exc
        except httpx.TransportError as exc:
            record.error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            raise _Retryable(TransportError(record.error, url=url, source=source)) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            record.error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            raise FetchError(record.error, url=url, source=source) from exc
        except FetchError as exc:
            record.error = record.error or str(exc)
            raise
        finally:
            record.elapsed_ms = int((time.monotonic() - started) * 1000)
            self.record(record)
            delay = max(self.config.host_delay, self.crawl_delay(host))
            gate.next_at = time.monotonic() + delay * (1 + random.uniform(0, 0.2))

    async def _request(self, url: str, *, kind: str, source: str, headers: dict[str, str],
                       record: FetchRecord, verify_peer: bool) -> Fetched | str:
        async with self.client.stream("GET", url, headers=headers) as response:
            if verify_peer:
                self._check_peer(response, url, source)
            status = record.status = response.status_code
            if status in REDIRECTS:
                return _redirect_target(url, response, source, record)
            if status == 304:
                return Fetched(url=url, final_url=url, status=304, page=None,
                               etag=response.headers.get("etag"),
                               last_modified=response.headers.get("last-modified"))
            if status in RETRY_STATUSES:
                record.error = f"HTTP {status}"
                raise _Retryable(HTTPStatusError(f"HTTP {status} {response.reason_phrase}",
                                                 url=url, source=source, status=status),
                                 retry_after=_retry_after(response.headers.get("retry-after")))
            if status >= 400 or status < 200:
                raise HTTPStatusError(f"HTTP {status} {response.reason_phrase}",
                                      url=url, source=source, status=status)
            content_type = response.headers.get("content-type", "")
            if not _acceptable(kind, content_type):
                raise NotHTML(f"skipped: {content_type.split(';')[0] or 'unknown type'} "
                              f"is not a {'web page' if kind in ('article', 'page') else kind}",
                              url=url, source=source, status=status)
            body, truncated = await self._read_capped(response, url=url, source=source)
        record.bytes = len(body)
        body, cut = _maybe_gunzip(body, self.config.max_bytes)
        truncated = truncated or cut
        if kind in ("article", "page") and not content_type and not _looks_like_html(body):
            raise NotHTML("skipped: the body is not HTML", url=url, source=source,
                          status=status)
        text, used, origin = charset.decode(body, content_type)
        if truncated:
            record.error = f"body cut at max_bytes ({self.config.max_bytes} bytes)"
        page = Page(url=url, final_url=str(response.url), source=source, status=status,
                    content_type=content_type, text=text, charset=used,
                    charset_origin=origin, truncated=truncated,
                    elapsed_ms=int(record.elapsed_ms))
        return Fetched(url=url, final_url=str(response.url), status=status, page=page,
                       etag=response.headers.get("etag"),
                       last_modified=response.headers.get("last-modified"))

    async def _read_capped(self, response: httpx.Response, *, url: str,
                           source: str) -> tuple[bytes, bool]:
        """The body, decoded, at most `max_bytes` of it (and whether it was cut). The cap
        holds for the decoded bytes: decoding is incremental and never asked for more."""
        limit = self.config.max_bytes
        header = response.headers.get("content-encoding")
        layers = [e.strip().lower() for e in (header or "").split(",")]
        layers = [e for e in layers if e and e != "identity"]
        if len(layers) > 1:
            raise Refused(f"refused: Content-Encoding {(header or '')[:80]!r} has {len(layers)} "
                          "layers; one is the most a page needs", url=url, source=source,
                          status=response.status_code)
        if layers and layers[0] not in ENCODINGS:
            raise Refused(f"refused: unknown Content-Encoding {layers[0][:40]!r}",
                          url=url, source=source, status=response.status_code)
        unpacker = _Unpacker(layers[0]) if layers else None
        out = bytearray()
        wire = 0
        try:
            async for chunk in response.aiter_raw():
                wire += len(chunk)
                if unpacker is None:
                    out += chunk
                else:
                    out += unpacker.feed(chunk, limit - len(out) + 1)
                if len(out) > limit or wire > limit:
                    del out[limit:]
                    return bytes(out), True
                if unpacker is not None and unpacker.done:
                    break
            if unpacker is not None:
                out += unpacker.flush(limit - len(out) + 1)
        except zlib.error as exc:
            raise FetchError(f"the body's {layers[0]} encoding is corrupt ({exc})",
                             url=url, source=source, status=response.status_code) from exc
        if len(out) > limit:
            del out[limit:]
            return bytes(out), True
        declared = response.headers.get("content-length")
        truncated = unpacker is None and bool(
            declared and declared.isdigit() and len(declared) < 20 and int(declared) > limit)
        return bytes(out), truncated


class _Unpacker:
    """One gzip or deflate layer, decoded incrementally; never yields more than asked."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._z = zlib.decompressobj(ENCODINGS[encoding])
        self._maybe_raw = encoding == "deflate"  # servers send raw deflate as "deflate" too

    @property
    def done(self) -> bool:
        return self._z.eof

    def feed(self, data: bytes, room: int) -> bytes:
        """Decode `data`, at most `room` bytes of output (the rest is not needed: the
        caller stops at the cap)."""
        if self._maybe_raw:
            self._maybe_raw = False
            try:
                return self._z.decompress(data, room)
            except zlib.error:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        if self._z.eof:
            return b""
        return self._z.decompress(data, room)

    def flush(self, room: int) -> bytes:
        return b"" if self._z.eof else self._z.flush()[:room]


class _Retryable(Exception):
    """Internal: a failure worth another attempt; `final` is raised when none are left."""

    def __init__(self, final: FetchError, retry_after: float | None = None) -> None:
        super().__init__(str(final))
        self.final = final
        self.retry_after = retry_after


def _redirect_target(url: str, response: httpx.Response, source: str,
                     record: FetchRecord) -> str:
    """Where a redirect points, when it points at a web address."""
    status = response.status_code
    location = response.headers.get(_HELD_LOCATION)
    if not location:
        raise HTTPStatusError(f"HTTP {status} without a Location header",
                              url=url, source=source, status=status)
    try:
        target: str = urljoin(url, location.strip())
        scheme = urlsplit(target).scheme.lower()
    except ValueError as exc:
        raise Refused(f"refused: redirect to a malformed address ({exc})",
                      url=url, source=source, status=status) from exc
    record.redirect_to = target[:MAX_URL_CHARS]
    if scheme not in ("http", "https"):
        raise Refused(f"refused: redirect to {scheme[:40] or 'an address without a'}: "
                      "(not a web address)", url=url, source=source, status=status)
    return target


_HELD_LOCATION = "x-tidings-location"


async def _hold_location(response: httpx.Response) -> None:
    """httpx parses a redirect's Location even when it does not follow redirects, and
    raises on `mailto:`, `data:` or a malformed address before we see the response. We
    follow redirects ourselves, so the header is moved out of its way, for `_request`."""
    if "location" in response.headers:
        response.headers[_HELD_LOCATION] = response.headers["location"]
        del response.headers["location"]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value) if len(value) < 12 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _acceptable(kind: str, content_type: str) -> bool:
    mime = content_type.split(";")[0].strip().lower()
    if not mime:
        return True  # decided by sniffing the body
    return any(token in mime for token in _ACCEPT.get(kind, ("",)))


def _looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--", b"<meta",
                            b"<div", b"<p", b"<title")) or b"<html" in head


def _maybe_gunzip(body: bytes, limit: int) -> tuple[bytes, bool]:
    """Sitemaps are often served as raw .xml.gz files: unpack them, at most `limit` bytes
    (a gzip bomb must not get past `max_bytes`). Returns (body, cut at the limit)."""
    if not body.startswith(b"\x1f\x8b"):
        return body, False
    unpacker = _Unpacker("gzip")
    try:
        unpacked = unpacker.feed(body, limit + 1)
        if len(unpacked) <= limit:
            unpacked += unpacker.flush(limit + 1 - len(unpacked))
    except zlib.error:
        return body, False
    return unpacked[:limit], len(unpacked) > limit


def make_client(config: FetchConfig, transport: httpx.AsyncBaseTransport | None = None, *,
                hosts: int = 0) -> httpx.AsyncClient:
    """One client per pass: no automatic redirects (we follow them ourselves so robots.txt,
    the address checks and the redirect limit apply to every hop), and a connection pool
    per host (`PerHostTransport`) that keeps every host of the pass (`hosts`, at least 64)
    so none is reopened."""
    keep = max(2 * config.concurrency, hosts, 64)
    return httpx.AsyncClient(
        follow_redirects=False, timeout=httpx.Timeout(config.timeout),
        event_hooks={"response": [_hold_location]},
        transport=transport or PerHostTransport(keep=keep), trust_env=False)


class PerHostTransport(httpx.AsyncBaseTransport):
    """A small connection pool per origin (scheme, host, port), at most `keep` of them.

    httpcore looks through every connection of its pool, asking each idle one's socket
    whether it is still open, whenever a request is assigned or a response closed: one
    pool holding a connection per host costs O(hosts) per request, a pool per host O(1)
    (on 50 hosts, 3.9 → 2.9 ms of CPU per article: `python -m bench.profile_pass`). The
    fetcher sends one request at a time to a host, so two connections per host suffice.
    Beyond `keep` origins, the least recently used one with no response open is closed.
    The verifying TLS context (the CA bundle: ~20–30 ms to load) is built once, for the
    first https origin; plain http origins get one that trusts nothing and is never used."""

    def __init__(self, *, keep: int, per_host: int = 2) -> None:
        self.keep = keep
        self._limits = httpx.Limits(max_connections=per_host,
                                    max_keepalive_connections=per_host)
        self._pools: OrderedDict[tuple[bytes, bytes, int | None], _OriginPool] = OrderedDict()
        self._tls: dict[bool, ssl.SSLContext] = {}

    def _context(self, https: bool) -> ssl.SSLContext:
        if https not in self._tls:
            self._tls[https] = (httpx.create_ssl_context(trust_env=False) if https
                                else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
        return self._tls[https]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _OriginPool(httpx.AsyncHTTPTransport(
                verify=self._context(url.scheme == "https"), limits=self._limits))
            await self._trim()
        else:
            self._pools.move_to_end(key)
        pool.open += 1
        try:
            response = await pool.transport.handle_async_request(request)
        except BaseException:
            pool.open -= 1
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Counted(response.stream, pool)
        return response

    async def _trim(self) -> None:
        for key, pool in list(self._pools.items()):
            if len(self._pools) <= self.keep:
                return
            if pool.open == 0:
                del self._pools[key]
                await pool.transport.aclose()

    async def aclose(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            await pool.transport.aclose()


@dataclass(slots=True)
class _OriginPool:
    transport: httpx.AsyncHTTPTransport
    open: int = 0  # responses not yet closed


class _Counted(httpx.AsyncByteStream):
    """A response body that tells its origin's pool when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, pool: _OriginPool) -> None:
        self._stream = stream
        self._pool: _OriginPool | None = pool

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._pool is not None:
                self._pool.open -= 1
                self._pool = None
