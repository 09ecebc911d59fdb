"""End to end through the real command line: real server, real SQLite file, subprocesses."""

from __future__ import annotations

import email
import email.policy
import json
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline.demo.server import RequestInfo, Resource, SiteServer
from pipeline.lock import PassLock

from .conftest import REPO, seed_page, tidings, write_config

EXPECTED_ENTITIES = {"000": ["Xiaomi", "BAIC"], "001": ["Xiaomi", "BAIC"],
                     "002": ["Xiaomi"], "003": ["Xiaomi"], "004": ["Xiaomi"]}


def rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def test_the_five_seeds_become_five_relevant_articles(tmp_path: Path, seed_site) -> None:
    cfg = write_config(tmp_path, [{"name": "seeds", "url": seed_site.url("/feed.xml"),
                                   "kind": "feed"}])
    result = tidings("run", "--json", "--config", str(cfg))
    assert result.code == 0, result.stderr
    report = result.json()
    assert set(report) == {"sources", "fetched", "new_articles", "duplicates", "new_stories",
                           "flagged", "translated", "pending_translation", "errors",
                           "skipped"}
    assert report["new_articles"] == 5 and report["errors"] == []
    found = rows(tmp_path / "tidings.db",
                 "SELECT url, lang, entities, relevant, translation_status, title, text "
                 "FROM articles ORDER BY url")
    assert len(found) == 5
    for url, lang, entities, relevant, status, title, text in found:
        number = url.rsplit("seed-", 1)[1][:3]
        assert "utm_" not in url
        assert lang == ("it" if number == "004" else "en")
        assert json.loads(entities) == EXPECTED_ENTITIES[number], number
        assert relevant == 1
        assert status == ("pending" if number == "004" else "not_needed")
        assert "cookies" not in text and "Privacy" not in text  # boilerplate removed
        assert title
    # Until translation models exist the Italian article keeps its original text.
    assert rows(tmp_path / "tidings.db",
                "SELECT text_en FROM articles WHERE lang = 'it'") == [(None,)]


def test_second_pass_creates_nothing_and_costs_one_304(tmp_path: Path, seed_site) -> None:
    cfg = write_config(tmp_path, [
        {"name": "seeds-feed", "url": seed_site.url("/feed.xml"), "kind": "feed"},
        {"name": "seeds-sitemap", "url": seed_site.url("/sitemap.xml"), "kind": "sitemap"}])
    first = tidings("run", "--json", "--config", str(cfg)).json()
    assert first["new_articles"] == 5  # the sitemap names the same five pages
    stories_before = rows(tmp_path / "tidings.db", "SELECT COUNT(*) FROM stories")
    requests_before = len(seed_site.requests)
    second = tidings("run", "--json", "--config", str(cfg)).json()
    assert second["new_articles"] == 0 and second["new_stories"] == 0
    assert second["duplicates"] == 0
    new_requests = seed_site.requests[requests_before:]
    assert sorted(r.path for r in new_requests) == ["/feed.xml", "/sitemap.xml"]
    answered = rows(tmp_path / "tidings.db",
                    "SELECT kind, status, conditional FROM fetches ORDER BY id DESC LIMIT 2")
    assert sorted(answered) == [("feed", 304, 1), ("sitemap", 304, 1)]
    assert rows(tmp_path / "tidings.db", "SELECT COUNT(*) FROM articles") == [(5,)]
    assert rows(tmp_path / "tidings.db", "SELECT COUNT(*) FROM stories") == stories_before


