"""`tidings serve`: a real datasette process over a store filled by a real pass.

The store is made by `pipeline.runner.run_pass` over the bundled demo news web
(`pipeline.demo.site.DemoWeb`: English, Italian and GBK-encoded Chinese outlets on
127.0.0.1), with a stand-in translator so that some translations are done, some pending
and one failed. Then `datasette_command` is started as a subprocess on a free port and
everything is asked through its HTTP JSON API, as an analyst's script would.
"""

from __future__ import annotations

import html
import json
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import feedparser
import httpx
import pytest
import yaml
from markupsafe import escape

from pipeline.config import Config, load_config
from pipeline.demo.site import DemoWeb
from pipeline.models import Article
from pipeline.runner import run_pass
from pipeline.serve import (
    DATABASE,
    datasette_command,
    datasette_dir,
    load_plugin,
    prepare_store,
)
from pipeline.store import Store
from pipeline.textwidth import width
from pipeline.translate import TranslationCache, TranslationStage

from .conftest import REPO

READY_TIMEOUT = 20.0
FAILED_TITLE = "比亚迪"  # the Chinese article the stand-in translator fails on
MARKER = "quokka"  # a word only the stand-in English translations contain
CONTRACT = {  # DESIGN.md: these tables and columns exist
    "articles": ["id", "url", "source", "title", "text", "lang", "title_en", "text_en",
                 "translation_status", "published_at", "fetched_at", "content_hash",
                 "story_id", "duplicate_of", "relevant", "entities"],
    "stories": ["id", "title_en", "first_seen", "last_seen", "article_count", "languages",
                "entities", "flagged", "digest_id"],
    "fetches": ["url", "source", "status", "error", "fetched_at", "elapsed_ms"],
    "digests": ["id", "created_at", "sent_at", "recipients", "story_count", "message_id"],
}


# ------------------------------------------------------------------------------ the store
class StandInTranslator:
    """Translates Italian into recognisable English, fails on one Chinese article and
    leaves the other Chinese ones pending, as if their model were not installed."""

    def translate_articles(self, articles: Sequence[Article],
                           cache: TranslationCache | None = None) -> list[Article]:
        return [self._one(a) for a in articles]

    def _one(self, a: Article) -> Article:
        if a.lang == "it":
            return a.replace(title_en=f"Translated: {a.title}",
                             text_en=f"{a.text}\n\nA {MARKER} marks this translation.",
                             translation_status="done", translation_package="stand-in-it-en")
        if a.lang == "zh" and FAILED_TITLE in a.title:
            return a.replace(translation_status="failed",
                             translation_error="stand-in model crashed")
        return a


class StandInStages:
    def stage(self, store: Store) -> TranslationStage:
        return TranslationStage(StandInTranslator(), store)


def fill_store(directory: Path) -> Path:
    """One real pass over the demo news web into `directory`/tidings.db; returns the
    config file. (Replace this one function to serve any other store.)"""
    with DemoWeb() as web:
        config_path = directory / "tidings.toml"
        # every relevant story flagged, old or new: these tests are about serving them
        config_path.write_text(
            web.config_toml(str(directory / "tidings.db"))
            + f'\n[translate]\npackage_dir = "{directory / "packages"}"\n'
            + "\n[stories]\nfresh_days = 100000\n", "utf-8")
        config = load_config(config_path)
        store = Store.open(config.store.path)
        try:
            report = run_pass(config, store, translators=StandInStages())
        finally:
            store.close()
    assert report.new_articles >= 20 and report.flagged >= 5, report.as_dict()
    return config_path


def fill_config(directory: Path) -> Path:
    """A config with an empty store named news.db (not tidings.db) and no sources."""
    path = directory / "tidings.toml"
    path.write_text(f'[store]\npath = "{directory / "news.db"}"\n', "utf-8")
    return path


