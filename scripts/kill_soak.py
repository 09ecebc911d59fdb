"""SIGKILL soak (not part of CI): `python scripts/kill_soak.py --kills 20`.

A local news site serves `--articles` articles, slowly enough that a pass takes several seconds
and starts its worker processes. `tidings run` is started again and again and killed
with SIGKILL (what the out-of-memory killer sends) at a random moment, `--kills` times;
then it runs once to the end. We check that no tidings process is left alive after each
kill, that the store's integrity holds, and that the store equals the store of one clean,
uninterrupted pass over the same site: the same articles, stories, flags, duplicates and
full-text rows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.demo.server import RequestInfo, Resource, SiteServer
from tests.conftest import seed_page, write_config

GRACE = 15.0  # seconds a worker may take to notice its parent is gone
QUERY = ("SELECT (SELECT COUNT(*) FROM articles), (SELECT COUNT(DISTINCT url) FROM articles), "
         "(SELECT COUNT(*) FROM stories), (SELECT COUNT(*) FROM stories WHERE flagged = 1), "
         "(SELECT COUNT(*) FROM articles WHERE duplicate_of IS NOT NULL), "
         "(SELECT COUNT(*) FROM articles_fts)")


def site(count: int, delay: float) -> SiteServer:
    """`count` different articles (seed texts cut and recombined), each served slowly."""
    server = SiteServer().start()
    paths = []
    sentences = [s for n in range(5) for s in seed_page(f"00{n}").decode().split("</p>")
                 if "<p>" in s and "byline" not in s]
    rng = random.Random(count)
    for n in range(count):
        picked = rng.sample(sentences, 6)
        body = seed_page(f"00{n % 5}").split(b"<main>")[0] + (
            f"<main><article><h1>Report {n}</h1>" + "</p>".join(picked)
            + f"</p><p>Line {n} reports output {1000 + 37 * n} units.</p></article></main>"
            "</body></html>").encode()

        def page(_r: RequestInfo, body: bytes = body) -> Resource:
            time.sleep(delay)
            return Resource(body)
        path = f"/news/2024/05/{n:03d}-update.html"
        server.add(path, page)
        paths.append(path)
    items = "".join(f"<item><title>u</title><link>{server.url(p)}</link></item>" for p in paths)
    server.add("/feed.xml", Resource(f"<rss version='2.0'><channel><title>s</title>{items}"
                                     "</channel></rss>".encode(),
                                     content_type="application/rss+xml"))
    return server


def tidings_processes(marker: str) -> list[int]:
    """Processes whose command line or environment names `marker` (the soak's folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline or marker.encode() in environ:
            found.append(int(entry.name))
    return found


def run(config: Path, marker: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env["TIDINGS_SOAK"] = marker  # marks the process tree, workers included
    return subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--json", "--config",
                             str(config)], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)


def counts(db: Path) -> tuple[int, ...]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return tuple(conn.execute(QUERY).fetchone())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--articles", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    server = site(args.articles, delay=0.15)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            killed_dir, clean_dir = Path(tmp) / "killed", Path(tmp) / "clean"
            killed_dir.mkdir()
            clean_dir.mkdir()
            source = [{"name": "soak", "url": server.url("/feed.xml"), "kind": "feed"}]
            killed_cfg = write_config(killed_dir, source, stories={"fresh_days": 36500})
            clean_cfg = write_config(clean_dir, source, stories={"fresh_days": 36500})
            survivors = 0
            lingered = 0.0
            stored_at_kill = []
            for _ in range(args.kills):
                proc = run(killed_cfg, tmp)
                time.sleep(rng.uniform(1.0, 12.0))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                # Workers get the kernel's SIGKILL when their parent dies; one still
                # starting up (importing) exits as soon as it finds its parent gone.
                killed_at = time.monotonic()
                while tidings_processes(tmp) and time.monotonic() - killed_at < GRACE:
                    time.sleep(0.1)
                lingered = max(lingered, time.monotonic() - killed_at)
                survivors += len(tidings_processes(tmp))
                stored_at_kill.append(counts(killed_dir / "tidings.db")[0]
                                      if (killed_dir / "tidings.db").exists() else 0)
            final = run(killed_cfg, tmp)
            final_out, _ = final.communicate(timeout=600)
            clean = run(clean_cfg, tmp)
            clean.communicate(timeout=600)
            time.sleep(1.0)
            left = tidings_processes(tmp)
            killed_counts = counts(killed_dir / "tidings.db")
            clean_counts = counts(clean_dir / "tidings.db")
    finally:
        server.stop()
    result = {
        "kills": args.kills, "seed": args.seed,
        "articles stored when each kill landed": stored_at_kill,
        "processes alive after the kills": survivors, "processes alive at the end": len(left),
        "longest a worker outlived its killed parent (s)": round(lingered, 1),
        "final pass exit": final.returncode,
        "final pass new articles": json.loads(final_out)["new_articles"] if final_out else None,
        "killed store (articles, urls, stories, flagged, duplicates, full-text rows)":
            killed_counts,
        "clean store (articles, urls, stories, flagged, duplicates, full-text rows)":
            clean_counts,
        "equal": killed_counts == clean_counts, "minutes": round((time.monotonic() - started)
                                                                 / 60, 1),
    }
    print(json.dumps(result, indent=1))
    ok = result["equal"] and survivors == 0 and not left and final.returncode == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