def test_syndicated_copy_is_a_duplicate_not_a_story(tmp_path: Path, seed_site) -> None:
    copy = seed_page("003").replace(b"Seed News", b"Other Wire")
    other = SiteServer().start()
    try:
        other.add("/2021/11/29/xiaomi-yizhuang-copy.html", Resource(copy))
        other.add("/feed.xml", Resource(
            f"<rss version='2.0'><channel><title>o</title><item><title>copy</title><link>"
            f"{other.url('/2021/11/29/xiaomi-yizhuang-copy.html')}?utm_campaign=x&amp;fbclid=1"
            f"</link></item></channel></rss>".encode(), content_type="application/rss+xml"))
        cfg = write_config(tmp_path, [
            {"name": "seeds", "url": seed_site.url("/feed.xml"), "kind": "feed"},
            {"name": "other", "url": other.url("/feed.xml"), "kind": "feed"}])
        report = tidings("run", "--json", "--config", str(cfg)).json()
    finally:
        other.stop()
    assert report["new_articles"] == 5 and report["duplicates"] == 1
    dup = rows(tmp_path / "tidings.db",
               "SELECT a.url, a.duplicate_of, a.story_id, o.url, o.story_id FROM articles a "
               "JOIN articles o ON o.id = a.duplicate_of")
    assert len(dup) == 1
    url, _, story, original_url, original_story = dup[0]
    assert "fbclid" not in url and "utm_" not in url
    # Hosts are fetched concurrently: whichever copy arrived first is the original.
    assert {url.rsplit("/", 1)[1], original_url.rsplit("/", 1)[1]} == {
        "seed-003.html", "xiaomi-yizhuang-copy.html"}
    assert story == original_story
    assert rows(tmp_path / "tidings.db", "SELECT COUNT(*) FROM stories WHERE id = ?",
                (story,)) == [(1,)]


def test_gbk_page_without_declared_charset_is_stored_right(tmp_path: Path) -> None:
    text = ("小米汽车与北京经济技术开发区管委会签署合作协议，将在亦庄建设整车工厂，"
            "分两期建设，年产能30万辆。雷军表示，小米汽车的进展超出预期。") * 4
    page = (f"<html><head><title>小米汽车工厂落户亦庄</title></head><body><article>"
            f"<h1>小米汽车工厂落户亦庄</h1><p>{text}</p></article></body></html>")
    server = SiteServer().start()
    try:
        server.add("/news/20211127/12345.html",
                   Resource(page.encode("gbk"), content_type="text/html"))
        server.add("/list.html", Resource(
            b'<html><body><a href="/news/20211127/12345.html">x</a> <a href="/about">about</a>'
            b"</body></html>", content_type="text/html"))
        cfg = write_config(tmp_path, [{"name": "qiche", "url": server.url("/list.html"),
                                       "kind": "page"}])
        report = tidings("run", "--json", "--config", str(cfg)).json()
    finally:
        server.stop()
    assert report["new_articles"] == 1
    [(title, body, lang, entities)] = rows(tmp_path / "tidings.db",
                                          "SELECT title, text, lang, entities FROM articles")
    assert title == "小米汽车工厂落户亦庄"
    assert "年产能30万辆" in body and lang == "zh"
    assert json.loads(entities) == ["Xiaomi"]


def test_page_without_article_text_is_reported_not_stored(tmp_path: Path, seed_site) -> None:
    seed_site.add("/news/2024/01/01/empty-page.html",
                  Resource(b"<html><body><nav>Home</nav><p>Subscribe!</p></body></html>"))
    seed_site.add("/list.html", Resource(
        b'<html><body><a href="/news/2024/01/01/empty-page.html">e</a></body></html>'))
    cfg = write_config(tmp_path, [{"name": "list", "url": seed_site.url("/list.html"),
                                   "kind": "page"}])
    report = tidings("run", "--json", "--config", str(cfg)).json()
    assert report["new_articles"] == 0
    assert [e["url"] for e in report["errors"]] == [seed_site.url("/news/2024/01/01/empty-page.html")]
    assert "no article text" in report["errors"][0]["error"]
    assert rows(tmp_path / "tidings.db", "SELECT COUNT(*) FROM articles") == [(0,)]


def test_every_source_failing_exits_1_with_the_reasons(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, [{"name": "gone", "url": "http://127.0.0.1:9/feed.xml",
                                   "kind": "feed"}])
    result = tidings("run", "--json", "--config", str(cfg))
    assert result.code == 1
    report = result.json()
    assert report["errors"][0]["source"] == "gone"
    assert report["errors"][0]["url"].startswith("http://127.0.0.1:9/")