# ------------------------------------------------------------------------------ datasette
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"datasette exited with {proc.returncode}: "
                                 f"{proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"{base}/-/versions.json", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"datasette did not answer within {READY_TIMEOUT} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Served:
    config: Config
    base: str  # http://127.0.0.1:PORT
    client: httpx.Client

    @property
    def db(self) -> Path:
        return self.config.store.path

    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """A canned query's rows through the JSON API."""
        response = self.client.get(f"/{DATABASE}/{name}.json",
                                   params={**params, "_shape": "array"})
        assert response.status_code == 200, response.text
        return list(response.json())

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """The same store read directly, to compare with."""
        with sqlite3.connect(self.db) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql, list(params))]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    config = load_config(fill_store(tmp_path_factory.mktemp("serve")))
    port = free_port()
    proc = subprocess.Popen(datasette_command(config, port=port), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        with httpx.Client(base_url=base, timeout=10) as client:
            yield Served(config, base, client)
    finally:
        stop(proc)


def words(text: str | None) -> set[str]:
    return set(re.findall(r"\w+", (text or "").lower()))


# ------------------------------------------------------------------------------ the tests
def test_command_serves_the_store_read_only_with_the_packaged_files(tmp_path: Path) -> None:
    config = load_config(fill_config(tmp_path))
    argv = datasette_command(config, host="127.0.0.1", port=8123)
    assert argv[:4] == [sys.executable, "-m", "datasette", "serve"]
    assert str(config.store.path) in argv
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--port") + 1] == "8123"
    assert not {"-i", "--immutable", "--root", "--nolock", "--create"} & set(argv)
    assert Path(argv[argv.index("--metadata") + 1]) == datasette_dir() / "metadata.yml"
    plugins = Path(argv[argv.index("--plugins-dir") + 1])
    assert (plugins / "tidings_plugin.py").is_file()


def test_metadata_describes_every_table_and_column_of_the_store(tmp_path: Path) -> None:
    config = load_config(fill_config(tmp_path))
    prepare_store(config)
    meta = yaml.safe_load((datasette_dir() / "metadata.yml").read_text("utf-8"))
    tables = meta["databases"][DATABASE]["tables"]
    with sqlite3.connect(config.store.path) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'articles_fts%'")]
        columns = {n: [r[1] for r in conn.execute(f"PRAGMA table_info([{n}])")] for n in names}
    for table, contract_columns in CONTRACT.items():
        assert set(contract_columns) <= set(columns[table]), table
    for table, cols in columns.items():
        assert tables.get(table, {}).get("description"), f"describe table {table}"
        described = tables[table].get("columns", {})
        missing = [c for c in cols if not described.get(c)]
        assert not missing, f"describe {table}.{missing} in pipeline/datasette/metadata.yml"
    queries = meta["databases"][DATABASE]["queries"]
    assert set(queries) == {"new_developments", "story_coverage", "search", "source_health",
                            "translation_backlog"}
    assert not any(q.get("write") for q in queries.values())


def test_new_developments_are_the_flagged_stories_of_the_week(served: Served) -> None:
    rows = served.query("new_developments", _json=["entities", "languages", "sources"])
    expected = served.rows("SELECT * FROM stories WHERE flagged = 1 ORDER BY importance DESC, "
                           "COALESCE(published_at, first_seen) DESC, id DESC")
    assert [r["story_id"] for r in rows] == [s["id"] for s in expected]  # most important first
    assert len(rows) >= 5 and rows[0]["importance"] > rows[-1]["importance"]
    by_id = {s["id"]: s for s in expected}
    for row in rows:
        story = by_id[row["story_id"]]
        assert row["headline"] == story["title_en"]
        assert row["articles"] == story["article_count"]
        assert row["first_seen"] == story["first_seen"]
        assert row["published_at"] == story["published_at"]
        assert row["importance"] == story["importance"]
        assert row["summary"] and len(row["summary"]) <= 400
        assert row["link"].startswith("http://127.0.0.1:")
        assert row["entities"] and set(row["entities"]) <= {"Xiaomi", "BAIC"}
        assert row["languages"] == json.loads(story["languages"])
        assert row["emailed"] == "not yet"
    # The Yizhuang factory was reported in three languages by four outlets.
    multi = [r for r in rows if r["languages"] == ["en", "it", "zh"] and len(r["sources"]) >= 3]
    assert multi, rows
    headlines = " ".join(str(r["headline"]) for r in rows)
    assert "Xiaomi 14" not in headlines and "Szeged" not in headlines  # phones, other makers
    follow_up = [r for r in rows if r["follows"] is not None]
    # trial production follows the plan to build the plant; a headline is in the language of
    # the story's first article, which depends on which source answered first
    battery = ("batter", "电芯", "电池")
    assert any(any(w in r["headline"].lower() for w in battery)
               and any(w in r["follows_headline"].lower() for w in battery)
               for r in follow_up), follow_up
    for row in follow_up:
        assert row["follows"] == by_id[row["story_id"]]["follows"] and row["follows_headline"]


def test_new_developments_page_links_each_story_to_its_coverage(served: Served) -> None:
    page = served.client.get(f"/{DATABASE}/new_developments").text
    story_id = served.query("new_developments")[0]["story_id"]
    assert f'href="/{DATABASE}/story_coverage?story_id={story_id}"' in page
    assert "New developments" in page
    assert "BAIC, Xiaomi" in page and '["BAIC", "Xiaomi"]' not in page  # lists, readable


def test_story_coverage_lists_the_articles_of_one_story(served: Served) -> None:
    story = served.rows("SELECT story_id FROM articles WHERE url LIKE '%e-town%'")[0]["story_id"]
    rows = served.query("story_coverage", story_id=story)
    expected = served.rows("SELECT * FROM articles WHERE story_id = ?", [story])
    assert {r["article_id"] for r in rows} == {a["id"] for a in expected}
    assert {r["lang"] for r in rows} == {"en", "it", "zh"}
    assert len({r["source"] for r in rows}) >= 3
    for row in rows:
        assert row["url"].startswith("http://127.0.0.1:")
        assert row["title"]
        if row["lang"] == "en":
            assert row["title_en"] == row["title"]
        if row["lang"] == "it":
            assert row["title_en"] == f"Translated: {row['title']}"
    assert any(r["duplicate_of"] for r in rows)  # the syndicated copy, shown as such
    times = [r["published_at"] or r["fetched_at"] for r in rows]
    assert times == sorted(times)
    assert served.query("story_coverage", story_id=999_999) == []


def expected_hits(served: Served, predicate: Any) -> set[int]:
    articles = served.rows("SELECT id, title, text, title_en, text_en FROM articles")
    return {a["id"] for a in articles if predicate(a)}


def test_search_finds_a_two_character_chinese_word(served: Served) -> None:
    rows = served.query("search", q="小米")
    want = expected_hits(served, lambda a: any("小米" in (a[k] or "") for k in
                                               ("title", "text", "title_en", "text_en")))
    assert len(want) >= 5
    assert {r["article_id"] for r in rows} == want
    assert all(r["lang"] == "zh" for r in rows)
    assert all("«小米»" in r["snippet"] for r in rows)  # readable, not bigrams
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)


