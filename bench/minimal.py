"""A minimal real pipeline: the least code that fetches, extracts, detects and stores news.

    python -m bench.minimal URLS.json DB OUT.json [--shard I/N] [--concurrency 16]

What any news pipeline has to do, with nothing else: httpx fetches the article URLs (one
AsyncClient; its pool as large as the hosts, so no connection is opened twice; at most
`concurrency` requests in flight), the body is decoded (the charset the HTTP header
names, else UTF-8 if valid, else the bytes go to trafilatura, which reads the page's own
declaration), trafilatura extracts with tidings' options, langdetect names the language
(seeded, first 3,000 characters), and one INSERT per article goes into SQLite (WAL,
synchronous=NORMAL, as tidings' store; each insert its own transaction). No feeds,
robots.txt, politeness, deduplication, stories or retries: the reference that shows what
tidings' own machinery costs on top of real fetching and storing.

With `--shard I/N` it takes every Nth URL from the Ith; N processes may share one DB
(busy timeout 60 s). OUT.json gets the texts (for accuracy) and counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

TRAFILATURA_OPTIONS = {"with_metadata": True, "include_comments": False,
                       "include_tables": True, "include_images": False, "include_links": False,
                       "deduplicate": False, "favor_precision": True}  # as pipeline/extract.py


def decode(body: bytes, content_type: str) -> str | bytes:
    charset = ""
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset":
            charset = value.strip("\"' ")
    if charset:
        try:
            return body.decode(charset, "replace")
        except LookupError:
            pass
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body  # trafilatura reads the page's <meta charset>


async def pipeline(urls: list[str], db_path: Path, concurrency: int) -> dict[str, Any]:
    import httpx
    import trafilatura
    from langdetect import DetectorFactory, detect_langs
    from langdetect.detector_factory import init_factory

    DetectorFactory.seed = 0
    init_factory()
    db = sqlite3.connect(db_path, timeout=60, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS articles (url TEXT PRIMARY KEY, title TEXT, "
               "text TEXT, lang TEXT, published TEXT, fetched_at REAL)")
    hosts = len({urlsplit(u).netloc for u in urls})
    limits = httpx.Limits(max_connections=max(hosts, concurrency),
                          max_keepalive_connections=max(hosts, concurrency))
    texts: dict[str, str | None] = {}
    errors: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, url: str) -> None:
        async with gate:
            try:
                response = await client.get(url)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                texts[url] = None
                return
        html = decode(response.content, response.headers.get("content-type", ""))
        doc = trafilatura.bare_extraction(html, url=url, **TRAFILATURA_OPTIONS)
        text = (doc.text or "") if doc is not None else ""
        texts[url] = text or None
        if not text:
            return
        try:
            lang = str(detect_langs(text[:3000])[0].lang)
        except Exception:  # noqa: BLE001 - langdetect raises on text without features
            lang = "und"
        db.execute("INSERT OR REPLACE INTO articles VALUES (?, ?, ?, ?, ?, ?)",
                   [url, doc.title, text, lang, doc.date, time.time()])

    async with httpx.AsyncClient(limits=limits, timeout=20, trust_env=False) as client:
        await asyncio.gather(*(one(client, url) for url in urls))
    db.close()
    return {"pages": len(urls), "texts": texts, "errors": errors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("urls", type=Path)
    parser.add_argument("db", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--shard", default="0/1")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    index, count = (int(x) for x in args.shard.split("/"))
    urls = json.loads(args.urls.read_text("utf-8"))[index::count]
    result = asyncio.run(pipeline(urls, args.db, args.concurrency))
    args.out.write_text(json.dumps(result, ensure_ascii=False), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
