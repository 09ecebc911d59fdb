"""A new user's first week (issue 15): every message true, every error one line a person can
act on, the documented exit codes, times in one zone, tables that fit 80 columns.

Every test runs the real command line in a subprocess (`tidings()`), on real SQLite files
and real servers on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from pipeline.config import load_defaults
from pipeline.demo.server import Resource, SiteServer
from pipeline.due import network_failure, unreachable
from pipeline.textwidth import width

from .conftest import REPO, CLIResult, tidings, write_config
from .test_serve import free_port, stop, wait_ready

TRACEBACK = "Traceback (most recent call last)"


def closed_port() -> int:
    """A port nothing listens on, on every loopback address."""
    return free_port()


def one_line(result: CLIResult) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert TRACEBACK not in result.stderr
    return lines[0]


# ---------------------------------------------------------------------------- 1. network down
@pytest.mark.parametrize("robots", [True, False], ids=["robots", "no-robots"])
def test_network_down_is_one_verdict_and_no_backoff(tmp_path: Path, robots: bool) -> None:
    port = closed_port()
    sources = [{"name": f"s{i}", "url": f"http://127.0.0.{i}:{port}/feed.xml", "kind": "feed"}
               for i in (1, 2, 3)]
    cfg = write_config(tmp_path, sources, fetch={"robots": robots, "retries": 0})
    down = tidings("run", "--config", str(cfg))
    assert down.code == 1
    line = one_line(down)
    assert "no source could be reached: is the network up?" in line
    assert "all 3 hosts" in line
    again = tidings("run", "--json", "--config", str(cfg))  # nobody backs off for it
    assert again.code == 1 and again.json()["skipped"] == []
    assert len(again.json()["errors"]) == 3  # each error still reported in --json
    health = tidings("sources", "--json", "--config", str(cfg)).json()
    assert [h["consecutive_failures"] for h in health] == [0, 0, 0]
    assert all(h["last_error"] for h in health)  # but remembered, for `tidings sources`


def test_one_unreachable_source_among_working_ones_backs_off(tmp_path: Path,
                                                             seed_site: SiteServer) -> None:
    cfg = write_config(tmp_path, [
        {"name": "seeds", "url": seed_site.url("/feed.xml"), "kind": "feed"},
        {"name": "gone", "url": f"http://127.0.0.2:{closed_port()}/feed.xml", "kind": "feed"}],
        fetch={"retries": 0})
    first = tidings("run", "--config", str(cfg))
    assert first.code == 0 and "network" not in first.stderr
    health = {h["name"]: h for h in tidings("sources", "--json", "--config", str(cfg)).json()}
    assert health["gone"]["consecutive_failures"] == 1
    assert health["seeds"]["consecutive_failures"] == 0


def test_network_verdict_reads_dns_and_connection_errors() -> None:
    dns = f"ConnectError: {socket.gaierror(-2, 'Name or service not known')}"
    lookup = socket.gaierror(-3, "Temporary failure in name resolution")
    dns_robots = (f"robots.txt unreachable (ConnectError: {lookup}); not crawling "
                  "https://example.com")
    refused = "ConnectError: All connection attempts failed"
    assert network_failure(dns) == network_failure(dns_robots) == "dns"
    assert network_failure(refused) == "connect"
    assert network_failure("HTTP 503 Service Unavailable") is None
    assert network_failure("timed out after 20 s") is None
    hosts = [("a.com", dns), ("b.it", dns_robots)]
    assert unreachable(hosts, 2) == ("no source could be reached: is the network up? DNS "
                                     "failed for all 2 hosts")
    assert unreachable(hosts, 3) is None  # a third source worked: the network is up
    assert unreachable([*hosts, ("c.cn", "HTTP 404 Not Found")], 3) is None
    assert "no connection" in (unreachable([("a.com", refused), ("b.it", refused)], 2) or "")
    assert unreachable([("a.com", refused)], 1) is None  # one host down: it backs off
    mixed = unreachable([("a.com", dns), ("b.it", refused)], 2) or ""
    assert "DNS failed for 1 host" in mixed and "other 1" in mixed


def test_sources_shows_backoff_until_when_and_retired_links(tmp_path: Path) -> None:
    server = SiteServer().start()
    try:
        server.add("/feed.xml", Resource(b"down", status=404))
        cfg = write_config(tmp_path, [{"name": "flaky", "url": server.url("/feed.xml"),
                                       "kind": "feed", "every": "1h"}],
                           digest={"timezone": "Asia/Shanghai"})
        assert tidings("run", "--config", str(cfg)).code == 1
    finally:
        server.stop()
    with sqlite3.connect(tmp_path / "tidings.db") as conn:
        conn.execute("INSERT INTO links (url, source, status, attempts, discovered_at) "
                     "VALUES ('http://x.test/a', 'flaky', 'retired', 5, '2024-01-01')")
        due = conn.execute("SELECT next_due_at FROM source_state").fetchone()[0]
    shown = tidings("sources", "--config", str(cfg), env={"COLUMNS": "80"})
    assert shown.code == 0, shown.stderr
    local = datetime.fromisoformat(due).astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"backing off after 1 failed pass in a row, until {local:%b %d %H:%M} CST" \
        in shown.stdout
    assert "1 link given up" in shown.stdout
    assert "run --force" in shown.stdout
    assert all(width(line) <= 80 for line in shown.stdout.splitlines()  # a command to paste
               if "--force" not in line), shown.stdout  # stays whole, whatever its length


# ---------------------------------------------------------------------------- 3. errors
@pytest.mark.parametrize("command", ["run", "translate"])
def test_a_state_folder_that_cannot_be_written_is_one_line(tmp_path: Path,
                                                          command: str) -> None:
    (tmp_path / "somefile").write_text("not a folder")
    cfg = write_config(tmp_path, [{"name": "x", "url": "http://127.0.0.1:9/f.xml"}],
                       store={"path": str(tmp_path / "somefile" / "tidings.db")})
    result = tidings(command, "--config", str(cfg))
    assert result.code == 1
    line = one_line(result)
    assert "somefile" in line and "store.path" in line and str(cfg) in line
    verbose = tidings("-vv", command, "--config", str(cfg))
    assert verbose.code == 1 and TRACEBACK in verbose.stderr


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A store after one pass over the seeds (closed cleanly: no -wal file)."""
    directory = tmp_path_factory.mktemp("seeded")
    server = SiteServer().start()
    from .conftest import seed_routes
    seed_routes(server)
    try:
        cfg = write_config(directory, [{"name": "seeds", "url": server.url("/feed.xml"),
                                        "kind": "feed"}],
                           stories={"fresh_days": 36500})  # the seeds are years old
        assert tidings("run", "--config", str(cfg)).code == 0
    finally:
        server.stop()
    yield directory / "tidings.db"