def test_search_finds_an_english_word_in_originals_and_translations(served: Served) -> None:
    rows = served.query("search", q="Yizhuang")
    want = expected_hits(served, lambda a: any("yizhuang" in words(a[k]) for k in
                                               ("title", "text", "title_en", "text_en")))
    assert {r["article_id"] for r in rows} == want and len(want) >= 2
    assert "Yizhuang" in str(rows[0]["title_en"])  # a headline match ranks first
    # A word only the English translations contain finds the translated Italian articles.
    translated = served.query("search", q=MARKER.upper())
    italian = served.rows("SELECT id FROM articles WHERE lang = 'it'")
    assert {r["article_id"] for r in translated} == {a["id"] for a in italian}
    assert served.query("search", q="") == []


def test_search_accepts_or_and_quoted_phrases(served: Served) -> None:
    def hits(q: str) -> set[int]:
        return {r["article_id"] for r in served.query("search", q=q)}

    yizhuang, qingdao = hits("Yizhuang"), hits("Qingdao")
    assert yizhuang and qingdao and not yizhuang <= qingdao
    assert hits("Yizhuang OR Qingdao") == yizhuang | qingdao
    assert hits("Yizhuang Qingdao") == yizhuang & qingdao
    both_words = hits("battery plant")
    phrase = hits('"battery plant"')
    want = expected_hits(served, lambda a: any(
        re.search(r"\bbattery\W+plant", a[k] or "", re.IGNORECASE)
        for k in ("title", "text", "title_en", "text_en")))
    assert phrase == want and phrase and phrase < both_words
    assert hits("小米 OR 北汽") == hits("小米") | hits("北汽")


