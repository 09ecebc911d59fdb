"""The daemon: each source on its own interval, the digest daily, until SIGTERM/SIGINT.

Schedules are rebuilt from the configuration at start; last-run times come from the store,
so a source that fell due while the daemon was down runs promptly, and a digest missed
while down is sent on start if still within `digest.grace`. Sources run side by side (at
most `MAX_CONCURRENT_SOURCES` at once, plus the digest), so a slow or hostile source never
delays the others or the digest; each job takes the pass lock shared, so a cron pass
(which takes it exclusively) and the daemon never write at once. The daemon keeps its
translation models and its worker processes for its whole life: a pass starts none. The
workers start when a pass is first big enough to need them (`runner.POOL_AFTER_PAGES`),
so a daemon whose passes bring a few articles each runs no other process.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .config import Config, SourceConfig
from .due import first_run_at, jitter_for, missed_digest_time
from .errors import LockHeld, TidingsError
from .lock import PassLock
from .models import SourceState, parse_time
from .runner import Pool, preparer_pool, run_pass
from .store import Store
from .translate import TranslatorKeeper

log = logging.getLogger("tidings.daemon")
MAX_CONCURRENT_SOURCES = 4


@dataclass
class Daemon:
    config: Config
    stop: threading.Event

    def __post_init__(self) -> None:
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(
                max_workers=min(MAX_CONCURRENT_SOURCES, max(1, len(self.config.sources))) + 1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
            timezone=ZoneInfo(self.config.digest.timezone))
        self.passes = 0
        self.translators = TranslatorKeeper(self.config)  # models loaded once, kept
        self.pool: Pool | None = None  # worker processes, started when first needed, kept
        self._pool_lock = threading.Lock()

    # ------------------------------------------------------------------ jobs
    def run_source(self, source: SourceConfig) -> None:
        if self.stop.is_set():
            return
        try:
            with PassLock(self.config.lock_path, f"tidings daemon {source.name}", shared=True):
                store = Store.open(self.config.store.path)
                try:
                    report = run_pass(self.config, store, source=source.name, stop=self.stop,
                                      translators=self.translators, pool=self._workers)
                    state = store.source_state(source.name)
                finally:
                    store.close()
        except LockHeld as exc:
            log.info("skipping this turn: %s", exc, extra={"source": source.name})
            return
        except TidingsError as exc:
            log.error("pass failed: %s", exc, extra={"source": source.name})
            return
        with self._pool_lock:
            self.passes += 1
        log.info("pass done: %d new articles, %d flagged, %d errors", report.new_articles,
                 report.flagged, len(report.errors), extra={"source": source.name})
        self._reschedule_after(source, state)

    def _workers(self) -> Pool:
        with self._pool_lock:
            if self.pool is None:
                self.pool = preparer_pool(self.config)
            return self.pool

    def _reschedule_after(self, source: SourceConfig, state: SourceState | None) -> None:
        """A failing source backs off: its next run moves to the doubled interval."""
        due = parse_time(state.next_due_at) if state else None
        if state and state.consecutive_failures and due is not None:
            job = self.scheduler.get_job(f"source:{source.name}")
            if job is not None:
                job.modify(next_run_time=due)

    def run_digest(self) -> None:
        if self.stop.is_set():
            return
        try:
            from .digest import run_digest
            with PassLock(self.config.lock_path, "tidings daemon digest", shared=True):
                store = Store.open(self.config.store.path)
                try:
                    result = run_digest(self.config, store, since=None, output=None, send=True)
                finally:
                    store.close()
            log.info("digest: %s", result.reason)
        except LockHeld as exc:
            log.warning("digest postponed 60 s: %s", exc)
            self.scheduler.add_job(self.run_digest, "date",
                                   run_date=datetime.now(UTC) + timedelta(seconds=60))
        except TidingsError as exc:
            log.error("digest failed: %s", exc)

    # ------------------------------------------------------------------ life
    def schedule(self) -> None:
        now = datetime.now(UTC)
        store = Store.open(self.config.store.path)
        try:
            states = {s.name: store.source_state(s.name) for s in self.config.sources}
            last_sent = parse_time(store.last_digest_at())
        finally:
            store.close()
        for source in self.config.sources:
            start = first_run_at(states[source.name], source.every, now)
            start += timedelta(seconds=random.uniform(0, jitter_for(source.every) / 4))
            self.scheduler.add_job(
                self.run_source, IntervalTrigger(seconds=source.every.total_seconds(),
                                                 jitter=jitter_for(source.every)),
                args=[source], id=f"source:{source.name}", next_run_time=start,
                name=f"source {source.name}")
            log.info("scheduled every %s, first at %s", source.every, start.isoformat(),
                     extra={"source": source.name})
        hour, minute = (int(x) for x in self.config.digest.at.split(":"))
        self.scheduler.add_job(self.run_digest, CronTrigger(hour=hour, minute=minute,
                                                            timezone=self.config.digest.timezone),
                               id="digest", name="daily digest")
        missed = missed_digest_time(self.config.digest.at, self.config.digest.timezone, now,
                                    last_sent, self.config.digest.grace)
        if missed is not None:
            log.info("the digest due at %s was missed; sending it now", missed.isoformat())
            self.scheduler.add_job(self.run_digest, "date", run_date=now, id="digest-missed")

    def run_forever(self) -> int:
        self.schedule()
        self.scheduler.start()
        log.info("daemon started: %d sources, digest daily at %s %s",
                 len(self.config.sources), self.config.digest.at, self.config.digest.timezone)
        self.stop.wait()
        log.info("stopping: finishing the articles in hand")
        self.scheduler.shutdown(wait=True)
        if self.pool is not None:
            self.pool.close()
        log.info("daemon stopped after %d passes", self.passes)
        return 0