def copy_store(seeded: Path, directory: Path, **sections: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(seeded, directory / "tidings.db")
    return write_config(directory, [{"name": "seeds", "url": "http://127.0.0.1:9/feed.xml"}],
                        **sections)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", [["stories"], ["digest", "--output", "{out}"]])
def test_a_partly_damaged_store_is_one_line(seeded: Path, tmp_path: Path,
                                            command: list[str]) -> None:
    cfg = copy_store(seeded, tmp_path / "store")
    db = tmp_path / "store" / "tidings.db"
    with sqlite3.connect(db) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = [p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = 'stories'")]
    with db.open("r+b") as f:  # the stories table's pages only: the file still opens
        for page in pages:
            f.seek((page - 1) * size)
            f.write(b"\xa5" * size)
    args = [a.replace("{out}", str(tmp_path / "d.eml")) for a in command]
    result = tidings(*args, "--config", str(cfg))
    assert result.code == 1
    line = one_line(result)
    assert str(db) in line and "damaged" in line


def fingerprint(db: Path) -> tuple[bytes, int, list[str]]:
    return db.read_bytes(), db.stat().st_mtime_ns, sorted(p.name for p in db.parent.iterdir())


def test_read_only_commands_never_write_the_store(seeded: Path, tmp_path: Path) -> None:
    cfg = copy_store(seeded, tmp_path / "store")
    db = tmp_path / "store" / "tidings.db"
    with sqlite3.connect(db) as conn:  # as a backup copy is: no WAL, which a writer sets
        conn.execute("PRAGMA journal_mode = DELETE")
    before = fingerprint(db)
    for args in (["stories"], ["sources"], ["sources", "--json"], ["stories", "--flagged"],
                 ["digest", "--output", str(tmp_path / "digest.eml")], ["digest"]):
        result = tidings(*args, "--config", str(cfg))
        assert result.code == 0, (args, result.stderr)
        assert fingerprint(db) == before, args  # same bytes, same mtime, no -wal/-shm
    assert (tmp_path / "digest.eml").exists()


@pytest.fixture
def read_only_folder(seeded: Path, tmp_path: Path) -> Iterator[Path]:
    """A store in a folder nothing may write, root included (`chattr +i`: what a
    read-only mount means; chmod does not stop root, who runs these tests)."""
    cfg = copy_store(seeded, tmp_path / "ro")
    folder = tmp_path / "ro"
    made = subprocess.run(["chattr", "+i", str(folder / "tidings.db"), str(folder)],
                          capture_output=True, check=False) if shutil.which("chattr") else None
    if made is None or made.returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        with pytest.raises(OSError):
            (folder / "probe").write_text("x")
        yield cfg
    finally:
        subprocess.run(["chattr", "-i", str(folder / "tidings.db"), str(folder)], check=True)


def test_read_only_commands_work_on_a_read_only_folder(read_only_folder: Path,
                                                       tmp_path: Path) -> None:
    cfg = read_only_folder
    for args in (["stories"], ["sources"], ["digest", "--output", str(tmp_path / "d.eml")]):
        result = tidings(*args, "--config", str(cfg))
        assert result.code == 0, (args, result.stderr)
    assert "Xiaomi" in tidings("stories", "--config", str(cfg)).stdout
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", "--config", str(cfg),
                             "--port", str(port)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)
        rows = httpx.get(f"http://127.0.0.1:{port}/tidings/stories.json?_shape=array").json()
        assert len(rows) == 3
    finally:
        stop(proc)


def test_a_store_that_needs_a_migration_says_to_run_once(seeded: Path, tmp_path: Path) -> None:
    cfg = copy_store(seeded, tmp_path / "old")
    with sqlite3.connect(tmp_path / "old" / "tidings.db") as conn:
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = "
                     "'m004_story_freshness_follows_importance'")
    result = tidings("stories", "--config", str(cfg))
    assert result.code == 1
    assert "tidings run" in one_line(result) and "once" in result.stderr


