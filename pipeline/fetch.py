"""The fetch stage: polite, bounded HTTP with httpx.

Polite by default: an identifying User-Agent, robots.txt (RFC 9309), a delay between
requests to one host (with jitter) while different hosts are fetched concurrently.
Bounded: a total deadline per request, bodies streamed and cut at `max_bytes`, a redirect
limit, retries only where a retry can help (timeouts, connection errors, 429, 5xx) with
exponential backoff that honours Retry-After. Every request becomes a `FetchRecord`.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import re
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from . import charset
from .config import FetchConfig
from .errors import (
    FetchError,
    HTTPStatusError,
    NotHTML,
    RobotsDisallowed,
    TooManyRedirects,
    TransportError,
)
from .models import Page, utcnow

REDIRECTS = (301, 302, 303, 307, 308)
RETRY_STATUSES = (429, 500, 502, 503, 504, 507, 508, 509, 520, 521, 522, 523, 524)
ROBOTS_MAX_AGE_HOURS = 24
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


class _HostGate:
    """Serialises requests to one host and spaces them by the politeness delay."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.next_at = 0.0


class Fetcher:
    """Fetches URLs for the runner. Create one per pass, inside the event loop."""

    def __init__(self, config: FetchConfig, client: httpx.AsyncClient, *,
                 record: Callable[[FetchRecord], None],
                 load_robots: RobotsLoader | None = None,
                 save_robots: RobotsSaver | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.config = config
        self.client = client
        self.record = record
        self.load_robots = load_robots
        self.save_robots = save_robots
        self.sleep = sleep
        self._gates: dict[str, _HostGate] = {}
        self._robots: dict[str, tuple[RobotsRules | None, str | None]] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self._slots = asyncio.Semaphore(config.concurrency)

    # ------------------------------------------------------------------ public
    async def fetch(self, url: str, *, source: str, kind: str,
                    validators: tuple[str | None, str | None] = (None, None)) -> Fetched:
        """GET `url`, following redirects; raise a `FetchError` subclass on failure."""
        current = url
        for _hop in range(self.config.max_redirects + 1):
            if self.config.robots and kind != "robots":
                await self._check_robots(current, source)
            outcome = await self._with_retries(current, source=source, kind=kind,
                                               validators=validators)
            if isinstance(outcome, str):  # a redirect target
                current = outcome
                validators = (None, None)
                continue
            outcome.url = url
            return outcome
        raise TooManyRedirects(f"more than {self.config.max_redirects} redirects",
                               url=url, source=source)

    # ------------------------------------------------------------------ robots.txt
    async def _check_robots(self, url: str, source: str) -> None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:
            if origin not in self._robots:
                self._robots[origin] = await self._load_rules(origin, source)
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
        origin_rules = [r for o, (r, _) in self._robots.items() if urlsplit(o).netloc == host]
        if origin_rules and origin_rules[0] is not None:
            delay = origin_rules[0].crawl_delay
            if delay:
                return min(delay, 30.0)
        return 0.0

    # ------------------------------------------------------------------ requests
    async def _with_retries(self, url: str, *, source: str, kind: str,
                            validators: tuple[str | None, str | None]) -> Fetched | str:
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                return await self._once(url, source=source, kind=kind, validators=validators)
            except _Retryable as exc:
                if last:
                    raise exc.final from None
                await self.sleep(self._backoff(attempt, exc.retry_after))
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.config.max_retry_wait)
        wait = self.config.backoff * (2 ** attempt)
        return float(min(wait * (1 + random.uniform(0, 0.25)), self.config.max_retry_wait))

    async def _once(self, url: str, *, source: str, kind: str,
                    validators: tuple[str | None, str | None]) -> Fetched | str:
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
        async with gate.lock:
            wait = gate.next_at - time.monotonic()
            if wait > 0:  # the host's politeness delay; other hosts go ahead meanwhile
                await self.sleep(wait)
            async with self._slots:
                return await self._timed(url, host=host, gate=gate, source=source, kind=kind,
                                         headers=headers, conditional=conditional)

    async def _timed(self, url: str, *, host: str, gate: _HostGate, source: str, kind: str,
                     headers: dict[str, str], conditional: bool) -> Fetched | str:
        started = time.monotonic()
        record = FetchRecord(url=url, source=source, kind=kind, status=None, error=None,
                             fetched_at=utcnow(), elapsed_ms=0, conditional=conditional)
        try:
            async with asyncio.timeout(self.config.timeout):
                return await self._request(url, kind=kind, source=source,
                                           headers=headers, record=record)
        except TimeoutError as exc:
            record.error = f"timed out after {self.config.timeout:g} s"
            raise _Retryable(TransportError(record.error, url=url, source=source)) from exc
        except httpx.TransportError as exc:
            record.error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            raise _Retryable(TransportError(record.error, url=url, source=source)) from exc
        except FetchError as exc:
            record.error = record.error or str(exc)
            raise
        finally:
            record.elapsed_ms = int((time.monotonic() - started) * 1000)
            self.record(record)
            delay = max(self.config.host_delay, self.crawl_delay(host))
            gate.next_at = time.monotonic() + delay * (1 + random.uniform(0, 0.2))

    async def _request(self, url: str, *, kind: str, source: str, headers: dict[str, str],
                       record: FetchRecord) -> Fetched | str:
        async with self.client.stream("GET", url, headers=headers) as response:
            status = record.status = response.status_code
            if status in REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise HTTPStatusError(f"HTTP {status} without a Location header",
                                          url=url, source=source, status=status)
                target: str = urljoin(url, location)
                record.redirect_to = target
                return target
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
            body, truncated = await self._read_capped(response)
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

    async def _read_capped(self, response: httpx.Response) -> tuple[bytes, bool]:
        limit = self.config.max_bytes
        declared = response.headers.get("content-length")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(chunks)[:limit], True
        body = b"".join(chunks)
        truncated = bool(declared and declared.isdigit() and int(declared) > limit)
        return body, truncated