@pytest.mark.parametrize(("q", "says"), [
    ('"unbalanced AND (', "the quote before “unbalanced AND (” is never closed"),
    ("Xiaomi OR", "OR needs a word or a quoted phrase on each side"),
])
def test_search_with_bad_syntax_says_how_to_write_it(served: Served, q: str, says: str
                                                     ) -> None:
    data = served.client.get(f"/{DATABASE}/search.json", params={"q": q}).json()
    assert data["ok"] is False and says in data["error"] and data["rows"] == []
    page = served.client.get(f"/{DATABASE}/search", params={"q": q})
    assert page.status_code == 400
    assert says.replace("“", "&#34;").replace("”", "&#34;")[:20] in page.text or \
        says[:20] in page.text
    assert '<p class="message-error">Search:' in page.text
    assert 'name="q"' in page.text  # the form is still there to fix the search
    assert "user-defined function raised exception" not in page.text


def test_search_page_highlights_matches(served: Served) -> None:
    page = served.client.get(f"/{DATABASE}/search", params={"q": "Yizhuang"}).text
    assert "<mark>Yizhuang</mark>" in page
    assert "«" not in page.split('<table class="rows-and-columns">')[1]
    chinese = served.client.get(f"/{DATABASE}/search", params={"q": "小米"}).text
    assert "<mark>小米</mark>" in chinese


def test_articles_search_box_understands_chinese(served: Served) -> None:
    data = served.client.get(f"/{DATABASE}/articles.json",
                             params={"_search": "小米", "_shape": "objects"}).json()
    assert {r["id"] for r in data["rows"]} == {r["article_id"]
                                              for r in served.query("search", q="小米")}
    facets = data["facet_results"]
    assert {"lang", "source", "entities"} <= set(facets)
    assert [v["value"] for v in facets["lang"]["results"]] == ["zh"]
    either = served.client.get(f"/{DATABASE}/articles.json",
                               params={"_search": "Yizhuang OR Qingdao", "_shape": "objects"})
    assert {r["id"] for r in either.json()["rows"]} == \
        {r["article_id"] for r in served.query("search", q="Yizhuang OR Qingdao")}
    unclosed = served.client.get(f"/{DATABASE}/articles.json",
                                 params={"_search": '"Yizhuang', "_shape": "objects"})
    assert unclosed.status_code == 200  # the box reads it as plain words
    assert {r["id"] for r in unclosed.json()["rows"]} == \
        {r["article_id"] for r in served.query("search", q="Yizhuang")}


def test_table_pages_keep_the_data_above_the_fold(served: Served) -> None:
    page = served.client.get(f"/{DATABASE}/articles").text
    notes = page.index('<details class="tidings-column-notes">')
    assert "<dt>translation_status</dt>" in page[notes:]  # the notes are there, folded
    assert page.count('class="column-descriptions"') == 1
    assert '<details class="tidings-column-notes" open' not in page
    table = page.index('<table class="rows-and-columns">')
    # before the data: title, description, facets, folded notes — not 24 column notes
    assert page.count("<dt>", 0, table) == page.count("<dt>", notes, table) <= 30
    assert len(page[:table].split("<dd>")) - 1 == page[notes:table].count("<dd>")
    # article texts are cut in the list, whole on the row page
    article = served.rows("SELECT id, text FROM articles ORDER BY length(text) DESC")[0]
    assert len(article["text"]) > 400
    cut = re.findall(r'<span class="tidings-cut">(.*?)…</span>', page, re.DOTALL)
    assert cut and all(width(html.unescape(c)) <= 120 for c in cut)
    row = served.client.get(f"/{DATABASE}/articles/{article['id']}").text
    assert str(escape(article["text"].split("\n")[-1]))[-60:] in row
    assert 'tidings-cut' not in row


def test_sql_editor_opens_on_new_developments(served: Served) -> None:
    page = served.client.get(f"/{DATABASE}").text
    [editor] = re.findall(r'<textarea id="sql-editor" name="sql">(.*?)</textarea>', page, re.DOTALL)
    assert "s.flagged = 1" in editor and "_sqlite_migrations" not in editor
    assert page.count('id="sql-editor"') == 1


