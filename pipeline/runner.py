"""One pass: every due source's links fetched, each article taken through the stages, stored.

The stage order: `prepare.Preparer.STAGES` names the pure stages (in a module of their
own, all a worker process imports) and `Pass._article` runs the rest, in this order:

    fetch → extract → language → translation status → relevance → embedding → fingerprint
          → translate and fingerprint again (when a package for the language is installed)
          → place, flag, store, follows, importance (`StoryStage.save`)

HTTP runs in an asyncio loop (sources and hosts concurrently, one host politely). The pure
stages run in worker processes once a pass is big enough to pay for starting them, else
on the store thread; all SQLite work runs on that thread (`storethread.StoreCalls`), in
batches: a link is `done` in the transaction that stores its article, so a crash redoes
at most one batch. Each source and each article runs inside a catch-all: an error nobody
foresaw is reported on that source or link (the link's attempt is counted and it is
retired after `MAX_LINK_ATTEMPTS`), never the end of the pass. A stop request
(SIGTERM/SIGINT) abandons fetches in flight; links not reached stay for the next pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from . import netguard
from .budget import Budget
from .config import Config, SourceConfig
from .due import backing_off, next_due
from .errors import ExtractError, FetchError, StoreError
from .fetch import Fetcher, make_client
from .frontier import Frontier
from .models import Fate, Link, Page, PassReport, ReportedError
from .packages import list_packages
from .prepare import Prepared, Preparer
from .store import Store
from .storethread import StoreCalls
from .translate import Progress, TranslationStage, TranslationStages, TranslatorKeeper
from .workers import WorkerPool

if TYPE_CHECKING:  # numpy, trafilatura and the embedding load on the first page, not before
    from .storystage import StoryStage

log = logging.getLogger("tidings.runner")
MAX_LINK_ATTEMPTS = 5
POOL_AFTER_PAGES = 100  # a worker costs ~1.1 s CPU to start: only for passes bigger than this
SIZE_WAIT = 5.0  # seconds a page waits, at most, for the pass's size to be known


Pool = WorkerPool[Page, Prepared]
PoolSource = Pool | Callable[[], Pool]  # a pool, or where to get one when a pass needs it


def installed_languages(config: Config) -> frozenset[str]:
    """The languages a translation package covers, as the pass starts."""
    return frozenset(p.from_code for p in list_packages(config.translate))


def preparer_pool(config: Config) -> Pool:
    """Worker processes that run `Preparer` (so extraction uses every core)."""
    return WorkerPool(Preparer, (config, installed_languages(config)), config.fetch.workers,
                      stages=Preparer.STAGES)


class Pass:
    def __init__(self, config: Config, store: Store, *, sources: list[SourceConfig],
                 progress: Progress | None = None, stop: threading.Event | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 translators: TranslationStages | None = None,
                 pool: PoolSource | None = None) -> None:
        self.config, self.store, self.sources = config, store, sources
        self.progress, self.transport, self.translators = progress, transport, translators
        self.stop = stop or threading.Event()
        self.report = PassReport(sources=len(sources))
        self.preparer = Preparer(config, installed_languages(config))
        self._story_stage: StoryStage | None = None
        self._pool: Pool | None = None
        self._pool_source, self._own_pool = pool, False  # a pool given is kept, not closed
        self._pages = self._announced = 0  # pages prepared; article links waiting this pass
        self._announcing = len(sources)  # sources that have not yet said how many links wait
        self._sized = asyncio.Event()  # all have, or enough to start a pool
        self._sized_by: float | None = None  # when a page stops waiting for that
        self._translation: TranslationStage | None = None  # when a package is installed
        self._failed: list[tuple[SourceConfig, Exception]] = []
        self._on_store = StoreCalls(store)

    def run(self) -> PassReport:
        try:
            return asyncio.run(self._run())
        finally:
            self._on_store.close()
            if self._pool is not None and self._own_pool:
                self._pool.close()

    @property
    def story_stage(self) -> StoryStage:
        if self._story_stage is None:
            from .storystage import StoryStage
            self._story_stage = StoryStage(self.config, self.store)
        return self._story_stage

    def _error(self, source: str, url: str, error: str, *, quiet: bool = False) -> None:
        self.report.errors.append(ReportedError(source=source, url=url, error=error))
        log.log(logging.INFO if quiet else logging.WARNING, "%s", error,
                extra={"source": source, "url": url})

    async def _run(self) -> PassReport:
        self._budget = Budget(self.stop, self.config.fetch.pass_seconds)
        run_id = await self._on_store(self.store.start_run, "run")
        if self.translators is not None:
            self._translation = await self._on_store(self.translators.stage, self.store)
        origins = netguard.source_origins(s.url for s in self.config.sources)
        async with make_client(self.config.fetch, self.transport, hosts=len(origins)) as client:
            frontier = Frontier(self.store, self._on_store)
            fetcher = Fetcher(self.config.fetch, client, record=self._on_store.records.append,
                              load_robots=frontier.load_robots, save_robots=frontier.save_robots,
                              allowed=origins)  # only the sources' own hosts may be private
            await asyncio.gather(*(self._source(fetcher, frontier, s) for s in self.sources))
            # a failed source backs off, unless none could be reached for a network error
            verdict = self.report.unreachable = await frontier.failed(self._failed,
                                                                      len(self.sources))
            for error in frontier.errors(self._failed):
                self.report.failed_sources.append(error.source)
                self._error(error.source, error.url, error.error, quiet=verdict is not None)
        waiting = await self._on_store(self.store.pending_translation_by_language)
        self.report.pending_translation = sum(waiting.values())  # an index, not a scan
        self.report.interrupted = self.stop.is_set()
        await self._on_store(self.store.finish_run, run_id, self.report.as_dict())
        await self._on_store.finish()
        return self.report

    async def _source(self, fetcher: Fetcher, frontier: Frontier, source: SourceConfig) -> None:
        """One source: announce, remember, then each pending link, within its time budget;
        raises only when the store cannot be written."""
        name, fetch = source.name, self.config.fetch
        budget = self._budget.part(fetch.source_seconds)
        try:
            found = await budget.within(frontier.announce(fetcher, source))
            if found is None:
                return
            dropped = await frontier.remember(found, fetch.max_pending)
            pending = await self._on_store(self.store.pending_links, name,
                                           limit=fetch.max_articles,
                                           max_attempts=MAX_LINK_ATTEMPTS)
            self._announced += len(pending)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of a source is that source's
            self._failed.append((source, exc))
            return
        finally:
            self._announcing -= 1
            if not self._announcing or self._announced > POOL_AFTER_PAGES:
                self._sized.set()
        if dropped:
            self._error(name, source.url, f"{dropped} links not kept: {fetch.max_pending} "
                        "already wait (fetch.max_pending)")
        self.report.fetched += found.documents
        for url, error in found.errors:
            self._error(name, url, error)
        if self.progress:
            self.progress.add_total(len(pending))
        new_here = 0  # sources run concurrently: the report's total is not this source's
        for n, link in enumerate(pending):
            if self.stop.is_set():
                break
            if budget.spent():
                self._error(name, source.url, f"time budget used up: {len(pending) - n} links "
                            "wait for the next pass (fetch.source_budget, fetch.pass_budget)")
                break
            new_here += await self._article(fetcher, link, budget) == Fate.NEW
            if self.progress:
                self.progress.advance(name)
        await self._on_store(self.store.record_source_result, name, ok=True, error=None,
                             next_due_at=next_due(source.every, 0))
        log.info("%d links announced, %d pending, %d new articles", len(found.links),
                 len(pending), new_here, extra={"source": name})

    async def _article(self, fetcher: Fetcher, link: Link, budget: Budget) -> Fate | None:
        """One link through the stages; None when it gave nothing (error, stop)."""
        try:
            fetched = await budget.within(fetcher.fetch(link.url, source=link.source,
                                                        kind="article"))
            if fetched is None or (page := fetched.page) is None:
                return None
            self.report.fetched += 1
            if page.truncated:
                self._error(link.source, link.url,
                            f"body larger than max_bytes ({self.config.fetch.max_bytes}): "
                            "cut off, the article was stored from the part received")
            page.hint_title, page.hint_published = link.title, link.published
            pool = await self._worker_pool()
            if pool is None:  # the pure stages on the store thread: one hand-off, not two
                return await self._on_store(self._prepare_place_and_store, page, link)
            try:
                prepared: Prepared | ExtractError = await pool.run(page)
            except ExtractError as exc:  # no article text: an outcome, as on the store thread
                prepared = exc
            return await self._on_store(self._place_and_store, prepared, link)
        except FetchError as exc:  # a final one (robots, not HTML, refused) is not retried
            self.report.pages_skipped += exc.final
            await self._link_failed(link, str(exc), "skipped" if exc.final else "failed")
        except StoreError:
            raise
        except Exception as exc:  # an error nobody foresaw is this link's, not the pass's
            log.exception("unexpected error", extra={"source": link.source, "url": link.url})
            await self._link_failed(link, f"{type(exc).__name__}: {exc}", "failed")
        return None

    async def _link_failed(self, link: Link, error: str, status: str) -> None:
        retired = await self._on_store(self.store.finish_link, link.url, status, error=error,
                                       retire_after=MAX_LINK_ATTEMPTS)
        self._error(link.source, link.url, f"{error} (retired after {MAX_LINK_ATTEMPTS} "
                    "failed attempts)" if retired else error)

    async def _worker_pool(self) -> Pool | None:
        """Where a page's pure stages run: in worker processes when the pass is big enough
        to pay for them (the daemon's pool, kept for its life, or the pass's own), else
        (None) on the store thread. Which, is decided once every source has said how many
        links wait (or enough do), not by which page comes first: a page prepared here
        loads the models into this process too (~150 MB), for nothing once the pool
        starts."""
        if not self._sized.is_set():
            loop = asyncio.get_running_loop()
            self._sized_by = self._sized_by or loop.time() + SIZE_WAIT
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sized.wait(), self._sized_by - loop.time())
        self._pages += 1
        if self._pool is None and max(self._pages, self._announced) > POOL_AFTER_PAGES:
            given = self._pool_source
            self._pool = given() if callable(given) else given
            if self._pool is None:
                self._pool, self._own_pool = preparer_pool(self.config), True
        return self._pool

    def _prepare_place_and_store(self, page: Page, link: Link) -> Fate:
        """On the store thread: the pure stages, then `_place_and_store`."""
        return self._place_and_store(self.preparer(page), link)

    def _place_and_store(self, prepared: Prepared | ExtractError, link: Link) -> Fate:
        """On the store thread: place, decide the flag, store; one transaction."""
        if isinstance(prepared, ExtractError):
            self._error(link.source, link.url, str(prepared))
            self.store.finish_link(link.url, "skipped", error=str(prepared))
            return self.report.count(Fate.NO_TEXT)
        article, fingerprint, keys = prepared.article, prepared.fingerprint, prepared.keys
        known = self.store.article_id_for_url(article.url)
        if known is not None:
            self.store.finish_link(link.url, "done", article_id=known)
            return self.report.count(Fate.KNOWN)
        if self._translation is not None and article.translation_status == "pending":
            # translated before it is placed, so that English text signals apply; the
            # batch is committed first, so no other writer waits on the translation
            self.store.checkpoint(force=True)
            from . import stories
            article = self.preparer.matcher.judge(self._translation.translate_new(article))
            self.report.translated += article.translation_status == "done"
            # the vector is of the original headline and lead, which did not change
            fingerprint = stories.fingerprint(article, vector=fingerprint.vector)
            keys = stories.index_keys(fingerprint)
        saved = self.story_stage.save(article, fingerprint, keys, link_url=link.url)
        fate = Fate.NEW if saved.article.duplicate_of is None else Fate.DUPLICATE
        return self.report.count(fate, new_story=saved.new_story, flagged=saved.flagged_now)


def run_pass(config: Config, store: Store, *, source: str | None = None, force: bool = False,
             progress: Progress | None = None, stop: threading.Event | None = None,
             transport: httpx.AsyncBaseTransport | None = None,
             translators: TranslationStages | None = None, translate: bool = True,
             pool: PoolSource | None = None) -> PassReport:
    """One idempotent pass over every source (or the one named). A source backing off after
    failures is left out until its time comes and reported as skipped, unless named or
    `force`d. `translators` and `pool` keep models and worker processes across passes (the
    daemon gives a function that starts its pool when a pass first needs one);
    `translate=False` leaves new articles pending."""
    skipped = [] if source or force else backing_off(
        {s.name: store.source_state(s.name) for s in config.sources})
    for s in skipped:
        log.info("%s until %s", s.reason, s.until, extra={"source": s.source})
    sources = [config.source(source)] if source else [
        s for s in config.sources if s.name not in {k.source for k in skipped}]
    if translate and translators is None:
        translators = TranslatorKeeper(config)
    report = Pass(config, store, sources=sources, progress=progress, stop=stop,
                  transport=transport, translators=translators if translate else None,
                  pool=pool).run()
    report.skipped = skipped
    return report
