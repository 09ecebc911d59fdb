"""Shared fixtures: real local web servers, real config files, the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import dump_toml
from pipeline.demo.server import Resource, SiteServer

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
SEEDS = DATA / "seeds"  # the five articles the project began from
CORPUS = DATA / "realworld"  # real pages and feeds (see its README)

# The seed files begin with scraped junk lines; their headline is the first real one.
SEED_TITLES = {
    "000": "BAIC collaborates with CATL and Xiaomi to build a battery cell plant",
    "001": "Xiaomi may take over BAIC's plant in Qingdao, report says",
    "002": "Xiaomi signs agreement with E-Town to build car factory in Beijing",
    "003": "Xiaomi Auto Signs Contract to Build Factory in Yizhuang, Beijing in Two Phases",
    "004": "Xiaomi Auto si stabilirà nella Beijing Economic Development Zone",
}
SEED_DATES = {"000": "2024-03-13", "001": "2021-08-03", "002": "2021-11-28",
              "003": "2021-11-29", "004": "2021-11-29"}


def write_config(directory: Path, sources: list[dict[str, Any]], **sections: Any) -> Path:
    """A config file with a store in `directory`, fast politeness, and the given sources."""
    data: dict[str, Any] = {
        "store": {"path": str(directory / "tidings.db")},
        "fetch": {"host_delay": 0.0, "timeout": 5, "retries": 1, "backoff": 0.05},
        "translate": {"package_dir": str(directory / "packages")},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    data["sources"] = sources
    path = directory / "tidings.toml"
    path.write_text(dump_toml(data), "utf-8")
    return path


@dataclass
class CLIResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def tidings(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120) -> CLIResult:
    """Run the real command line in a subprocess, as cron would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True,
                          text=True, env=full_env, check=False, cwd=cwd or REPO, timeout=timeout)
    return CLIResult(proc.returncode, proc.stdout, proc.stderr)


def seed_text(number: str) -> str:
    path = next(SEEDS.glob(f"{number}_*.txt"))
    return path.read_text("utf-8")


def seed_page(number: str) -> bytes:
    """A seed served as a news page, with the boilerplate a real site has around it."""
    title = SEED_TITLES[number]
    lines = [line.strip() for line in seed_text(number).splitlines() if line.strip()]
    if lines and lines[0].rstrip(".") == title.rstrip("."):
        lines = lines[1:]
    body = "\n".join(f"<p>{escape(line)}</p>" for line in lines)
    lang = "it" if number == "004" else "en"
    return f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<title>{escape(title)} | Seed News</title>
<meta property="article:published_time" content="{SEED_DATES[number]}T08:00:00+00:00">
</head><body>
<nav><a href="/">Home</a> <a href="/about">About</a> <a href="/category/ev">EV</a></nav>
<div class="cookie-banner">We use cookies to improve your experience. Accept all?</div>
<main><article><h1>{escape(title)}</h1><p class="byline">By Seed Reporter</p>
{body}</article></main>
<aside class="related"><h3>Related</h3><ul><li><a href="/news/other.html">Other news</a></li>
</ul></aside><footer>© Seed News 2024 · Privacy · Terms</footer></body></html>""".encode()


def seed_routes(server: SiteServer) -> dict[str, str]:
    """Serve the five seeds with a feed and a news sitemap; returns number → path."""
    paths = {}
    items, urls = [], []
    for number in sorted(SEED_TITLES):
        path = f"/news/{SEED_DATES[number].replace('-', '/')}/seed-{number}.html"
        paths[number] = path
        server.add(path, Resource(seed_page(number),
                                  last_modified=datetime(2024, 3, 14, tzinfo=UTC)))
        link = server.url(path)
        items.append(f"<item><title>{escape(SEED_TITLES[number])}</title>"
                     f"<link>{link}?utm_source=rss&amp;utm_medium=feed</link>"
                     f"<guid>{link}</guid></item>")
        urls.append(f"<url><loc>{link}</loc><lastmod>{SEED_DATES[number]}</lastmod></url>")
    moment = datetime(2024, 3, 14, tzinfo=UTC)
    server.add("/feed.xml", Resource(
        ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Seeds"
         f"</title><link>{server.base_url}</link>{''.join(items)}</channel></rss>").encode(),
        content_type="application/rss+xml; charset=utf-8", last_modified=moment))
    server.add("/sitemap.xml", Resource(
        ("<?xml version='1.0' encoding='utf-8'?><urlset xmlns="
         "'http://www.sitemaps.org/schemas/sitemap/0.9'>" + "".join(urls) + "</urlset>"
         ).encode(), content_type="application/xml", last_modified=moment))
    server.add("/robots.txt", Resource(b"User-agent: *\nDisallow: /private/\n",
                                       content_type="text/plain"))
    return paths


@pytest.fixture
def seed_site() -> Iterator[SiteServer]:
    server = SiteServer().start()
    seed_routes(server)
    try:
        yield server
    finally:
        server.stop()
