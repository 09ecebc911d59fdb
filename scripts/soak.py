"""Soak test of the daemon (not part of CI): `python scripts/soak.py --minutes 30`.

A local news site (3 outlets: RSS feed, news sitemap, listing page) publishes a new article
every few seconds and misbehaves now and then (HTTP 500/503, slow answers, dropped
connections). `tidings daemon` runs against it with short intervals. At the end the site
stops publishing, the daemon gets time to catch up and is stopped with SIGTERM, and we check:
every published page is in the store exactly once, the store's integrity, and that the
daemon's memory stayed flat. Figures go to stdout and to docs/soak.md.
"""

from __future__ import annotations

import argparse
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.demo.server import ConnectionAbort, RequestInfo, Resource, SiteServer

WORDS = ["vehicle", "plant", "battery", "factory", "delivery", "Xiaomi", "BAIC", "capacity", "line", "robot", "stamping", "welding", "paint", "assembly", "order", "price", "range", "charging", "motor", "chassis", "supplier"]


class Outlet:
    def __init__(self, name: str, kind: str, rng: random.Random, fail_rate: float) -> None:
        self.name, self.kind, self.rng, self.fail_rate = name, kind, rng, fail_rate
        self.server = SiteServer().start()
        self.published: list[tuple[str, str]] = []  # (path, published ISO)
        self.lock = threading.Lock()
        self.failures = 0
        entry = {"feed": "/feed.xml", "sitemap": "/sitemap.xml", "page": "/latest.html"}[kind]
        self.entry = entry
        self.server.add(entry, self.entry_resource)
        self.server.add("/robots.txt", Resource(b"User-agent: *\nAllow: /\n",
                                                content_type="text/plain"))

    def misbehave(self) -> None:
        roll = self.rng.random()
        if roll < self.fail_rate / 3:
            self.failures += 1
            raise ConnectionAbort()
        if roll < self.fail_rate * 2 / 3:
            self.failures += 1
            time.sleep(0.5)
        if roll < self.fail_rate:
            self.failures += 1
            raise _Status(self.rng.choice([500, 503]))

    def entry_resource(self, request: RequestInfo) -> Resource:
        try:
            self.misbehave()
        except _Status as exc:
            return Resource(b"server error", status=exc.status)
        with self.lock:
            latest = self.published[-60:]
        if self.kind == "feed":
            items = "".join(f"<item><title>{p}</title><link>{self.server.url(p)}?utm_source=rss"
                            f"</link></item>" for p, _ in latest)
            body = f"<rss version='2.0'><channel><title>{self.name}</title>{items}</channel></rss>"
            return Resource(body.encode(), content_type="application/rss+xml")
        if self.kind == "sitemap":
            urls = "".join(f"<url><loc>{self.server.url(p)}</loc><lastmod>{d}</lastmod></url>"
                           for p, d in latest)
            body = ("<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/"
                    f"sitemap/0.9'>{urls}</urlset>")
            return Resource(body.encode(), content_type="application/xml")
        links = "".join(f"<li><a href='{p}'>story</a></li>" for p, _ in latest)
        return Resource(f"<html><body><ul>{links}</ul></body></html>".encode())

    def publish(self, serial: int) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        path = f"/news/{now:%Y/%m/%d}/{self.name}-{serial}.html"
        words = " ".join(self.rng.choice(WORDS) for _ in range(220))
        body = (f"<html><head><title>{self.name} report {serial}</title></head><body>"
                f"<nav>Home · News · About</nav><article><h1>{self.name} report {serial}</h1>"
                f"<p>Report {serial} from {self.name}. {words}.</p></article>"
                f"<footer>© {self.name}</footer></body></html>").encode()

        def page(_: RequestInfo) -> Resource:
            try:
                self.misbehave()
            except _Status as exc:
                return Resource(b"error", status=exc.status)
            return Resource(body)
        self.server.add(path, page)
        with self.lock:
            self.published.append((path, now.isoformat()))


