"""The frontier: what a source announces, and what the next pass may skip.

A source's entry document (feed, sitemap or listing page) is fetched conditionally; a
sitemap index's children are walked (at most `MAX_CHILD_SITEMAPS`). The links found are
stored in the `links` table before any validator (ETag, Last-Modified) is saved, so a
document answers 304 on the next pass only once its links are safely remembered. A
sitemap index that answers 304 is replayed from its remembered body so that its children,
which change on their own, are still asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from .config import SourceConfig
from .discover import discover
from .due import backoff_interval, next_due, unreachable
from .errors import FeedError, FetchError
from .fetch import Fetcher
from .models import Link, ReportedError
from .store import Store

log = logging.getLogger("tidings.frontier")
T = TypeVar("T")
MAX_CHILD_SITEMAPS = 20
FOREVER = timedelta(days=36500)
ROBOTS_MAX_AGE = timedelta(hours=24)


class StoreThread(Protocol):
    """Runs a store call on the store's own thread."""

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...


@dataclass(slots=True)
class Validators:
    etag: str | None
    last_modified: str | None
    body: str | None  # a sitemap index's body, replayed when it answers 304


@dataclass(slots=True)
class Announced:
    """What one source's documents announced in this pass."""

    links: list[Link] = field(default_factory=list)
    validators: dict[str, Validators] = field(default_factory=dict)
    documents: int = 0  # documents fetched (a 304 counts)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (url, error) of children


class Frontier:
    """Discovers a source's links and remembers them, robots.txt for a day, and a failed
    source's backoff; `store` runs on the store thread through `on_store`."""

    def __init__(self, store: Store, on_store: StoreThread) -> None:
        self.store = store
        self.on_store = on_store

    async def load_robots(self, url: str) -> str | None:
        return await self.on_store(self.store.cached_body, url, ROBOTS_MAX_AGE)

    async def save_robots(self, url: str, body: str) -> None:
        await self.on_store(self.store.save_validators, url, None, None, body)

    async def announce(self, fetcher: Fetcher, source: SourceConfig) -> Announced:
        """Fetch the source's entry document, and a sitemap index's children.

        The entry document failing raises (the source failed); a child that fails is
        reported in `Announced.errors` and the source goes on with the others."""
        queue = [source.url]
        found = Announced()
        seen: set[str] = set()
        while queue and len(seen) <= MAX_CHILD_SITEMAPS:
            url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            try:
                queue += await self._document(fetcher, source, url, found)
            except (FetchError, FeedError) as exc:
                if url == source.url:
                    raise
                found.errors.append((url, f"child sitemap: {exc}"))
        return found

    async def _document(self, fetcher: Fetcher, source: SourceConfig, url: str,
                        found: Announced) -> list[str]:
        """Fetch one document into `found`; return the child sitemaps it names."""
        cached = await self.on_store(self.store.validators, url)
        fetched = await fetcher.fetch(url, source=source.name, kind=source.kind,
                                           validators=cached)
        found.documents += 1
        if fetched.page is None:  # 304: only a sitemap index is worth replaying
            if source.kind != "sitemap":
                return []
            body = await self.on_store(self.store.cached_body, url, FOREVER)
            return discover(source.kind, body, url).child_sitemaps if body else []
        text = fetched.page.text
        discovered = discover(source.kind, text, fetched.final_url)
        if discovered.warning:
            log.info("%s", discovered.warning, extra={"source": source.name, "url": url})
        found.links += [Link(url=f.url, source=source.name, title=f.title,
                             published=f.published) for f in discovered.links]
        if fetched.etag or fetched.last_modified:
            found.validators[url] = Validators(
                fetched.etag, fetched.last_modified,
                text if discovered.child_sitemaps else None)
        return discovered.child_sitemaps

    async def remember(self, found: Announced, max_pending: int) -> int:
        """Store the links, and only then the validators that let the next pass skip them.
        Returns how many links were dropped because the source has `max_pending` waiting."""
        dropped = 0
        if found.links:
            _new, dropped = await self.on_store(self.store.add_links, found.links,
                                                max_pending=max_pending)
        for url, v in found.validators.items():
            await self.on_store(self.store.save_validators, url, v.etag, v.last_modified,
                                v.body)
        return dropped

    async def failed(self, failures: list[tuple[SourceConfig, Exception]],
                     sources: int) -> str | None:
        """Record the sources that failed in a pass of `sources`: each backs off for a
        doubled interval, unless every source failed for a network error. Then the network
        is at fault: the errors are kept but count toward no backoff, and the verdict
        (`due.unreachable`) is returned."""
        errors = self.errors(failures)
        verdict = unreachable([(urlsplit(s.url).hostname or s.url, e.error)
                               for (s, _), e in zip(failures, errors, strict=True)], sources)
        for (source, _), error in zip(failures, errors, strict=True):
            state = await self.on_store(self.store.source_state, source.name)
            n = (state.consecutive_failures if state else 0) + 1
            await self.on_store(self.store.record_source_result, source.name, ok=False,
                                error=error.error, next_due_at=next_due(source.every, n),
                                counted=verdict is None)
            if verdict is None:
                log.warning("source failed %d time(s) in a row; next try in %s", n,
                            backoff_interval(source.every, n), extra={"source": source.name})
        return verdict

    @staticmethod
    def errors(failures: list[tuple[SourceConfig, Exception]]) -> list[ReportedError]:
        """What each failed source reports: our own errors as they read, others with
        their type (an error nobody foresaw)."""
        return [ReportedError(source.name, getattr(exc, "url", "") or source.url,
                              str(exc) if isinstance(exc, FetchError | FeedError)
                              else f"{type(exc).__name__}: {exc}") for source, exc in failures]
