"""One pass: every source's links fetched, each article taken through the stages, stored.

The stage sequence for a fetched page is listed once, in `Pass.process`:

    extract → language → translation status → relevance → story placement → store

HTTP runs in an asyncio loop (hosts concurrently, one host politely); everything that
touches SQLite or burns CPU runs on one worker thread, one article at a time, each
committed in its own transaction. Translation runs at the end of the pass, batched across
the articles the pass stored. A stop request (SIGTERM/SIGINT) lets the article in hand
finish; links not reached stay in the frontier for the next pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import httpx

from . import extract, language, stories
from .config import Config, SourceConfig, TranslateConfig
from .discover import discover
from .errors import ExtractError, FeedError, FetchError, NotHTML, RobotsDisallowed
from .fetch import Fetcher, FetchRecord, make_client
from .models import Article, FetchError_, Page, PassReport
from .relevance import Matcher
from .store import Link, Store

log = logging.getLogger("tidings.runner")
T = TypeVar("T")
MAX_CHILD_SITEMAPS = 20
MAX_LINK_ATTEMPTS = 5
POOL_AFTER_PAGES = 24  # worker processes take ~1 s to start: only for passes bigger than this
Validators = tuple[str | None, str | None, str | None]  # ETag, Last-Modified, index body


BACKOFF_CAP = timedelta(hours=24)


def backoff_interval(every: timedelta, failures: int) -> timedelta:
    """A failing source waits twice as long after each failure, up to a cap."""
    if failures <= 0:
        return every
    doubled: timedelta = every * (2 ** min(failures, 16))
    return min(doubled, max(every, BACKOFF_CAP))


def next_due(every: timedelta, failures: int, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return (now + backoff_interval(every, failures)).replace(microsecond=0).isoformat()


def backed_off(state: dict[str, Any] | None, now: datetime | None = None) -> bool:
    """True while a failing source waits out its backoff."""
    if not state or not state.get("consecutive_failures") or not state.get("next_due_at"):
        return False
    return datetime.fromisoformat(state["next_due_at"]) > (now or datetime.now(UTC))


class Progress(Protocol):
    """What the runner tells a progress display; the CLI passes a rich one on a TTY."""

    def add_total(self, n: int) -> None: ...
    def advance(self, description: str) -> None: ...


class _Silent:
    def add_total(self, n: int) -> None:
        pass

    def advance(self, description: str) -> None:
        pass


def initial_translation_status(lang: str, config: TranslateConfig) -> tuple[str, str | None]:
    """Before the translation stage: what this language needs."""
    if lang == config.target:
        return "not_needed", None
    if lang in config.languages:
        return "pending", None
    return "failed", (f"untranslatable by configuration: language {lang!r} is not in "
                      f"translate.languages")


@dataclass(slots=True)
class Prepared:
    """A page after the pure stages: ready for story placement and the store."""

    article: Article
    fingerprint: stories.Fingerprint
    keys: list[str]


class Preparer:
    """The pure stages, in order: extract → language → translation status → relevance →
    fingerprint. No I/O, so it runs as well in a worker process as on the store thread."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.matcher = Matcher.from_config(config.watch, config.topic)

    def __call__(self, page: Page) -> Prepared:
        article = extract.extract(page, min_chars=self.config.fetch.min_text_chars)
        article = language.detect_article(article)
        status, reason = initial_translation_status(article.lang, self.config.translate)
        article = article.replace(translation_status=status, translation_error=reason)
        article = self.matcher.judge(article)
        fingerprint = stories.fingerprint(article)
        return Prepared(article, fingerprint, stories.index_keys(fingerprint))


_WORKER_PREPARER: Preparer | None = None


def _init_worker(config: Config) -> None:
    """A worker process ignores SIGINT/SIGTERM: stopping is the parent's decision."""
    global _WORKER_PREPARER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _WORKER_PREPARER = Preparer(config)


def _prepare_in_worker(page: Page) -> Prepared | ExtractError:
    assert _WORKER_PREPARER is not None
    try:
        return _WORKER_PREPARER(page)
    except ExtractError as exc:  # returned, not raised: it is an outcome, not a crash
        return ExtractError(str(exc), url=exc.url)


@dataclass(slots=True)
class Outcome:
    kind: str  # new | duplicate | known | no_text
    article: Article | None = None
    new_story: bool = False
    flagged: bool = False
    error: str | None = None


TranslatorFactory = Callable[[Config, Store], Any]