class _Status(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--publish-every", type=float, default=4.0, help="seconds")
    parser.add_argument("--fail-rate", type=float, default=0.06)
    parser.add_argument("--report", type=Path, default=REPO / "docs" / "soak.md")
    args = parser.parse_args()
    rng = random.Random(7)
    outlets = [Outlet("feedwire", "feed", rng, args.fail_rate),
               Outlet("mapnews", "sitemap", rng, args.fail_rate),
               Outlet("listpost", "page", rng, args.fail_rate)]
    work = Path(tempfile.mkdtemp(prefix="tidings-soak-"))
    sources = "".join(f"[[sources]]\nname = \"{o.name}\"\nurl = \"{o.server.url(o.entry)}\"\n"
                      f"kind = \"{o.kind}\"\nevery = \"10s\"\n\n" for o in outlets)
    config = work / "tidings.toml"
    config.write_text(f"[store]\npath = \"{work / 'tidings.db'}\"\n\n[fetch]\nhost_delay = 0.1\n"
                      f"timeout = 3\nretries = 2\nbackoff = 0.5\n\n[translate]\nlanguages = []\n\n"
                      f"{sources}", "utf-8")
    log = (work / "daemon.err").open("wb")
    daemon = subprocess.Popen([sys.executable, "-m", "pipeline", "-v", "daemon", "--config",
                               str(config)], cwd=REPO, stderr=log, stdout=subprocess.DEVNULL)
    proc = psutil.Process(daemon.pid)
    started = time.time()
    end = started + args.minutes * 60
    serial, samples = 0, []
    next_sample = started
    print(f"soak: {args.minutes} min, state in {work}", flush=True)
    while time.time() < end:
        outlet = outlets[serial % len(outlets)]
        outlet.publish(serial)
        serial += 1
        if time.time() >= next_sample:
            samples.append((time.time() - started, proc.memory_info().rss / 1e6))
            next_sample += 30
        time.sleep(args.publish_every)
    print("soak: publishing stopped; letting the daemon catch up", flush=True)
    time.sleep(45)
    daemon.send_signal(signal.SIGTERM)
    stop_started = time.time()
    code = daemon.wait(timeout=30)
    stop_seconds = time.time() - stop_started
    published = [o.server.url(p) for o in outlets for p, _ in o.published]
    for outlet in outlets:
        outlet.server.stop()

    db = sqlite3.connect(work / "tidings.db")
    stored = {row[0] for row in db.execute("SELECT fetched_url FROM articles")}
    stored |= {row[0] for row in db.execute("SELECT url FROM articles")}
    missing = [u for u in published if u not in stored]
    per_url = db.execute("SELECT COUNT(*) - COUNT(DISTINCT url) FROM articles").fetchone()[0]
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    requests = db.execute("SELECT COUNT(*) FROM fetches").fetchone()[0]
    errors = db.execute("SELECT COUNT(*) FROM fetches WHERE error IS NOT NULL AND status "
                        "IS NOT 304").fetchone()[0]
    first = [m for t, m in samples if 240 <= t <= 600] or [samples[0][1]]
    last = [m for t, m in samples[-10:]]
    lines = [
        "# Daemon soak test", "",
        (f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python scripts/soak.py --minutes "
        f"{args.minutes:g}`: 3 local outlets (RSS, news sitemap, listing page), a new article "
        f"every {args.publish_every:g} s, {args.fail_rate:.0%} of requests misbehaving "
        "(500/503, 0.5 s stalls, dropped connections), sources every 10 s."), "",
        "| measure | value |", "|---|---|",
        f"| articles published | {len(published)} |",
        f"| published pages missing from the store | {len(missing)} |",
        f"| extra rows for one URL | {per_url} |",
        f"| requests made / answered with an error | {requests} / {errors} |",
        f"| injected misbehaviours | {sum(o.failures for o in outlets)} |",
        f"| `PRAGMA integrity_check` | {integrity} |",
        f"| SIGTERM → exit | code {code} in {stop_seconds:.1f} s |",
        f"| daemon RSS, minutes 4–10 (median) | {statistics.median(first):.1f} MB |",
        f"| daemon RSS, last 5 minutes (median) | {statistics.median(last):.1f} MB |",
        f"| RSS samples (every 30 s) | {', '.join(f'{m:.0f}' for _, m in samples)} |",
        ""]
    report = "\n".join(lines)
    print(report)
    args.report.write_text(report, "utf-8")
    ok = not missing and per_url == 0 and integrity == "ok" and code == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