class _Retryable(Exception):
    """Internal: a failure worth another attempt; `final` is raised when none are left."""

    def __init__(self, final: FetchError, retry_after: float | None = None) -> None:
        super().__init__(str(final))
        self.final = final
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
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
    try:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        unpacked = decompressor.decompress(body, limit)
    except (zlib.error, gzip.BadGzipFile):
        return body, False
    return unpacked, bool(decompressor.unconsumed_tail)


def make_client(config: FetchConfig, transport: httpx.AsyncBaseTransport | None = None
                ) -> httpx.AsyncClient:
    """One client per pass: pooled connections, no automatic redirects (we follow them
    ourselves so robots.txt and the redirect limit apply to every hop)."""
    return httpx.AsyncClient(
        follow_redirects=False, timeout=httpx.Timeout(config.timeout),
        limits=httpx.Limits(max_connections=config.concurrency * 2,
                            max_keepalive_connections=config.concurrency * 2),
        transport=transport, trust_env=False)


class RobotsRules:
    """robots.txt rules for one crawler, matched as RFC 9309 says.

    The groups naming our product token (case-insensitive) apply, else the `*` groups;
    within them the longest matching path pattern wins and, at equal length, `Allow` wins;
    `*` matches any characters and a final `$` anchors the end. (`urllib.robotparser`
    takes the first matching line instead and treats `*` and `$` as literal characters,
    so `Allow: /` before `Disallow: /private/` would let us into /private/.)
    """

    __slots__ = ("crawl_delay", "rules")

    def __init__(self, rules: list[tuple[bool, str]], crawl_delay: float | None) -> None:
        self.rules = rules  # (allow, pattern)
        self.crawl_delay = crawl_delay

    @classmethod
    def parse(cls, text: str, agent: str) -> RobotsRules:
        agent = agent.lower()
        groups: list[tuple[list[str], list[tuple[bool, str]], list[float]]] = []
        in_agents = False
        for raw in text.lstrip("\ufeff").splitlines():
            line = raw.split("#", 1)[0].strip()
            if ":" not in line:
                continue
            field, value = (part.strip() for part in line.split(":", 1))
            field = field.lower()
            if field == "user-agent":
                if not in_agents:
                    groups.append(([], [], []))
                    in_agents = True
                groups[-1][0].append(value.lower())
                continue
            if not groups:
                continue  # rules before any user-agent line belong to no group
            in_agents = False
            if field in ("allow", "disallow") and value:
                groups[-1][1].append((field == "allow", value))
            elif field == "crawl-delay":
                try:
                    groups[-1][2].append(float(value))
                except ValueError:
                    pass
        ours = [g for g in groups if any(a != "*" and a == agent for a in g[0])]
        chosen = ours or [g for g in groups if "*" in g[0]]
        rules = [rule for g in chosen for rule in g[1]]
        delays = [d for g in chosen for d in g[2]]
        return cls(rules, max(delays) if delays else None)

    def _best(self, url: str) -> tuple[bool, str] | None:
        parts = urlsplit(url)
        target = _robots_norm((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        best: tuple[bool, str] | None = None
        for allow, pattern in self.rules:
            if not _robots_match(_robots_norm(pattern), target):
                continue
            if best is None or len(pattern) > len(best[1]) or (
                    len(pattern) == len(best[1]) and allow and not best[0]):
                best = (allow, pattern)
        return best

    def allowed(self, url: str) -> bool:
        if urlsplit(url).path == "/robots.txt":
            return True
        best = self._best(url)
        return best is None or best[0]

    def rule_for(self, url: str) -> str:
        best = self._best(url)
        return "no rule" if best is None else f"{'Allow' if best[0] else 'Disallow'}: {best[1]}"


def _robots_norm(path: str) -> str:
    """Compare paths decoded, so `/caf%C3%A9` and `/café` are the same path."""
    return unquote(path)


def _robots_match(pattern: str, path: str) -> bool:
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = ".*".join(re.escape(piece) for piece in body.split("*"))
    return re.match(regex + ("$" if anchored else ""), path, re.DOTALL) is not None