class StoreCache:
    """The translation cache of the store, in the shape the translator asks for."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get_many(self, package_key: str, sentences: list[str]) -> dict[str, str]:
        return self.store.cached_translations(package_key, sentences)

    def put_many(self, package_key: str, pairs: list[tuple[str, str]]) -> None:
        self.store.cache_translations(package_key, pairs)


class TranslationStage:
    """Translate stored articles by id, batched, and record each result."""

    def __init__(self, translator: Any, store: Store) -> None:
        self.translator = translator
        self.store = store

    def translate_ids(self, ids: list[int] | None, *, statuses: tuple[str, ...] = ("pending",),
                      languages: tuple[str, ...] | None = None, batch: int = 64,
                      progress: Progress | None = None) -> int:
        articles = self.store.articles_to_translate(statuses=statuses, ids=ids,
                                                    languages=languages)
        if progress:
            progress.add_total(len(articles))
        done = 0
        for i in range(0, len(articles), batch):
            for article in self.translator.translate_articles(articles[i:i + batch]):
                self.store.save_translation(article)
                done += article.translation_status == "done"
                if progress:
                    progress.advance(article.lang)
        return done


def default_translator(config: Config, store: Store) -> TranslationStage | None:
    """The Argos translation stage, or None when no package is installed (articles then
    stay `pending` until `tidings translate`)."""
    return TranslatorKeeper(config).stage(store)


class TranslatorKeeper:
    """Keeps one Translator (so one loaded CTranslate2 model per package) for a process
    that runs many passes, such as the daemon; each pass hands it its store."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._translator: Any = None

    def stage(self, store: Store) -> TranslationStage | None:
        from . import translate
        if not translate.list_packages(self.config.translate):
            return None
        if self._translator is None:
            self._translator = translate.Translator(self.config.translate)
        self._translator.cache = StoreCache(store)
        return TranslationStage(self._translator, store)

    def __call__(self, config: Config, store: Store) -> TranslationStage | None:
        return self.stage(store)


