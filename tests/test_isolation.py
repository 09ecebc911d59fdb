"""One article, one source, never the pass (issue 12): catch-alls, retirement, budgets, and
a store that cannot be written."""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import language
from pipeline.config import load_config
from pipeline.demo.server import RequestInfo, Resource, SiteServer
from pipeline.models import Article
from pipeline.runner import MAX_LINK_ATTEMPTS, POOL_AFTER_PAGES, run_pass
from pipeline.store import Store

from .conftest import SEED_TITLES, seed_page, tidings, write_config


def feed(server: SiteServer, paths: list[str]) -> Resource:
    items = "".join(f"<item><title>t</title><link>{server.url(p)}</link></item>" for p in paths)
    return Resource(f"<?xml version='1.0'?><rss version='2.0'><channel><title>f</title>"
                    f"{items}</channel></rss>".encode(), content_type="application/rss+xml")


@pytest.fixture
def site() -> Iterator[SiteServer]:
    server = SiteServer().start()
    try:
        yield server
    finally:
        server.stop()


def test_an_unforeseen_error_is_that_articles_and_the_link_retires(
        tmp_path: Path, site: SiteServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stage raising what nobody foresaw (here: a bug in language detection on one page)
    is an error on that link: the healthy article is stored, the pass goes on, and after
    MAX_LINK_ATTEMPTS passes the link is retired, visibly."""
    site.add("/good.html", Resource(seed_page("002")))
    site.add("/cursed.html", Resource(seed_page("003")))
    site.add("/feed.xml", feed(site, ["/good.html", "/cursed.html"]))
    config_path = write_config(tmp_path, [{"name": "news", "url": site.url("/feed.xml"),
                                           "kind": "feed"}])
    config = load_config(config_path)
    real = language.detect_article

    def cursed(article: Article) -> Article:
        if SEED_TITLES["003"] in article.title:
            raise RuntimeError("a bug nobody foresaw")
        return real(article)
    monkeypatch.setattr(language, "detect_article", cursed)

    reports = []
    for _ in range(MAX_LINK_ATTEMPTS + 1):
        store = Store.open(config.store.path)
        try:
            reports.append(run_pass(config, store, translate=False))
        finally:
            store.close()
    assert reports[0].new_articles == 1
    errors = [[e.error for e in r.errors if e.url.endswith("/cursed.html")] for r in reports]
    assert all(len(e) == 1 and "RuntimeError: a bug nobody foresaw" in e[0]
               for e in errors[:MAX_LINK_ATTEMPTS])
    assert "retired after" in errors[MAX_LINK_ATTEMPTS - 1][0]
    assert errors[MAX_LINK_ATTEMPTS] == []  # retired: not tried again
    assert site.count("/cursed.html") == MAX_LINK_ATTEMPTS
    [row] = tidings("sources", "--json", "--config", str(config_path)).json()
    assert row["retired_links"] == 1 and row["articles"] == 1


def test_a_slow_source_stops_at_its_budget_and_the_rest_waits(tmp_path: Path,
                                                              site: SiteServer) -> None:
    def slow(_request: RequestInfo) -> Resource:
        time.sleep(1.5)
        return Resource(seed_page("001"))
    paths = [f"/slow-{n}.html" for n in range(8)]
    for path in paths:
        site.add(path, slow)
    site.add("/feed.xml", feed(site, paths))
    config_path = write_config(tmp_path, [{"name": "slow", "url": site.url("/feed.xml"),
                                           "kind": "feed"}], fetch={"source_budget": 3})
    started = time.monotonic()
    result = tidings("run", "--json", "--config", str(config_path))
    took = time.monotonic() - started
    assert result.code == 0, result.stderr
    report = result.json()
    assert 1 <= report["new_articles"] + report["duplicates"] < len(paths)
    assert any("time budget used up" in e["error"] for e in report["errors"])
    assert took < 20  # eight slow links would take 12 s or more without the budget
    again = tidings("run", "--json", "--config", str(config_path)).json()
    assert again["new_articles"] + again["duplicates"] >= 1  # the rest waited, not lost


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_store_that_cannot_be_written_is_one_line_and_exit_1(tmp_path: Path,
                                                               site: SiteServer) -> None:
    site.add("/a.html", Resource(seed_page("002")))
    site.add("/feed.xml", feed(site, ["/a.html"]))
    config_path = write_config(tmp_path, [{"name": "n", "url": site.url("/feed.xml"),
                                           "kind": "feed"}])
    assert tidings("run", "--config", str(config_path)).code == 0
    os.chmod(tmp_path, 0o500)
    try:
        result = tidings("run", "--config", str(config_path))
    finally:
        os.chmod(tmp_path, 0o700)
    assert result.code == 1
    assert "Traceback" not in result.stderr and "tidings.db" in result.stderr


def test_a_full_disk_is_one_line_and_exit_1_and_nothing_is_lost(tmp_path: Path,
                                                                 site: SiteServer) -> None:
    """The store's file may not grow (RLIMIT_FSIZE: what a full disk looks like to SQLite,
    even for root): the pass ends with one line and exit 1, the store stays sound."""
    site.add("/a.html", Resource(seed_page("002")))
    site.add("/feed.xml", feed(site, ["/a.html"]))
    config_path = write_config(tmp_path, [{"name": "n", "url": site.url("/feed.xml"),
                                           "kind": "feed"}])
    assert tidings("run", "--config", str(config_path)).code == 0
    db = tmp_path / "tidings.db"
    for n in range(30):
        site.add(f"/more-{n}.html", Resource(seed_page("000").replace(
            b"</article>", f"<p>Update number {n}.</p></article>".encode())))
    site.add("/feed.xml", feed(site, ["/a.html"] + [f"/more-{n}.html" for n in range(30)]))
    for wal in (Path(f"{db}-wal"),):
        assert not wal.exists() or wal.stat().st_size < 4_000_000
    limit = db.stat().st_size + 4096

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", "--config",
                           str(config_path)], capture_output=True, text=True, env=env,
                          preexec_fn=small_disk, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "tidings: error:" in done.stderr and "tidings.db" in done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0] >= 1


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_workers_die_with_a_killed_pass(tmp_path: Path, site: SiteServer) -> None:
    """SIGKILL (what the out-of-memory killer sends) of a pass that started worker
    processes leaves none of them behind."""
    def slow(_request: RequestInfo) -> Resource:
        time.sleep(0.3)
        return Resource(seed_page("001"))
    paths = [f"/a-{n}.html" for n in range(POOL_AFTER_PAGES + 10)]  # a pool pays for itself
    for path in paths:
        site.add(path, slow)
    site.add("/feed.xml", feed(site, paths))
    config_path = write_config(tmp_path, [{"name": "n", "url": site.url("/feed.xml"),
                                           "kind": "feed"}], fetch={"workers": 2})
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--config",
                             str(config_path)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
        workers |= _children(proc.pid)
        time.sleep(0.1)
    proc.kill()
    proc.wait(timeout=10)
    assert len(workers) >= 2, "the pass never started its workers"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)]


def test_sigterm_ends_a_pass_of_slow_links_within_seconds(tmp_path: Path,
                                                          site: SiteServer) -> None:
    asked = threading.Event()

    def slow(_request: RequestInfo) -> Resource:
        asked.set()  # (the server logs a request only once it is answered)
        time.sleep(8)
        return Resource(seed_page("001"))
    paths = [f"/s-{n}.html" for n in range(6)]
    for path in paths:
        site.add(path, slow)
    site.add("/feed.xml", feed(site, paths))
    config_path = write_config(tmp_path, [{"name": "n", "url": site.url("/feed.xml"),
                                           "kind": "feed"}], fetch={"timeout": 20})
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--json", "--config",
                             str(config_path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert asked.wait(timeout=60), "no article was asked for"
    proc.terminate()
    started = time.monotonic()
    out, _err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode == 0
    assert json.loads(out)["new_articles"] == 0


def test_markup_in_page_strings_is_shown_as_text(tmp_path: Path, site: SiteServer) -> None:
    """A headline, URL or error text holding rich markup (`[/]`, `[link=…]`) or a terminal
    escape is printed as text by `run`, `stories` and `sources`, never interpreted."""
    title = "Xiaomi [/] plant [link=http://evil.example]click[/link] \x1b[31mred"
    page = seed_page("002").replace(SEED_TITLES["002"].encode(), title.encode("utf-8"))
    site.add("/good.html", Resource(page))
    site.add("/bad[/]path.html", Resource(b"gone", status=404))
    site.add("/feed.xml", feed(site, ["/good.html", "/bad[/]path.html"]))
    cfg = write_config(tmp_path, [{"name": "n[/]ews", "url": site.url("/feed.xml"),
                                   "kind": "feed"}])
    run = tidings("run", "--config", str(cfg), env={"COLUMNS": "200"})
    assert run.code == 0, run.stderr
    assert "MarkupError" not in run.stderr and "/bad[/]path.html" in run.stderr
    shown = tidings("stories", "--config", str(cfg), env={"COLUMNS": "200"})
    assert shown.code == 0, shown.stderr
    assert "[link=http://evil.example]click[/link]" in shown.stdout
    assert "\x1b[31m" not in shown.stdout and "\x1b]8;" not in shown.stdout  # no hyperlink
    sources = tidings("sources", "--config", str(cfg), env={"COLUMNS": "200"})
    assert sources.code == 0 and "n[/]ews" in sources.stdout