def test_source_health_reports_every_source(served: Served) -> None:
    rows = served.query("source_health")
    names = [s.name for s in served.config.sources]
    assert sorted(r["source"] for r in rows) == sorted(names)
    counts = {r["source"]: r["n"] for r in served.rows(
        "SELECT source, COUNT(*) AS n FROM articles GROUP BY source")}
    for row in rows:
        assert row["articles"] == counts[row["source"]] > 0
        assert row["last_success"] and row["requests"] > 0
        assert row["consecutive_failures"] == 0


def test_translation_backlog_counts_pending_and_failed_by_language(served: Served) -> None:
    rows = {r["lang"]: r for r in served.query("translation_backlog")}
    assert "it" not in rows and "en" not in rows  # Italian was translated, English needs none
    zh = served.rows("SELECT translation_status AS s, COUNT(*) AS n FROM articles "
                     "WHERE lang = 'zh' GROUP BY s")
    counts = {r["s"]: r["n"] for r in zh}
    assert rows["zh"]["pending"] == counts["pending"] > 0
    assert rows["zh"]["failed"] == counts["failed"] >= 1
    assert rows["zh"]["last_error"] == "stand-in model crashed"


def test_visitors_cannot_write(served: Served) -> None:
    before = served.rows("SELECT COUNT(*) AS n FROM runs")[0]["n"]
    insert = served.client.get(f"/{DATABASE}.json",
                               params={"sql": "insert into runs (started_at) values ('x')"})
    assert insert.status_code == 400 and "SELECT" in insert.json()["error"]
    # A statement that passes datasette's SELECT check is refused by SQLite itself.
    sneaky = served.client.get(f"/{DATABASE}.json", params={
        "sql": "with x as (select 1) insert into runs (started_at) select 'x' from x"})
    assert "readonly" in sneaky.json()["error"]
    posted = served.client.post(f"/{DATABASE}/story_coverage", data={"story_id": "1"})
    assert posted.status_code == 405
    assert served.rows("SELECT COUNT(*) AS n FROM runs")[0]["n"] == before
    plugins = served.client.get("/-/plugins.json").json()
    assert [p["name"] for p in plugins] == ["tidings_plugin.py"]  # no write plugins
    settings = served.client.get("/-/settings.json").json()
    assert settings["sql_time_limit_ms"] >= 1000 and settings["default_page_size"] == 50