class Pass:
    def __init__(self, config: Config, store: Store, *, sources: list[SourceConfig],
                 progress: Progress | None = None, stop: threading.Event | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 translator_factory: TranslatorFactory | None = default_translator) -> None:
        self.config = config
        self.store = store
        self.sources = sources
        self.progress = progress or _Silent()
        self.stop = stop or threading.Event()
        self.transport = transport
        self.translator_factory = translator_factory
        self.report = PassReport(sources=len(sources))
        self.preparer = Preparer(config)
        # The parent keeps a core busy with HTTP and the store: one worker fewer than cores.
        self.workers = config.fetch.workers or max(1, (os.cpu_count() or 1) - 1)
        self._pool: ProcessPoolExecutor | None = None
        self._pages_seen = 0
        self._announced = 0  # article links waiting in this pass, as sources report them
        self._records: list[FetchRecord] = []
        self._new_ids: list[int] = []
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidings-store")

    # ------------------------------------------------------------------ plumbing
    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` on the store thread, writing the buffered fetch log first."""
        records, self._records = self._records, []
        loop = asyncio.get_running_loop()

        def call() -> T:
            if records:
                self.store.record_fetches(r.as_row() for r in records)
            return fn(*args, **kwargs)
        return await loop.run_in_executor(self._worker, call)

    def _record(self, record: FetchRecord) -> None:
        self._records.append(record)

    def _error(self, source: str, url: str, error: str) -> None:
        self.report.errors.append(FetchError_(source=source, url=url, error=error))
        log.warning("%s", error, extra={"source": source, "url": url})

    # ------------------------------------------------------------------ the pass
    def run(self) -> PassReport:
        try:
            return asyncio.run(self._run())
        finally:
            self._worker.shutdown(wait=True)
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)

    async def _run(self) -> PassReport:
        run_id = await self._db(self.store.start_run, "run")
        async with make_client(self.config.fetch, self.transport) as client:
            fetcher = Fetcher(self.config.fetch, client, record=self._record,
                              load_robots=self._load_robots, save_robots=self._save_robots)
            await asyncio.gather(*(self._crawl(fetcher, s) for s in self.sources))
        if not self.stop.is_set():
            await self._translate()
        counts = await self._db(self.store.counts)
        self.report.pending_translation = counts["pending_translation"]
        self.report.interrupted = self.stop.is_set()
        await self._db(self.store.finish_run, run_id, self.report.as_dict())
        return self.report

    async def _load_robots(self, url: str) -> str | None:
        return await self._db(self.store.cached_body, url, timedelta(hours=24))

    async def _save_robots(self, url: str, body: str) -> None:
        await self._db(self.store.save_validators, url, None, None, body)

    async def _crawl(self, fetcher: Fetcher, source: SourceConfig) -> None:
        name = source.name
        try:
            found, validators = await self._discover(fetcher, source)
        except (FetchError, FeedError) as exc:
            self.report.failed_sources.append(name)
            self._error(name, getattr(exc, "url", "") or source.url, str(exc))
            state = await self._db(self.store.source_state, name)
            failures = (state["consecutive_failures"] if state else 0) + 1
            await self._db(self.store.record_source_result, name, ok=False, error=str(exc),
                           next_due_at=next_due(source.every, failures))
            log.warning("source failed %d time(s) in a row; next try in %s", failures,
                        backoff_interval(source.every, failures), extra={"source": name})
            return
        if found:
            await self._db(self.store.add_links, found)
        for url, (etag, modified, body) in validators.items():
            # Only now, with the links safely stored, may the next pass skip this document.
            await self._db(self.store.save_validators, url, etag, modified, body)
        pending = await self._db(self.store.pending_links, name,
                                 limit=self.config.fetch.max_articles,
                                 max_attempts=MAX_LINK_ATTEMPTS)
        self.progress.add_total(len(pending))
        self._announced += len(pending)
        new_here = 0  # sources run concurrently: the report's total is not this source's
        for link in pending:
            if self.stop.is_set():
                break
            new_here += await self._article(fetcher, link)
            self.progress.advance(name)
        await self._db(self.store.record_source_result, name, ok=True, error=None,
                       next_due_at=next_due(source.every, 0))
        log.info("%d links announced, %d pending, %d new articles", len(found), len(pending),
                 new_here, extra={"source": name})

    async def _discover(self, fetcher: Fetcher, source: SourceConfig
                        ) -> tuple[list[Link], dict[str, Validators]]:
        """Fetch the source's entry document, and a sitemap index's children.

        A sitemap index's body is kept with its validators: when the index answers 304,
        its children are still asked (conditionally), since they change on their own.
        A child that fails is reported; the source goes on with the others."""
        queue = [source.url]
        links: list[Link] = []
        validators: dict[str, Validators] = {}
        seen: set[str] = set()
        while queue and len(seen) <= MAX_CHILD_SITEMAPS:
            url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            cached = await self._db(self.store.validators, url)
            try:
                fetched = await fetcher.fetch(url, source=source.name, kind=source.kind,
                                              validators=cached)
            except (FetchError, FeedError) as exc:
                if url == source.url:
                    raise
                self._error(source.name, url, f"child sitemap: {exc}")
                continue
            self.report.fetched += 1
            text: str | None = fetched.page.text if fetched.page is not None else None
            if text is None and source.kind == "sitemap":
                text = await self._db(self.store.cached_body, url, timedelta(days=36500))
                if text is None:
                    continue
                found = discover(source.kind, text, url)
                queue += found.child_sitemaps  # an unchanged index: ask its children
                continue
            if text is None or fetched.page is None:
                continue
            try:
                found = discover(source.kind, text, fetched.final_url)
            except FeedError:
                if url == source.url:
                    raise
                self._error(source.name, url, "child sitemap cannot be parsed")
                continue
            if found.warning:
                log.info("%s", found.warning, extra={"source": source.name, "url": url})
            links += [Link(url=f.url, source=source.name, title=f.title,
                           published=f.published) for f in found.links]
            queue += found.child_sitemaps
            if fetched.etag or fetched.last_modified:
                validators[url] = (fetched.etag, fetched.last_modified,
                                   text if found.child_sitemaps else None)
        return links, validators

    async def _unless_stopped(self, coro: Awaitable[T]) -> T | None:
        """Await `coro`, but give it up (None) as soon as a stop is requested: a fetch in
        flight is abandoned (its link stays pending), never an article being stored."""
        task = asyncio.ensure_future(coro)
        while not task.done():
            if self.stop.is_set():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return None
            await asyncio.wait([task], timeout=0.1)
        return task.result()

    async def _article(self, fetcher: Fetcher, link: Link) -> bool:
        """Fetch and process one link; True when it became a new article."""
        try:
            fetched = await self._unless_stopped(
                fetcher.fetch(link.url, source=link.source, kind="article"))
            if fetched is None:
                return False
        except (NotHTML, RobotsDisallowed) as exc:
            self.report.skipped += 1
            self._error(link.source, link.url, str(exc))
            await self._db(self.store.finish_link, link.url, "skipped", error=str(exc))
            return False
        except FetchError as exc:
            self._error(link.source, link.url, str(exc))
            await self._db(self.store.finish_link, link.url, "failed", error=str(exc))
            return False
        if fetched.page is None:
            return False
        self.report.fetched += 1
        if fetched.page.truncated:
            self._error(link.source, link.url,
                        f"body larger than max_bytes ({self.config.fetch.max_bytes}): "
                        "cut off, the article was stored from the part received")
        page = fetched.page
        page.hint_title, page.hint_published = link.title, link.published
        prepared = await self._prepare(page)
        outcome = await self._db(self.process, prepared, link)
        self._count(outcome, link)
        return outcome.kind == "new"

    def _count(self, outcome: Outcome, link: Link) -> None:
        if outcome.kind == "no_text":
            self.report.skipped += 1
            self._error(link.source, link.url, outcome.error or "no article text")
        elif outcome.kind == "duplicate" or outcome.kind == "known":
            self.report.duplicates += 1
        elif outcome.kind == "new":
            self.report.new_articles += 1
            self.report.new_stories += int(outcome.new_story)
        if outcome.flagged:
            self.report.flagged += 1
        if outcome.article is not None and outcome.article.id is not None \
                and outcome.article.translation_status == "pending":
            self._new_ids.append(outcome.article.id)

    # ------------------------------------------------------------------ the stages
    async def _prepare(self, page: Page) -> Prepared | ExtractError:
        """The pure stages: in worker processes once the pass is big enough to pay for
        starting them (so extraction uses every core and the parent never loads the
        extraction stack), else on the store thread."""
        self._pages_seen += 1
        big = max(self._pages_seen, self._announced) > POOL_AFTER_PAGES
        if self._pool is None and big:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(self.config,))
        if self._pool is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, _prepare_in_worker, page)
        return await self._db(self._prepare_here, page)

    def _prepare_here(self, page: Page) -> Prepared | ExtractError:
        try:
            return self.preparer(page)
        except ExtractError as exc:
            return exc

    def process(self, prepared: Prepared | ExtractError, link: Link) -> Outcome:
        """Runs on the store thread: story placement and the store, one transaction."""
        if isinstance(prepared, ExtractError):
            self.store.finish_link(link.url, "skipped", error=str(prepared))
            return Outcome("no_text", error=str(prepared))
        article, fingerprint, keys = prepared.article, prepared.fingerprint, prepared.keys
        known = self.store.article_id_for_url(article.url)
        if known is not None:
            self.store.finish_link(link.url, "done", article_id=known)
            return Outcome("known")
        candidates = self.store.candidates(keys, around=article.published_at or
                                           article.fetched_at,
                                           window_days=self.config.stories.window_days,
                                           per_key=stories.key_weights())
        placement = stories.place(article, fingerprint, candidates, self.config.stories)
        saved = self.store.save_article(article, placement, fingerprint, keys,
                                        link_url=link.url)
        kind = "duplicate" if saved.article.duplicate_of is not None else "new"
        return Outcome(kind, saved.article, new_story=saved.new_story,
                       flagged=saved.flagged_now)

    async def _translate(self) -> None:
        if not self._new_ids or self.translator_factory is None:
            return
        stage = await self._db(self.translator_factory, self.config, self.store)
        if stage is None:
            return
        done = await self._db(stage.translate_ids, list(self._new_ids))
        self.report.translated += int(done)


def run_pass(config: Config, store: Store, *, source: str | None = None,
             progress: Progress | None = None, stop: threading.Event | None = None,
             transport: httpx.AsyncBaseTransport | None = None,
             translator_factory: TranslatorFactory | None = default_translator) -> PassReport:
    """One idempotent pass over every source (or the one named). Sources backing off after
    failures are left out until their time comes, unless named."""
    if source:
        sources = [config.source(source)]
        waiting: list[SourceConfig] = []
    else:
        states = {s.name: store.source_state(s.name) for s in config.sources}
        waiting = [s for s in config.sources if backed_off(states[s.name])]
        sources = [s for s in config.sources if s not in waiting]
        for skipped in waiting:
            state = states[skipped.name] or {}
            log.info("backing off after %s failures until %s",
                     state.get("consecutive_failures"), state.get("next_due_at"),
                     extra={"source": skipped.name})
    report = Pass(config, store, sources=sources, progress=progress, stop=stop,
                  transport=transport, translator_factory=translator_factory).run()
    report.backed_off = [s.name for s in waiting]
    return report
