"""The daemon: each source on its own interval, the digest daily, until SIGTERM/SIGINT.

Schedules are rebuilt from the configuration at start; last-run times come from the store,
so a source that fell due while the daemon was down runs promptly, and a digest missed
while down is sent on start if still within `digest.grace`. Jobs run one at a time (one
worker) and each takes the pass lock, so a cron pass and the daemon never write at once.
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
from .runner import run_pass
from .store import Store
from .translate import TranslatorKeeper

log = logging.getLogger("tidings.daemon")


@dataclass
class Daemon:
    config: Config
    stop: threading.Event

    def __post_init__(self) -> None:
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
            timezone=ZoneInfo(self.config.digest.timezone))
        self.passes = 0
        self.translators = TranslatorKeeper(self.config)  # models loaded once, kept

    # ------------------------------------------------------------------ jobs
    def run_source(self, source: SourceConfig) -> None:
        if self.stop.is_set():
            return
        try:
            with PassLock(self.config.lock_path, f"tidings daemon {source.name}"):
                store = Store.open(self.config.store.path)
                try:
                    report = run_pass(self.config, store, source=source.name, stop=self.stop,
                                      translators=self.translators)
                    state = store.source_state(source.name)
                finally:
                    store.close()
        except LockHeld as exc:
            log.info("skipping this turn: %s", exc, extra={"source": source.name})
            return
        except TidingsError as exc:
            log.error("pass failed: %s", exc, extra={"source": source.name})
            return
        self.passes += 1
        log.info("pass done: %d new articles, %d flagged, %d errors", report.new_articles,
                 report.flagged, len(report.errors), extra={"source": source.name})
        self._reschedule_after(source, state)

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
            with PassLock(self.config.lock_path, "tidings daemon digest"):
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
            last_sent = parse_time(store.last_digest_sent_at())
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
        log.warning("daemon started: %d sources, digest daily at %s %s",
                    len(self.config.sources), self.config.digest.at, self.config.digest.timezone)
        self.stop.wait()
        log.warning("stopping: finishing the article in hand")
        self.scheduler.shutdown(wait=True)
        log.warning("daemon stopped after %d passes", self.passes)
        return 0