def test_a_pass_can_write_while_datasette_reads(served: Served) -> None:
    """WAL: an open write transaction blocks no reader, and readers see each commit at
    once (the store is not opened immutable)."""
    saved_state = served.rows("SELECT * FROM source_state")
    writer = sqlite3.connect(served.db, timeout=5, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO stories (title_en, first_seen, last_seen, article_count, languages, "
            "entities, flagged, created_at, importance) VALUES ('Fresh development', "
            "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '+1 minute'), "
            "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'), 1, '[\"en\"]', '[\"BAIC\"]', 1, "
            "'now', 99), ('Old development', '2020-01-01T00:00:00+00:00', "
            "'2020-01-01T00:00:00+00:00', 1, '[\"en\"]', '[\"BAIC\"]', 1, 'then', 99)")
        writer.execute("DELETE FROM source_state")
        started = time.monotonic()
        during = served.query("new_developments")  # the writer holds its lock meanwhile
        assert time.monotonic() - started < 2
        assert "Fresh development" not in {r["headline"] for r in during}
        writer.execute("COMMIT")
        after = served.query("new_developments")
        assert after[0]["headline"] == "Fresh development"  # the most important first
        assert "Old development" not in {r["headline"] for r in after}  # older than 7 days
        # Without source_state rows, health comes from the fetch log.
        health = served.query("source_health")
        assert len(health) == len(served.config.sources)
        assert all(r["last_success"] and r["next_due_at"] is None for r in health)
    finally:
        if writer.in_transaction:
            writer.execute("ROLLBACK")
        writer.execute("DELETE FROM stories WHERE title_en IN "
                       "('Fresh development', 'Old development')")
        writer.executemany(
            f"INSERT OR REPLACE INTO source_state ({', '.join(saved_state[0])}) VALUES "
            f"({', '.join('?' * len(saved_state[0]))})", [list(r.values()) for r in saved_state])
        writer.close()


def test_any_store_file_is_served_as_tidings(tmp_path: Path) -> None:
    config = load_config(fill_config(tmp_path))  # the store is news.db
    prepare_store(config)
    result = subprocess.run([*datasette_command(config), "--get", "/tidings/source_health.json"],
                            check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == []


def test_tidings_serve_runs_until_sigterm(tmp_path: Path) -> None:
    config_path = fill_config(tmp_path)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", "--config",
                             str(config_path), "--port", str(port)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)
        assert (tmp_path / "news.db").exists()  # created and migrated before serving
        empty = httpx.get(f"http://127.0.0.1:{port}/{DATABASE}/new_developments.atom")
        parsed = feedparser.parse(empty.content)  # a quiet week: a valid, empty feed
        assert empty.status_code == 200 and not parsed.bozo and parsed.entries == []
        assert parsed.feed.updated
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/-/versions.json", timeout=1)
    finally:
        stop(proc)


def test_tidings_serve_answers_the_atom_feed_of_new_developments(served: Served) -> None:
    """A real `tidings serve` process; the feed parsed by feedparser, entry for entry the
    new_developments query."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", "--config",
                             str(served.config.path), "--port", str(port)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        response = httpx.get(f"{base}/{DATABASE}/new_developments.atom", timeout=10)
        rows = httpx.get(f"{base}/{DATABASE}/new_developments.json",
                         params={"_shape": "array"}, timeout=10).json()
        page = httpx.get(f"{base}/{DATABASE}/new_developments", timeout=10).text
    finally:
        stop(proc)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "tidings: new developments"
    assert parsed.feed.link == f"{base}/{DATABASE}/new_developments"
    assert len(rows) >= 5 and len(parsed.entries) == len(rows)
    ids = set()
    for entry, row in zip(parsed.entries, rows, strict=True):  # same order: most important
        assert entry.title == row["headline"]
        assert entry.link == row["link"] and entry.link.startswith("http://127.0.0.1:")
        published = datetime.fromisoformat(row["published_at"])
        assert datetime(*entry.published_parsed[:6], tzinfo=published.tzinfo) == \
            published.replace(microsecond=0)
        assert entry.summary == row["summary"] and len(entry.summary) > 40
        assert [t.term for t in entry.tags] == json.loads(row["entities"])
        related = [link.href for link in entry.links if link.rel == "related"]
        assert related == [f"{base}/{DATABASE}/story_coverage?story_id={row['story_id']}"]
        if row["follows"] is not None:
            assert f"Follows: <a href=\"{base}/{DATABASE}/story_coverage?story_id=" \
                   f"{row['follows']}\">{html.escape(row['follows_headline'], False)}" \
                   in entry.content[0].value
        ids.add(entry.id)
    assert len(ids) == len(rows) and all(i.startswith("tag:tidings,2026:story/") for i in ids)
    assert 'href="/tidings/new_developments.atom"' in page  # offered beside json and csv


# ------------------------------------------------------------------------------ the plugin

def test_plugin_makes_store_connections_query_only(tmp_path: Path) -> None:
    """Even a writable connection (a write plugin's) cannot change the store."""
    plugin = load_plugin()
    db = tmp_path / "tidings.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.close()

    datasette = SimpleNamespace(databases={
        DATABASE: SimpleNamespace(path=str(db), is_memory=False)})
    conn = sqlite3.connect(db)
    plugin.prepare_connection(conn, DATABASE, datasette)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("INSERT INTO t VALUES (1)")
    assert conn.execute("SELECT tidings_fts_query('小米汽车 plant')").fetchone()[0] == (
        '"小米 米汽 汽车" AND "plant"')
    conn.close()


@pytest.mark.parametrize(("indexed", "shown"), [
    ("北汽 汽和 和小 «小米» 米汽 汽车", "北汽和«小米»汽车"),
    ("…合作 作协 协议 ， «小米 米汽 汽车» 确定", "…合作协议，«小米汽车»确定"),
    ("第 10 万台 «小米» SU7", "第10万台«小米» SU7"),
    ("«Xiaomi» builds a car", "«Xiaomi» builds a car"),
    ("the «小米» car", "the «小米» car"),
])
def test_snippets_read_as_written(indexed: str, shown: str) -> None:
    assert load_plugin().plain(indexed) == shown