def test_unknown_source_name_is_bad_usage(tmp_path: Path, seed_site) -> None:
    cfg = write_config(tmp_path, [{"name": "seeds", "url": seed_site.url("/feed.xml"),
                                   "kind": "feed"}])
    result = tidings("run", "--source", "nope", "--config", str(cfg))
    assert result.code == 2
    assert "nope" in result.stderr and "seeds" in result.stderr


def test_only_the_named_source_runs(tmp_path: Path, seed_site) -> None:
    cfg = write_config(tmp_path, [
        {"name": "seeds", "url": seed_site.url("/feed.xml"), "kind": "feed"},
        {"name": "broken", "url": "http://127.0.0.1:9/feed.xml", "kind": "feed"}])
    report = tidings("run", "--json", "--source", "seeds", "--config", str(cfg)).json()
    assert report["sources"] == 1 and report["new_articles"] == 5 and report["errors"] == []


def test_a_held_lock_makes_a_second_run_exit_0_doing_nothing(tmp_path: Path, seed_site) -> None:
    cfg = write_config(tmp_path, [{"name": "seeds", "url": seed_site.url("/feed.xml"),
                                   "kind": "feed"}])
    with PassLock(tmp_path / "tidings.lock", "test holder"):
        result = tidings("run", "--json", "--config", str(cfg))
    assert result.code == 0
    assert "test holder" in result.stderr
    assert seed_site.requests == []


def test_stories_command_lists_flagged_stories(tmp_path: Path, seed_site) -> None:
    cfg = write_config(tmp_path, [{"name": "seeds", "url": seed_site.url("/feed.xml"),
                                   "kind": "feed"}],
                       stories={"fresh_days": 36500})  # the seeds are years old
    tidings("run", "--config", str(cfg))
    result = tidings("stories", "--flagged", "--since", "7d", "--config", str(cfg))
    assert result.code == 0, result.stderr
    flagged = rows(tmp_path / "tidings.db",
                   "SELECT id, title_en, article_count FROM stories WHERE flagged = 1")
    assert flagged and result.stdout.count("★") == len(flagged)
    for story_id, title, _count in flagged:
        line = next(line for line in result.stdout.splitlines() if title in line)
        assert line.split()[0] == str(story_id)
    assert "Xiaomi" in result.stdout and "BAIC" in result.stdout
    bad = tidings("stories", "--since", "soon", "--config", str(cfg))
    assert bad.code == 2 and "--since" in bad.stderr


def _slow_site(server: SiteServer, count: int, delay: float) -> None:
    """`count` distinct articles, each page answered after `delay` seconds."""
    items = []
    for i in range(count):
        path = f"/news/2024/05/{i:02d}/story-{i}.html"
        words = " ".join(f"word{i}x{j}" for j in range(150))
        body = (f"<html><head><title>Story number {i}</title></head><body><article><h1>Story "
                f"number {i}</h1><p>Electric vehicle news item {i}. {words}</p></article>"
                f"</body></html>").encode()

        def handler(request: RequestInfo, body: bytes = body) -> Resource:
            time.sleep(delay)
            return Resource(body)
        server.add(path, handler)
        items.append(f"<item><title>Story {i}</title><link>{server.url(path)}</link></item>")
    server.add("/feed.xml", Resource(
        f"<rss version='2.0'><channel><title>s</title>{''.join(items)}</channel></rss>".encode(),
        content_type="application/rss+xml"))


