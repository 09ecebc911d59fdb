"""Unattended operation with real processes: the daemon, the lock, graceful stop, backoff."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.demo.server import RequestInfo, Resource, SiteServer
from pipeline.due import backoff_interval, first_run_at, missed_digest_time
from pipeline.models import SourceState

from .conftest import REPO, tidings, write_config

pytestmark = pytest.mark.slow


def count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def start_daemon(cfg: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "-v", "daemon", "--config",
                             str(cfg)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=log.open("ab"))


def growing_site(server: SiteServer, delay: float = 0.0) -> Callable[[int], None]:
    """A site whose feed gains articles when `publish(n)` is called."""
    published: list[str] = []

    def feed(_: RequestInfo) -> Resource:
        items = "".join(f"<item><title>t</title><link>{server.url(p)}</link></item>"
                        for p in published)
        return Resource(f"<rss version='2.0'><channel><title>g</title>{items}</channel></rss>"
                        .encode(), content_type="application/rss+xml")

    def publish(n: int) -> None:
        for _ in range(n):
            i = len(published)
            words = " ".join(f"w{i}y{j}" for j in range(120))
            body = (f"<html><head><title>Item {i}</title></head><body><article><h1>Item {i}"
                    f"</h1><p>Vehicle plant update {i}. {words}</p></article></body></html>")

            def page(_: RequestInfo, body: str = body) -> Resource:
                time.sleep(delay)
                return Resource(body.encode())
            path = f"/news/2024/06/item-{i}.html"
            server.add(path, page)
            published.append(path)
    server.add("/feed.xml", feed)
    return publish


def test_daemon_fetches_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    server = SiteServer().start()
    publish = growing_site(server, delay=0.2)
    publish(3)
    cfg = write_config(tmp_path, [{"name": "grow", "url": server.url("/feed.xml"),
                                   "kind": "feed", "every": "1s"}])
    db = tmp_path / "tidings.db"
    proc = start_daemon(cfg, tmp_path / "daemon.err")
    try:
        wait_for(lambda: count(db, "SELECT COUNT(*) FROM articles") == 3, 30, "first articles")
        publish(20)  # a long pass: SIGTERM arrives while it is working
        wait_for(lambda: count(db, "SELECT COUNT(*) FROM articles") >= 5, 30, "new articles")
        started = time.time()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        stopped_in = time.time() - started
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
    assert code == 0
    assert stopped_in < 10
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        left = conn.execute("SELECT COUNT(*) FROM links WHERE status = 'pending'").fetchone()[0]
    assert stored + left == 23  # nothing half-written, nothing lost: the rest is pending
    log_file = (tmp_path / "tidings.log").read_text("utf-8")
    assert "daemon stopped" in log_file and "source=grow" in log_file


def test_two_concurrent_runs_one_works_one_says_the_lock_is_held(tmp_path: Path) -> None:
    server = SiteServer().start()
    publish = growing_site(server, delay=0.3)
    publish(8)
    cfg = write_config(tmp_path, [{"name": "grow", "url": server.url("/feed.xml"),
                                   "kind": "feed"}])
    try:
        first = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--json", "--config",
                                  str(cfg)], cwd=REPO, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        wait_for(lambda: server.count("/feed.xml") >= 1, 20, "the first pass to start")
        second = tidings("run", "--json", "--config", str(cfg))
        out, _err = first.communicate(timeout=60)
    finally:
        server.stop()
    assert second.code == 0
    assert "holds" in second.stderr and "pid=" in second.stderr and second.stdout == ""
    assert first.returncode == 0
    assert '"new_articles": 8' in out
    assert server.count("/feed.xml") == 1  # the second did no work


def test_sigkilled_daemon_restarts_takes_over_the_lock_and_continues(tmp_path: Path) -> None:
    server = SiteServer().start()
    publish = growing_site(server, delay=0.3)
    publish(10)
    cfg = write_config(tmp_path, [{"name": "grow", "url": server.url("/feed.xml"),
                                   "kind": "feed", "every": "2s"}])
    db = tmp_path / "tidings.db"
    log = tmp_path / "daemon.err"
    proc = start_daemon(cfg, log)
    try:
        wait_for(lambda: count(db, "SELECT COUNT(*) FROM articles") >= 2, 30, "some articles")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        killed_with = count(db, "SELECT COUNT(*) FROM articles")
        assert killed_with < 10
        again = start_daemon(cfg, log)
        try:
            wait_for(lambda: count(db, "SELECT COUNT(*) FROM articles") == 10, 40, "the rest")
        finally:
            again.send_signal(signal.SIGTERM)
            assert again.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
    assert "taking over the lock left by dead process" in log.read_text("utf-8")
    assert count(db, "SELECT COUNT(DISTINCT url) FROM articles") == 10


def test_a_failing_source_backs_off_and_sources_shows_it(tmp_path: Path) -> None:
    server = SiteServer().start()
    server.add("/feed.xml", Resource(b"down", status=404))
    cfg = write_config(tmp_path, [{"name": "broken", "url": server.url("/feed.xml"),
                                   "kind": "feed", "every": "1s"}])
    proc = start_daemon(cfg, tmp_path / "daemon.err")
    try:
        wait_for(lambda: server.count("/feed.xml") >= 3, 30, "three failures")
        time.sleep(1.0)
        calls_after_three = server.count("/feed.xml")
        time.sleep(2.5)  # doubled waits (2 s, 4 s, 8 s …): barely any new attempt
        calls_later = server.count("/feed.xml")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        server.stop()
    assert calls_later - calls_after_three <= 1
    result = tidings("sources", "--json", "--config", str(cfg))
    [row] = result.json()
    assert row["name"] == "broken" and row["consecutive_failures"] >= 3
    assert "404" in row["last_error"]
    due = datetime.fromisoformat(row["next_due_at"])
    assert due - datetime.fromisoformat(row["last_error_at"]) >= timedelta(seconds=8)
    table = tidings("sources", "--config", str(cfg))
    assert "broken" in table.stdout and "404" in table.stdout


def test_backoff_doubles_up_to_a_cap() -> None:
    hour = timedelta(hours=1)
    assert [backoff_interval(hour, n) for n in (0, 1, 2, 3)] == [hour, 2 * hour, 4 * hour,
                                                                  8 * hour]
    assert backoff_interval(hour, 30) == timedelta(hours=24)
    assert backoff_interval(timedelta(days=2), 5) == timedelta(days=2)


def test_a_source_due_while_down_runs_at_once_after_restart() -> None:
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    every = timedelta(minutes=30)
    overdue = SourceState("s", next_due_at="2026-11-23T08:00:00+00:00")
    later = SourceState("s", next_due_at="2026-11-23T09:20:00+00:00")
    assert first_run_at(overdue, every, now) == now
    assert first_run_at(None, every, now) == now
    assert first_run_at(later, every, now) == datetime(2026, 11, 23, 9, 20, tzinfo=UTC)


def test_a_missed_digest_is_sent_within_the_grace_period_only() -> None:
    grace = timedelta(hours=6)
    tz = "Europe/Rome"  # 07:30 in Rome is 06:30 UTC in November
    at_nine = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert missed_digest_time("07:30", tz, at_nine, None, grace) is not None
    sent_today = datetime(2026, 11, 23, 6, 31, tzinfo=UTC)
    assert missed_digest_time("07:30", tz, at_nine, sent_today, grace) is None
    evening = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    assert missed_digest_time("07:30", tz, evening, None, grace) is None


def test_a_slow_source_does_not_hold_up_a_healthy_one(tmp_path: Path) -> None:
    """Sources run side by side in the daemon: while a slow source's pass is still
    fetching, a healthy source's articles arrive; and a cron pass meanwhile says who
    holds the lock."""
    slow, fast = SiteServer().start(), SiteServer().start()
    try:
        growing_site(slow, delay=5.0)(6)
        growing_site(fast)(3)
        cfg = write_config(tmp_path, [
            {"name": "slow", "url": slow.url("/feed.xml"), "kind": "feed", "every": "1m"},
            {"name": "fast", "url": fast.url("/feed.xml"), "kind": "feed", "every": "1m"}])
        db = tmp_path / "tidings.db"
        proc = start_daemon(cfg, tmp_path / "daemon.err")
        try:
            wait_for(lambda: count(db, "SELECT COUNT(*) FROM articles WHERE source = 'fast'")
                     == 3, 25, "the healthy source's articles")
            slow_done = count(db, "SELECT COUNT(*) FROM articles WHERE source = 'slow'")
            # The slow pass has begun (it takes the lock before its first request): on a
            # loaded machine its job may start after the healthy one has finished.
            wait_for(lambda: slow.count("/feed.xml") >= 1, 25, "the slow source's pass")
            cron = tidings("run", "--config", str(cfg))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    finally:
        slow.stop()
        fast.stop()
    assert slow_done < 6  # the slow pass was still going when the fast one finished
    assert cron.code == 0 and "tidings daemon" in cron.stderr