# ---------------------------------------------------------------------------- 4. exit codes
def test_serve_on_a_busy_port_says_so_and_exits_1(seeded: Path, tmp_path: Path) -> None:
    cfg = copy_store(seeded, tmp_path / "s")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = tidings("serve", "--port", str(port), "--config", str(cfg), timeout=30)
    assert result.code == 1
    line = one_line(result)  # and nothing claimed to be serving before it
    assert f"127.0.0.1:{port}" in line and "--port" in line


def test_digest_send_without_recipients_is_a_configuration_error(seeded: Path,
                                                                  tmp_path: Path) -> None:
    cfg = copy_store(seeded, tmp_path / "d")
    result = tidings("digest", "--send", "--config", str(cfg))
    assert result.code == 2
    line = one_line(result)
    assert "digest.to" in line and str(cfg) in line and "SMTP" not in line


@pytest.mark.parametrize("command", ["run", "daemon"])
def test_no_sources_is_a_configuration_error(tmp_path: Path, command: str) -> None:
    cfg = write_config(tmp_path, [])
    result = tidings(command, "--config", str(cfg), timeout=30)
    assert result.code == 2
    line = one_line(result)
    assert str(cfg) in line and "[[sources]]" in line


@pytest.mark.parametrize(("sections", "key"), [
    ({"translate": {"languages": ["italian"]}}, "translate.languages"),
    ({"translate": {"target": "English"}}, "translate.target"),
])
def test_language_names_are_refused_naming_the_key(tmp_path: Path,
                                                   sections: dict[str, dict[str, object]],
                                                   key: str) -> None:
    cfg = write_config(tmp_path, [{"name": "x", "url": "http://127.0.0.1:9/f.xml"}], **sections)
    result = tidings("stories", "--config", str(cfg))
    assert result.code == 2 and key in one_line(result)


def test_empty_aliases_are_refused_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "tidings.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "t.db"}"\n\n[[watch]]\nname = "Xiaomi"\n'
                   "aliases = []\n", "utf-8")
    result = tidings("stories", "--config", str(cfg))
    assert result.code == 2 and "watch[0] (Xiaomi).aliases" in one_line(result)


def test_exit_codes_are_documented_in_help_and_readme() -> None:
    shown = tidings("--help").stdout
    readme = (REPO / "README.md").read_text("utf-8")
    for text in (shown, readme):
        assert "Exit codes" in text
        for code in ("0", "1", "2"):
            assert re.search(rf"\b{code}\b", text.split("Exit codes", 1)[1][:900])
    assert "port" in shown.split("Exit codes", 1)[1]  # serve's busy port is exit 1
    assert "port is taken" in tidings("serve", "--help").stdout


# ---------------------------------------------------------------------------- 5, 6. time, tables
LONG_ZH = "小米汽车宣布北京亦庄工厂二期正式投产，年产能提升至三十万辆，雷军称交付将大幅提速"