@pytest.mark.slow
def test_sigkill_mid_pass_then_rerun_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    server = SiteServer().start()
    try:
        _slow_site(server, count=12, delay=0.25)
        killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
        killed_dir.mkdir()
        clean_dir.mkdir()
        source = [{"name": "slow", "url": server.url("/feed.xml"), "kind": "feed"}]
        killed_cfg = write_config(killed_dir, source)
        proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--json", "--config",
                                 str(killed_cfg)], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        db = killed_dir / "tidings.db"
        deadline = time.time() + 30
        while time.time() < deadline:  # kill once some, not all, articles are in
            if db.exists():
                try:
                    stored = rows(db, "SELECT COUNT(*) FROM articles")[0][0]
                except sqlite3.OperationalError:
                    stored = 0
                if 2 <= stored:
                    break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        stored_at_kill = rows(db, "SELECT COUNT(*) FROM articles")[0][0]
        assert 2 <= stored_at_kill < 12
        again = tidings("run", "--json", "--config", str(killed_cfg))
        assert again.code == 0, again.stderr
        assert again.json()["new_articles"] == 12 - stored_at_kill
        clean_cfg = write_config(clean_dir, source)
        assert tidings("run", "--json", "--config", str(clean_cfg)).code == 0
    finally:
        server.stop()
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    query = ("SELECT (SELECT COUNT(*) FROM articles), (SELECT COUNT(*) FROM stories), "
             "(SELECT COUNT(*) FROM stories WHERE flagged = 1), "
             "(SELECT COUNT(*) FROM articles WHERE duplicate_of IS NOT NULL)")
    assert rows(db, query) == rows(clean_dir / "tidings.db", query)
    assert rows(db, "SELECT COUNT(DISTINCT url) FROM articles") == [(12,)]


def test_an_unchanged_sitemap_index_still_has_its_children_checked(tmp_path: Path,
                                                                  seed_site) -> None:
    def news_sitemap(numbers: list[str]) -> Resource:
        urls = "".join(f"<url><loc>{seed_site.url(f'/news/x/seed-{n}.html')}</loc></url>"
                       for n in numbers)
        return Resource(("<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/"
                         f"sitemap/0.9'>{urls}</urlset>").encode(), content_type="application/xml")
    for number in ("000", "001", "003"):
        seed_site.add(f"/news/x/seed-{number}.html", Resource(seed_page(number)))
    seed_site.add("/sitemap-index.xml", Resource(
        ("<?xml version='1.0'?><sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/"
         f"0.9'><sitemap><loc>{seed_site.url('/sitemap-news.xml')}</loc></sitemap>"
         "</sitemapindex>").encode(), content_type="application/xml"))
    seed_site.add("/sitemap-news.xml", news_sitemap(["000", "001"]))
    cfg = write_config(tmp_path, [{"name": "maps", "url": seed_site.url("/sitemap-index.xml"),
                                   "kind": "sitemap"}])
    assert tidings("run", "--json", "--config", str(cfg)).json()["new_articles"] == 2
    seed_site.add("/sitemap-news.xml", news_sitemap(["000", "001", "003"]))
    second = tidings("run", "--json", "--config", str(cfg)).json()
    assert second["new_articles"] == 1 and second["errors"] == []
    statuses = rows(tmp_path / "tidings.db", "SELECT url, status FROM fetches WHERE kind = "
                    "'sitemap' ORDER BY id DESC LIMIT 2")
    assert sorted((u.rsplit("/", 1)[1], s) for u, s in statuses) == [
        ("sitemap-index.xml", 304), ("sitemap-news.xml", 200)]


def test_section_pages_linked_from_a_listing_are_not_articles(tmp_path: Path) -> None:
    words = " ".join(f"section{j}" for j in range(200))
    section = (f"<html><head><title>新能源</title><meta property='og:type' content='website'>"
               f"</head><body><main><p>新能源频道 {words}</p></main></body></html>").encode()
    server = SiteServer().start()
    try:
        server.add("/channel/xinnengyuan.html", Resource(section))
        server.add("/topics/ev-news.html", Resource(section))
        server.add("/news/20240328/15873.html", Resource(seed_page("003")))
        server.add("/list.html", Resource(
            b'<html><body><a href="/channel/xinnengyuan.html">c</a> '
            b'<a href="/topics/ev-news.html">t</a> <a href="/news/20240328/15873.html">a</a>'
            b"</body></html>"))
        cfg = write_config(tmp_path, [{"name": "list", "url": server.url("/list.html"),
                                       "kind": "page"}])
        report = tidings("run", "--json", "--config", str(cfg)).json()
    finally:
        server.stop()
    assert report["new_articles"] == 1
    assert rows(tmp_path / "tidings.db", "SELECT url FROM articles")[0][0].endswith("15873.html")


def test_config_before_the_command_and_backoff_named_then_forced(tmp_path: Path) -> None:
    """`tidings --config F run` works like `tidings run --config F`; a source backing off
    after a failed pass is named with its time, and `--force` fetches it anyway."""
    server = SiteServer().start()
    try:
        server.add("/feed.xml", Resource(b"down", status=404))
        cfg = write_config(tmp_path, [{"name": "flaky", "url": server.url("/feed.xml"),
                                       "kind": "feed", "every": "1h"}])
        failed = tidings("--config", str(cfg), "run", "--json")
        assert failed.code == 1 and failed.json()["errors"][0]["source"] == "flaky"
        waiting = tidings("--config", str(cfg), "run", "--json")
        assert waiting.code == 0, waiting.stderr
        [skipped] = waiting.json()["skipped"]
        assert skipped["source"] == "flaky" and "backing off" in skipped["reason"]
        assert skipped["until"] > datetime.now(UTC).isoformat()
        assert server.count("/feed.xml") == 1
        shown = tidings("run", "--config", str(cfg))
        until = datetime.fromisoformat(skipped["until"]).astimezone(ZoneInfo("Europe/Rome"))
        assert "flaky" in shown.stderr  # until when, in digest.timezone, saying which
        assert until.strftime("%H:%M ") + str(until.tzname()) in shown.stderr
        forced = tidings("run", "--force", "--json", "--config", str(cfg))
        assert server.count("/feed.xml") == 2 and forced.json()["skipped"] == []
    finally:
        server.stop()


def test_a_first_pass_over_old_news_flags_only_the_recent_story(tmp_path: Path) -> None:
    """Freshness (DESIGN.md): a feed whose items are years old flags nothing old; the
    relevant story published yesterday is flagged, and the digest shows its date."""
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    server = SiteServer().start()
    try:
        old = seed_page("001")  # dated 2021-08-03
        recent = seed_page("000").replace(b"2024-03-13T08:00:00", f"{yesterday}T08:00:00"
                                          .encode())
        server.add("/old.html", Resource(old))
        server.add("/recent.html", Resource(recent))
        items = "".join(f"<item><title>t</title><link>{server.url(p)}</link></item>"
                        for p in ("/old.html", "/recent.html"))
        server.add("/feed.xml", Resource(f"<rss version='2.0'><channel><title>n</title>{items}"
                                         "</channel></rss>".encode(),
                                         content_type="application/rss+xml"))
        cfg = write_config(tmp_path, [{"name": "news", "url": server.url("/feed.xml"),
                                       "kind": "feed"}])
        report = tidings("run", "--json", "--config", str(cfg)).json()
        eml = tmp_path / "digest.eml"
        digest = tidings("digest", "--output", str(eml), "--config", str(cfg))
    finally:
        server.stop()
    assert report["new_articles"] == 2 and report["flagged"] == 1
    found = rows(tmp_path / "tidings.db", "SELECT s.flagged, s.published_at FROM stories s "
                 "ORDER BY s.published_at")
    assert [(f, p[:10]) for f, p in found] == [(0, "2021-08-03"), (1, yesterday)]
    assert digest.code == 0, digest.stderr
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    plain = message.get_body(("plain",))
    assert plain is not None
    body = plain.get_content()
    assert "BAIC collaborates with CATL" in body
    assert datetime.fromisoformat(yesterday).strftime("%d %b %Y") in body
    assert "Qingdao" not in body  # the old story is stored, not mailed