def test_stories_fit_80_columns_in_the_configured_zone(seeded: Path, tmp_path: Path) -> None:
    cfg = copy_store(seeded, tmp_path / "z", digest={"timezone": "Asia/Shanghai"})
    db = tmp_path / "z" / "tidings.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE stories SET entities = '[\"Xiaomi\", \"BAIC\", \"Beijing "
                     "Automotive Industry Holding\"]', languages = '[\"en\", \"it\", \"zh\"]'")
        conn.execute("UPDATE stories SET title_en = ?, published_at = "
                     "'2021-11-28T08:00:00+00:00' WHERE id = 1", [LONG_ZH])
        first_seen = conn.execute("SELECT first_seen FROM stories WHERE id = 1").fetchone()[0]
    shown = tidings("stories", "--config", str(cfg), env={"COLUMNS": "80"})
    assert shown.code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert all(width(line) <= 80 for line in lines), shown.stdout
    assert "(CST)" in shown.stdout and "published" in shown.stdout
    local = datetime.fromisoformat(first_seen).astimezone(ZoneInfo("Asia/Shanghai"))
    assert local.strftime("%b %d %H:%M") in shown.stdout
    assert "Nov 28 2021" in shown.stdout  # published long before it was first seen
    assert "…" in shown.stdout  # entities cut with an ellipsis
    # the headline wraps: every piece of it is shown, in order
    start = next(line for line in lines if "headline" in line).index("headline")
    first = next(i for i, line in enumerate(lines) if line[start:].startswith(LONG_ZH[:4]))
    pieces = [line[start:].strip() for line in lines[first:first + 4]]
    assert "".join(pieces) == LONG_ZH, pieces


def test_summaries_count_in_the_singular_and_plural_right(tmp_path: Path,
                                                          seed_site: SiteServer) -> None:
    feed = seed_site.url("/feed.xml")
    cfg = write_config(tmp_path, [{"name": "seeds", "url": feed, "kind": "feed"}])
    first = tidings("run", "--config", str(cfg))
    assert first.code == 0 and "5 new articles" in first.stdout
    assert re.search(r"\b1 (sources|duplicates|new articles|new stories|pages)\b",
                     first.stdout + first.stderr) is None
    assert "1 source ·" in first.stdout and "0 duplicates" in first.stdout
    assert (tmp_path / "tidings.log").stat().st_size > 0  # the log beside the store


def test_the_default_user_agent_names_no_placeholder_and_readme_says_to_add_one() -> None:
    agent = load_defaults()["fetch"]["user_agent"]
    assert "http" not in agent and "example" not in agent and agent.startswith("tidings/")
    readme = (REPO / "README.md").read_text("utf-8")
    assert re.search(r"fetch\.user_agent.*contact", readme, re.IGNORECASE | re.DOTALL)


def test_run_summary_says_until_when_in_the_zone(tmp_path: Path) -> None:
    server = SiteServer().start()
    try:
        server.add("/feed.xml", Resource(b"down", status=500))
        cfg = write_config(tmp_path, [{"name": "flaky", "url": server.url("/feed.xml"),
                                       "kind": "feed", "every": "2h"}],
                           fetch={"retries": 0}, digest={"timezone": "America/New_York"})
        assert tidings("run", "--config", str(cfg)).code == 1
        waiting = tidings("run", "--config", str(cfg))
    finally:
        server.stop()
    assert waiting.code == 0
    assert "nothing fetched" in waiting.stdout
    until = datetime.now(UTC) + timedelta(hours=4)  # 2h doubled after one failure
    local = until.astimezone(ZoneInfo("America/New_York"))
    assert re.search(rf"until {local:%b %d} \d\d:\d\d {local.tzname()}", waiting.stderr), \
        waiting.stderr
    assert "run --force" in waiting.stderr


def test_old_news_is_counted_for_the_demo_summary(seeded: Path, tmp_path: Path) -> None:
    from pipeline.store import Store
    copy_store(seeded, tmp_path / "o")
    db = tmp_path / "o" / "tidings.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE stories SET flagged = 0, published_at = '2021-11-28T08:00:00+00:00'"
                     " WHERE id IN (SELECT MIN(id) FROM stories)")
        conn.execute("UPDATE stories SET flagged = 0, published_at = first_seen "
                     "WHERE id IN (SELECT MAX(id) FROM stories)")  # fresh: not old news
    store = Store.open_readonly(db)
    try:
        assert store.old_news(7) == 1
        assert store.old_news(365 * 20) == 0
    finally:
        store.close()


def test_console_width_follows_columns_when_piped() -> None:
    code = "from pipeline.console import out_console; print(out_console.width)"
    env = {**os.environ, "COLUMNS": "80"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    assert out.stdout.strip() == "80"
